"""Session-wide fixtures shared by every test folder."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    """A PostgreSQL server for the session (`TEST_DATABASE_URL`, else a throwaway cluster),
    started only when a test asks for it."""
    from tests.support.postgres import pg_server

    with pg_server() as url:
        yield url


@pytest.fixture(scope="session")
def pg_contract_url(pg_admin_url: str) -> str:
    """One database for the store contract suites, emptied before each test that uses it."""
    from tests.support.postgres import fresh_database

    return fresh_database(pg_admin_url, "regflow_contract")
