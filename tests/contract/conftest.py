"""Runs the contract suite against every store adapter.

Each adapter's factory lives in tests/support (one module per adapter)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from regflow.ports import RegistrationStore


@pytest.fixture(params=["memory", "sqlite", "dynamodb", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RegistrationStore]:
    if request.param == "memory":
        from regflow.adapters.memory import MemoryStore

        yield MemoryStore()
    elif request.param == "sqlite":
        from tests.support.sqlite import sqlite_store

        with sqlite_store(tmp_path) as s:
            yield s
    elif request.param == "postgres":
        from regflow.adapters.postgres import PostgresStore
        from tests.support.postgres import truncate

        url: str = request.getfixturevalue("pg_contract_url")
        truncate(url)
        pg = PostgresStore(url)
        try:
            yield pg
        finally:
            pg.close()
    else:
        from tests.support.aws import dynamodb_store

        with dynamodb_store() as s:
            yield s
