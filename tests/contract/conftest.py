"""Runs the contract suite against every store adapter.

Each adapter's factory lives in tests/support (one module per adapter)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from regflow.ports import RegistrationStore


@pytest.fixture
def event_targets() -> tuple[str, ...]:
    """What each confirmation and erasure owes events to, given to the store's constructor
    (a module overrides it)."""
    return ()


@pytest.fixture(params=["memory", "sqlite", "dynamodb", "postgres"])
def store(
    request: pytest.FixtureRequest, tmp_path: Path, event_targets: tuple[str, ...]
) -> Iterator[RegistrationStore]:
    if request.param == "memory":
        from regflow.adapters.memory import MemoryStore

        yield MemoryStore(event_targets=event_targets)
    elif request.param == "sqlite":
        from tests.support.sqlite import sqlite_store

        with sqlite_store(tmp_path, event_targets=event_targets) as s:
            yield s
    elif request.param == "postgres":
        from regflow.adapters.postgres import PostgresStore
        from tests.support.postgres import truncate

        url: str = request.getfixturevalue("pg_contract_url")
        truncate(url)
        pg = PostgresStore(url, event_targets=event_targets)
        try:
            yield pg
        finally:
            pg.close()
    else:
        from tests.support.aws import dynamodb_store

        with dynamodb_store() as s:
            yield s
