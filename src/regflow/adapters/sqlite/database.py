"""Connections to the one database file, its write transactions, and SQLite errors as the
domain sees them.

Every connection is per thread (SQLite connections are not to be shared between threads
mid-transaction); writes take `BEGIN IMMEDIATE` so two writers queue on the database lock
(`busy_timeout`) instead of failing at commit. A database that stays locked past the timeout,
or a disk error, becomes `StoreUnavailable`.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from regflow.adapters.sqlite.schema import ensure_schema
from regflow.domain import StoreUnavailable

BUSY_TIMEOUT_MS = 5000

# SQLite primary result codes that mean "the store is busy or broken right now".
_UNAVAILABLE_CODES = frozenset(
    {
        sqlite3.SQLITE_BUSY,
        sqlite3.SQLITE_LOCKED,
        sqlite3.SQLITE_IOERR,
        sqlite3.SQLITE_FULL,
        sqlite3.SQLITE_CANTOPEN,
        sqlite3.SQLITE_READONLY,
        sqlite3.SQLITE_PROTOCOL,
        sqlite3.SQLITE_NOMEM,
    }
)


class Database:
    """One SQLite file: per-thread connections (WAL, synchronous NORMAL), one write at a
    time, the schema created or migrated on open (and a bad path failing right there)."""

    def __init__(self, path: str | Path, *, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> None:
        self.path = Path(path)
        self._busy_timeout_ms = busy_timeout_ms
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._closed = False
        with self._write() as db:
            ensure_schema(db, time.time())

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        if self._closed:
            raise StoreUnavailable()
        try:
            conn = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=0
            )
            conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_ms)}")
            conn.execute("PRAGMA journal_mode = WAL")
            # WAL + NORMAL: a commit survives a process crash (SIGKILL); only a power loss can
            # lose the last transactions. FULL would fsync every commit.
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.Error as exc:
            raise _translate(exc) from exc
        self._local.conn = conn
        with self._all_lock:
            self._all.append(conn)
        return conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One `BEGIN IMMEDIATE` transaction: committed on success, rolled back on any error
        (a SQLite error raised inside is translated, see `_translate`).

        Writers of this process queue on a lock first: SQLite's own busy handler waits for the
        write lock by sleeping and polling (up to 100 ms a nap), which makes a tail of slow
        requests under concurrency. `BEGIN IMMEDIATE` still guards against other processes
        (the CLI)."""
        with self._write_lock:
            db = self._conn()
            try:
                db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise _translate(exc) from exc
            try:
                yield db
            except sqlite3.Error as exc:
                if db.in_transaction:
                    db.rollback()
                translated = _translate(exc)
                if translated is exc:
                    raise
                raise translated from exc
            except BaseException:
                if db.in_transaction:
                    db.rollback()
                raise
            try:
                db.commit()
            except sqlite3.Error as exc:
                if db.in_transaction:
                    db.rollback()
                raise _translate(exc) from exc

    def _read(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        try:
            cur = self._conn().execute(sql, params)
            cur.row_factory = sqlite3.Row
            return cur.fetchall()
        except sqlite3.Error as exc:
            raise _translate(exc) from exc

    def close(self) -> None:
        """Close every connection (call once no other thread uses the store)."""
        self._closed = True
        with self._all_lock:
            conns, self._all = self._all, []
        for conn in conns:
            conn.close()
        self._local = threading.local()


def _translate(exc: sqlite3.Error) -> Exception:
    """Busy, locked, full, read-only or I/O errors -> `StoreUnavailable`; anything else is a
    bug and stays what it is."""
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int) and (code & 0xFF) in _UNAVAILABLE_CODES:
        return StoreUnavailable(retry_after=1)
    if isinstance(exc, sqlite3.OperationalError) and code is None:
        return StoreUnavailable(retry_after=1)
    return exc
