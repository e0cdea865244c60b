"""Connections to the one database file, its write transactions (group commit), and SQLite
errors as the domain sees them.

Durability. Every connection runs WAL with `synchronous = FULL`: a commit returns only once
the WAL is fsynced, so a state change the caller was told about (an HTTP 2xx) survives a
power loss or a kernel crash, not only a process crash.

Group commit. An fsync per request would cap writes at the disk's flush rate, so the writes
of this process share commits. The design is leader-follower in the callers' own threads
(no writer thread; `_write()` stays a context manager whose body runs in its caller's
thread, so `store`, `outbox` and `queries` did not change):

- One writer connection (`_writer`) is used by one thread at a time: whoever holds the
  *turn*. A caller that finds the turn free takes it; otherwise it queues a ticket and sleeps
  until the holder hands the turn to it.
- The holder opens the batch's transaction if none is open (`BEGIN IMMEDIATE`: other
  processes, the CLI, still queue on the database lock), then `SAVEPOINT request`, runs its
  body (the `with` block), and `RELEASE`s the savepoint, or, when the body raised (a domain
  refusal, a constraint, anything), `ROLLBACK TO` it: that request is all or nothing, the
  batch carries on, and the request's own error goes back to its caller. A body that returns
  early keeps what it wrote (a limited post keeps its client count).
- Then it hands the turn to the next queued caller, which joins the same transaction; the
  last one (the queue is empty, or the batch holds `MAX_BATCH` requests) `COMMIT`s: one
  transaction, one fsync for the whole batch. Callers that arrive while the commit is on
  disk queue up and form the next batch.
- Nobody gets an answer before the commit that holds its request returned: every member
  waits for its batch's `done`, a request that raised too (its answer may rest on what the
  batch's earlier requests wrote). A failing `COMMIT`, or an error after which SQLite rolled
  the whole transaction back (disk full, I/O), fails every request of the batch with
  `StoreUnavailable`, and nothing of it is on disk.

`durability="normal"` keeps the old setting (`synchronous = NORMAL`, no group commit, one
transaction per request under an in-process lock): a commit survives a process crash
(SIGKILL) but a power loss can lose the last ones. It exists for the benchmark's side by
side and as an escape hatch (`SQLITE_DURABILITY=normal`).

A database that stays locked past the busy timeout, or a disk error, becomes
`StoreUnavailable`. Reads use per-thread connections and see committed data only.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal, TypeVar

from regflow.adapters.sql.dialect import SQLITE, Dialect, Tx
from regflow.adapters.sqlite.schema import ensure_schema
from regflow.domain import StoreUnavailable

T = TypeVar("T")

BUSY_TIMEOUT_MS = 5000

Durability = Literal["full", "normal"]
DURABILITIES: tuple[Durability, ...] = ("full", "normal")

# The most requests one commit carries (bounds the latency of the batch's first request).
MAX_BATCH = 64

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


class _Batch:
    """The requests of one write transaction."""

    __slots__ = ("broken", "done", "failed", "size")

    def __init__(self) -> None:
        self.size = 0
        self.broken = False  # SQLite rolled the transaction back: the batch cannot commit
        self.failed = False  # not committed: every member gets StoreUnavailable
        self.done = threading.Event()  # set once the batch is committed or given up


class _Tx:
    """The shared store's statements on the writer connection, rows read by name."""

    __slots__ = ("_db",)

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> sqlite3.Cursor:
        cur = self._db.cursor()
        cur.row_factory = sqlite3.Row
        return cur.execute(sql, params)


class Database:
    """One SQLite file: per-thread read connections, one writer connection whose
    transactions group the concurrent requests (WAL, synchronous FULL), the schema created or
    migrated on open (and a bad path failing right there)."""

    dialect: Dialect = SQLITE

    def __init__(
        self,
        path: str | Path,
        *,
        busy_timeout_ms: int = BUSY_TIMEOUT_MS,
        durability: Durability = "full",
    ) -> None:
        if durability not in DURABILITIES:
            raise ValueError(f"durability must be one of {DURABILITIES}, got {durability!r}")
        self.path = Path(path)
        self.durability: Durability = durability
        self._busy_timeout_ms = busy_timeout_ms
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        self._write_lock = threading.Lock()  # durability "normal": one write at a time
        # group commit: the turn on the writer connection, and the open batch
        self._writer: sqlite3.Connection | None = None
        self._turn_lock = threading.Lock()
        self._turn_busy = False
        self._waiting: deque[threading.Event] = deque()
        self._batch: _Batch | None = None
        self.on_commit: Callable[[int], None] | None = None
        """Called with the number of requests after every successful group commit (tests)."""
        self._closed = False
        with self._write() as db:
            ensure_schema(db, time.time())

    # --- connections -----------------------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        if self._closed:
            raise StoreUnavailable()
        try:
            conn = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=0
            )
            conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_ms)}")
            conn.execute("PRAGMA journal_mode = WAL")
            # FULL: a WAL commit is fsynced before it returns (power-loss safe). NORMAL: it
            # survives a process crash only.
            conn.execute(f"PRAGMA synchronous = {self.durability.upper()}")
            conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.Error as exc:
            raise _translate(exc) from exc
        with self._all_lock:
            self._all.append(conn)
        return conn

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._open()
            self._local.conn = conn
        return conn

    # --- writes ----------------------------------------------------------------------

    def _transact(self, fn: Callable[[Tx], T]) -> T:
        """`fn` as one request's writes (`_write`)."""
        with self._write() as db:
            return fn(_Tx(db))

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One request's writes, all or nothing: yields the connection its statements run
        on. With durability "full" the request shares a transaction (and its fsync) with the
        requests around it, in a savepoint of its own (see the module docstring); the `with`
        block ends only once that transaction is committed. A SQLite error raised inside is
        translated (see `_translate`)."""
        if self.durability == "normal":
            with self._write_alone() as db:
                yield db
            return
        self._take_turn()
        batch = self._batch
        try:
            db = self._writer if self._writer is not None else self._open()
            self._writer = db
            if batch is None:
                db.execute("BEGIN IMMEDIATE")
                batch = self._batch = _Batch()
            db.execute("SAVEPOINT request")
        except sqlite3.Error as exc:
            if batch is not None:
                batch.broken = True
                self._settle(batch)
            else:
                self._pass_turn()
            raise _translate(exc) from exc
        except BaseException:
            if batch is not None:  # give the open batch up: its members must not wait forever
                batch.broken = True
                self._end_batch(batch)
            else:
                self._pass_turn()
            raise
        batch.size += 1
        try:
            yield db
        except BaseException as exc:
            self._undo(db, batch)
            if self._settle(batch):
                raise StoreUnavailable(retry_after=1) from exc
            if isinstance(exc, sqlite3.Error):
                translated = _translate(exc)
                if translated is not exc:
                    raise translated from exc
            raise
        try:
            db.execute("RELEASE request")
        except sqlite3.Error as exc:
            self._undo(db, batch)
            self._settle(batch)
            raise _translate(exc) from exc
        if self._settle(batch):
            raise StoreUnavailable(retry_after=1)

    def _take_turn(self) -> None:
        ticket: threading.Event | None = None
        with self._turn_lock:
            if self._closed:
                raise StoreUnavailable()
            if self._turn_busy:
                ticket = threading.Event()
                self._waiting.append(ticket)
            else:
                self._turn_busy = True
        if ticket is not None:
            ticket.wait()

    def _pass_turn(self) -> None:
        with self._turn_lock:
            if not self._waiting:
                self._turn_busy = False
                return
            ticket = self._waiting.popleft()
        ticket.set()

    def _undo(self, db: sqlite3.Connection, batch: _Batch) -> None:
        """Roll the current request back to its savepoint; when SQLite already rolled the
        whole transaction back (or cannot roll back to the savepoint), the batch is broken."""
        if not db.in_transaction:
            batch.broken = True
            return
        try:
            db.execute("ROLLBACK TO request")
            db.execute("RELEASE request")
        except sqlite3.Error:
            batch.broken = True

    def _settle(self, batch: _Batch) -> bool:
        """Done with this request's statements: hand the turn to the next queued request of
        the batch, or commit the batch; then wait for the batch's end. True when the batch
        failed (nothing of it is on disk)."""
        ticket: threading.Event | None = None
        with self._turn_lock:
            if self._waiting and batch.size < MAX_BATCH and not batch.broken:
                ticket = self._waiting.popleft()
        if ticket is not None:
            ticket.set()  # joins this batch
        else:
            self._end_batch(batch)
        batch.done.wait()
        return batch.failed

    def _end_batch(self, batch: _Batch) -> None:
        db = self._writer
        self._batch = None
        if batch.broken or db is None:
            batch.failed = True
        else:
            try:
                db.execute("COMMIT")
            except sqlite3.Error:
                batch.failed = True
        if batch.failed and db is not None and db.in_transaction:
            try:
                db.rollback()
            except sqlite3.Error:
                # a connection that cannot roll back is not used again
                self._writer = None
                db.close()
        self._pass_turn()  # the requests queued meanwhile form the next batch
        batch.done.set()
        hook = self.on_commit
        if hook is not None and not batch.failed:
            hook(batch.size)

    @contextmanager
    def _write_alone(self) -> Iterator[sqlite3.Connection]:
        """durability "normal": one `BEGIN IMMEDIATE` transaction per request, committed on
        success, rolled back on any error. Writers of this process queue on a lock first
        (SQLite's own busy handler sleeps and polls, up to 100 ms a nap)."""
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

    # --- reads -----------------------------------------------------------------------

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
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
        self._writer = None
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
