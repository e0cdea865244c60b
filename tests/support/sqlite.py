"""The SQLite store for tests: a real database file under the test's tmp_path."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from regflow.adapters.sqlite import SQLiteStore


@contextmanager
def sqlite_store(tmp_path: Path) -> Iterator[SQLiteStore]:
    store = SQLiteStore(tmp_path / "regflow.db")
    try:
        yield store
    finally:
        store.close()
