"""The connection pool, transactions with a bounded retry, and PostgreSQL errors as the domain
sees them.

Every write is one transaction (`_write(fn)`): `fn` runs on a pooled connection inside
`BEGIN ... COMMIT` and is run again, up to `RETRIES` times, when PostgreSQL aborts it with a
serialization failure or a deadlock (nothing was written then). Connection loss, a server
shutting down, a pool with no free connection within its timeout and other operator-side
failures are `StoreUnavailable` (503 + Retry-After); any other SQL error is a bug and stays
what it is (500).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import psycopg
from psycopg import errors
from psycopg.rows import DictRow, dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from regflow.adapters.postgres.schema import check_current, migrate
from regflow.adapters.sql.dialect import POSTGRES, Dialect, Tx
from regflow.domain import StoreUnavailable

log = logging.getLogger("regflow.postgres")

T = TypeVar("T")

RETRIES = 5
POOL_TIMEOUT_SECONDS = 5.0
POOL_MAX_SIZE = 10

# Cursor = a dict-row cursor on the transaction's connection
Cursor = psycopg.Cursor[DictRow]


def redact(url: str) -> str:
    """`url` without its password (for messages and logs)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = (parts.username or "") + ":***"
    return urlunsplit(parts._replace(netloc=f"{user}@{netloc[-1]}"))


class _Tx:
    """The shared store's statements (`?` placeholders) on the transaction's cursor."""

    __slots__ = ("_cur",)

    def __init__(self, cur: Cursor) -> None:
        self._cur = cur

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> Cursor:
        return self._cur.execute(sql.replace("?", "%s").encode(), params)


class Database:
    """One PostgreSQL database: a psycopg pool (autocommit connections; writes open their own
    transaction), the schema migrated on open unless `migrate=False` (then it must be current).
    """

    dialect: Dialect = POSTGRES

    def __init__(
        self,
        url: str,
        *,
        migrate_schema: bool = True,
        min_size: int = 1,
        max_size: int = POOL_MAX_SIZE,
        timeout: float = POOL_TIMEOUT_SECONDS,
    ) -> None:
        self.url = url
        self._pool: ConnectionPool[psycopg.Connection[DictRow]] = ConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            timeout=timeout,
            kwargs={"autocommit": True, "row_factory": dict_row},
            open=False,
            name="regflow",
        )
        try:
            self._pool.open(wait=True, timeout=timeout)
        except PoolTimeout as exc:
            self._pool.close()
            raise StoreUnavailable(retry_after=1) from exc
        try:
            with self._pool.connection() as conn:
                if migrate_schema:
                    migrate(conn)
                else:
                    check_current(conn)  # a newer one is refused as such
        except psycopg.OperationalError as exc:
            self._pool.close()
            raise StoreUnavailable(retry_after=1) from exc
        except BaseException:
            self._pool.close()
            raise
        # liveness of this process's outbox claims (see `outbox`)
        self._owner = random.randint(1, 2**31 - 1)
        self._owner_conn: psycopg.Connection[tuple[Any, ...]] | None = None
        self._owner_lock = threading.Lock()

    def _transact(self, fn: Callable[[Tx], T]) -> T:
        """`fn` in one transaction, retried on a serialization failure or deadlock."""
        for attempt in range(RETRIES):
            try:
                with self._pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
                    return fn(_Tx(cur))
            except (errors.SerializationFailure, errors.DeadlockDetected) as exc:  # nothing written
                if attempt == RETRIES - 1:
                    raise StoreUnavailable(retry_after=1) from exc
                time.sleep(random.uniform(0.001, 0.01) * (attempt + 1))
            except (psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout) as exc:
                raise StoreUnavailable(retry_after=1) from exc
        raise AssertionError("unreachable")

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        try:
            with self._pool.connection() as conn:
                return conn.execute(sql.replace("?", "%s").encode(), params).fetchall()
        except (psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout) as exc:
            raise StoreUnavailable(retry_after=1) from exc

    def close(self) -> None:
        with self._owner_lock:
            if self._owner_conn is not None:
                self._owner_conn.close()
                self._owner_conn = None
        self._pool.close()
