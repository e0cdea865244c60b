"""The SQLite store of the embedded mode: one database file, WAL, one write transaction per
state change, and the outbox in the same transaction as the change that owes the mail.

Semantics are `ports.RegistrationStore` (reference: `adapters.memory`); it passes the same
contract suite as the DynamoDB adapter. Every connection is per thread (SQLite connections are
not to be shared between threads mid-transaction); writes take `BEGIN IMMEDIATE` so two writers
queue on the database lock (`busy_timeout`) instead of failing at commit. A database that stays
locked past the timeout, or a disk error, becomes `StoreUnavailable`.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from regflow.domain import (
    ClientRateLimited,
    CreateResult,
    Limit,
    LimitState,
    MailKind,
    OutboxEntry,
    Outcome,
    Registration,
    SendLog,
    Status,
    StoreUnavailable,
)

# 1: first release. 2: the per-address limit became a sliding log (`send_logs`); version 1's
# fixed-window `address:` counters are converted when the database is opened.
SCHEMA_VERSION = 2
BUSY_TIMEOUT_MS = 5000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS registrations (
    id           TEXT PRIMARY KEY,
    addr_key     TEXT NOT NULL,
    name         TEXT NOT NULL,
    email        TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('PENDING', 'CONFIRMED')),
    timestamp    TEXT NOT NULL,            -- ISO-8601 UTC, microseconds
    ttl          INTEGER,                  -- epoch seconds; NULL once confirmed
    confirmed_at TEXT                      -- ISO-8601 UTC, microseconds
);
CREATE INDEX IF NOT EXISTS registrations_addr ON registrations (addr_key);
CREATE INDEX IF NOT EXISTS registrations_ttl ON registrations (ttl) WHERE status = 'PENDING';
CREATE TABLE IF NOT EXISTS confirmed_addresses (
    addr_key        TEXT PRIMARY KEY,
    registration_id TEXT NOT NULL UNIQUE REFERENCES registrations (id)
);
CREATE TABLE IF NOT EXISTS limit_counters (  -- the per-client limit (fixed window)
    key          TEXT PRIMARY KEY,
    window_start INTEGER NOT NULL,
    count        INTEGER NOT NULL,
    last_at      INTEGER NOT NULL,
    expires      INTEGER NOT NULL          -- epoch seconds after which the counter is moot
);
CREATE TABLE IF NOT EXISTS send_logs (       -- the per-address limit (sliding log)
    key          TEXT PRIMARY KEY,         -- "address:<addr_key>"
    times        TEXT NOT NULL,            -- JSON array of epoch seconds, oldest first
    expires      INTEGER NOT NULL          -- epoch seconds after which the log is moot
);
CREATE TABLE IF NOT EXISTS outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    kind            TEXT NOT NULL,
    registration_id TEXT NOT NULL,
    created         TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,         -- epoch seconds
    claimed_at      REAL,                  -- set while a sender is delivering it
    last_error      TEXT,                  -- an error class, never message text
    dead            INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (dead, next_attempt_at);
"""

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


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _from_iso(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text).astimezone(UTC)


def _limit_expires(state: LimitState, limit: Limit) -> int:
    return max(
        state.window_start + limit.window_seconds, state.last_at + limit.min_interval_seconds
    )


# A claim older than this is released (a delivery never takes that long: SMTP and SES time out).
CLAIM_LEASE_SECONDS = 600.0


@dataclasses.dataclass(frozen=True, slots=True)
class OutboxRow:
    """One claimed outbox row: what it owes, and the bookkeeping to retry it."""

    row_id: int
    entry: OutboxEntry
    attempts: int


@dataclasses.dataclass(frozen=True, slots=True)
class DeadLetter:
    row_id: int
    kind: MailKind
    registration_id: str
    attempts: int
    last_error: str | None


class SQLiteStore:
    """`RegistrationStore` over one SQLite file, plus the outbox API the mail worker uses."""

    def __init__(self, path: str | Path, *, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> None:
        self.path = Path(path)
        self._busy_timeout_ms = busy_timeout_ms
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._closed = False
        with self._write() as db:  # create the schema (and fail fast on a bad path)
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreUnavailable()
            if version < SCHEMA_VERSION:
                # statement by statement, so the schema, the migration and the version bump
                # are one transaction (executescript would commit first)
                for statement in _statements(_SCHEMA):
                    db.execute(statement)
                if version == 1:
                    _migrate_address_counters(db)
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    # --- connections ------------------------------------------------------------------

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
        """One `BEGIN IMMEDIATE` transaction: committed on success, rolled back on any error.

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

    # --- RegistrationStore ------------------------------------------------------------

    def create_pending(
        self,
        registration: Registration,
        *,
        address_limit: Limit,
        client_key: str | None,
        client_limit: Limit,
    ) -> CreateResult:
        now = int(registration.timestamp.timestamp())
        try:
            with self._write() as db:
                client: tuple[str, LimitState] | None = None
                if client_key is not None and client_limit.enabled:
                    key = f"client:{client_key}"
                    state = _counter(db, key)
                    if state is not None and not state.allows(client_limit, now):
                        raise ClientRateLimited(state.retry_after(client_limit, now))
                    new = (
                        LimitState.first(now)
                        if state is None
                        else state.after_event(client_limit, now)
                    )
                    client = (key, new)
                address: tuple[str, SendLog] | None = None
                limited = False
                if address_limit.enabled:
                    key = f"address:{registration.limit_key}"
                    log = _send_log(db, key)
                    limited = not log.allows(address_limit, now)
                    address = None if limited else (key, log.after_event(address_limit, now))
                if client is not None:
                    # counted for a limited post too, in the same transaction: a limited post
                    # spends the quota any other post spends (no enumeration by counting)
                    key, new = client
                    db.execute(
                        "INSERT INTO limit_counters (key, window_start, count, last_at, expires)"
                        " VALUES (?, ?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET"
                        " window_start = excluded.window_start, count = excluded.count,"
                        " last_at = excluded.last_at, expires = excluded.expires",
                        (
                            key,
                            new.window_start,
                            new.count,
                            new.last_at,
                            _limit_expires(new, client_limit),
                        ),
                    )
                if limited:
                    return CreateResult.ADDRESS_LIMITED
                if address is not None:
                    key, log = address
                    _put_send_log(db, key, log, log.expires(address_limit) or now)
                r = registration
                db.execute(
                    "INSERT INTO registrations"
                    " (id, addr_key, name, email, status, timestamp, ttl, confirmed_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        r.id,
                        r.addr_key,
                        r.name,
                        r.email,
                        r.status.value,
                        _iso(r.timestamp),
                        r.ttl,
                        None if r.confirmed_at is None else _iso(r.confirmed_at),
                    ),
                )
                _owe(db, MailKind.VERIFICATION, r.id, r.timestamp)
                return CreateResult.CREATED
        except sqlite3.Error as exc:
            raise _translate(exc) from exc

    def confirm(self, registration_id: str, addr_key: str, now: datetime) -> Outcome:
        try:
            with self._write() as db:
                row = db.execute(
                    "SELECT addr_key, status, ttl FROM registrations WHERE id = ?",
                    (registration_id,),
                ).fetchone()
                if row is None or row[0] != addr_key:
                    return Outcome.INVALID
                status, ttl = Status(row[1]), row[2]
                if status is Status.CONFIRMED:
                    return Outcome.ALREADY_CONFIRMED
                if ttl is not None and ttl <= int(now.timestamp()):
                    return Outcome.EXPIRED
                taken = db.execute(
                    "SELECT 1 FROM confirmed_addresses WHERE addr_key = ?", (addr_key,)
                ).fetchone()
                if taken is not None:
                    return Outcome.ALREADY_CONFIRMED
                db.execute(
                    "UPDATE registrations SET status = 'CONFIRMED', ttl = NULL, confirmed_at = ?"
                    " WHERE id = ? AND status = 'PENDING'",
                    (_iso(now), registration_id),
                )
                db.execute(
                    "INSERT INTO confirmed_addresses (addr_key, registration_id) VALUES (?, ?)",
                    (addr_key, registration_id),
                )
                _owe(db, MailKind.OWNER_NOTIFICATION, registration_id, now)
                return Outcome.CONFIRMED
        except sqlite3.Error as exc:
            raise _translate(exc) from exc

    def get(self, registration_id: str) -> Registration | None:
        rows = self._read("SELECT * FROM registrations WHERE id = ?", (registration_id,))
        return _registration(rows[0]) if rows else None

    def confirmed_registration_id(self, addr_key: str) -> str | None:
        rows = self._read(
            "SELECT registration_id FROM confirmed_addresses WHERE addr_key = ?", (addr_key,)
        )
        return str(rows[0][0]) if rows else None

    # --- the outbox (used by the mail worker) -----------------------------------------

    def recover_claims(self, now: float) -> int:
        """Start-up (before any worker runs): release rows a sender had claimed when the
        process died, and make every live row due at `now` (the restart may have fixed what
        failed). A released row's mail may or may not have gone out before the crash: it is
        sent again (at-least-once; only the one message in flight can repeat). Returns how
        many claimed rows were released."""
        try:
            with self._write() as db:
                released = db.execute(
                    "UPDATE outbox SET claimed_at = NULL WHERE claimed_at IS NOT NULL"
                ).rowcount
                db.execute(
                    "UPDATE outbox SET next_attempt_at = ? WHERE dead = 0 AND next_attempt_at > ?",
                    (now, now),
                )
                return released
        except sqlite3.Error as exc:
            raise _translate(exc) from exc

    def claim_due(
        self, now: float, limit: int = 10, *, lease_seconds: float = CLAIM_LEASE_SECONDS
    ) -> list[OutboxRow]:
        """Claim up to `limit` due rows (oldest first) for delivery. A claimed row is not
        handed out again until `delivered`, `retry_later` or `recover_claims` releases it, or
        its claim is older than `lease_seconds` (its sender could not record the outcome, say
        the disk was full then): then it is due again, so no mail stays stuck."""
        try:
            with self._write() as db:
                rows = db.execute(
                    "UPDATE outbox SET claimed_at = ?, attempts = attempts + 1"
                    " WHERE id IN (SELECT id FROM outbox WHERE dead = 0"
                    " AND (claimed_at IS NULL OR claimed_at <= ?)"
                    " AND next_attempt_at <= ? ORDER BY id LIMIT ?)"
                    " RETURNING id, kind, registration_id, attempts",
                    (now, now - lease_seconds, now, limit),
                ).fetchall()
                claimed: list[OutboxRow] = []
                gone: list[int] = []
                for row_id, kind, registration_id, attempts in sorted(rows):
                    reg = db.execute(
                        "SELECT * FROM registrations WHERE id = ?", (registration_id,)
                    ).fetchone()
                    if reg is None:  # purged or erased since: nothing is owed any more
                        gone.append(row_id)
                        continue
                    entry = OutboxEntry(MailKind(kind), _registration(_as_row(db, reg)))
                    claimed.append(OutboxRow(row_id, entry, attempts))
                for row_id in gone:
                    db.execute("DELETE FROM outbox WHERE id = ?", (row_id,))
                return claimed
        except sqlite3.Error as exc:
            raise _translate(exc) from exc

    def delivered(self, row_id: int) -> None:
        try:
            with self._write() as db:
                db.execute("DELETE FROM outbox WHERE id = ?", (row_id,))
        except sqlite3.Error as exc:
            raise _translate(exc) from exc

    def retry_later(self, row_id: int, *, at: float, error: str, give_up: bool = False) -> None:
        """Release a claimed row to be tried again at `at` (epoch seconds), or park it as
        dead when `give_up`. `error` is an error class name, never message text."""
        try:
            with self._write() as db:
                db.execute(
                    "UPDATE outbox SET claimed_at = NULL, next_attempt_at = ?, last_error = ?,"
                    " dead = ? WHERE id = ?",
                    (at, error[:200], 1 if give_up else 0, row_id),
                )
        except sqlite3.Error as exc:
            raise _translate(exc) from exc

    def next_due_at(self) -> float | None:
        rows = self._read(
            "SELECT MIN(next_attempt_at) FROM outbox WHERE dead = 0 AND claimed_at IS NULL"
        )
        value = rows[0][0] if rows else None
        return None if value is None else float(value)

    def outbox_counts(self) -> dict[str, int]:
        rows = self._read(
            "SELECT SUM(dead = 0), SUM(dead = 1), SUM(claimed_at IS NOT NULL) FROM outbox"
        )
        pending, dead, claimed = rows[0] if rows else (0, 0, 0)
        return {"pending": pending or 0, "dead": dead or 0, "claimed": claimed or 0}

    def dead_letters(self) -> list[DeadLetter]:
        return [
            DeadLetter(
                r["id"], MailKind(r["kind"]), r["registration_id"], r["attempts"], r["last_error"]
            )
            for r in self._read("SELECT * FROM outbox WHERE dead = 1 ORDER BY id")
        ]

    def requeue_dead(self, now: float) -> int:
        """Make every dead letter due again at `now` (after the cause was fixed, e.g. a
        mistyped OWNER_EMAIL). Returns how many rows were requeued."""
        try:
            with self._write() as db:
                cursor = db.execute(
                    "UPDATE outbox SET dead = 0, attempts = 0, next_attempt_at = ?,"
                    " claimed_at = NULL WHERE dead = 1",
                    (now,),
                )
                return cursor.rowcount
        except sqlite3.Error as exc:
            raise _translate(exc) from exc

    # --- housekeeping and the CLI -------------------------------------------------------

    def purge_expired(self, now: datetime, *, grace_seconds: int = 0) -> int:
        """Delete PENDING registrations whose ttl passed more than `grace_seconds` ago (and
        the outbox rows they owe), and limit counters that no longer limit anything. Returns
        registrations deleted. (Until a registration is purged, its link answers `expired`
        rather than `invalid`.)"""
        epoch = int(now.timestamp())
        cutoff = epoch - grace_seconds
        try:
            with self._write() as db:
                db.execute(
                    "DELETE FROM outbox WHERE registration_id IN (SELECT id FROM registrations"
                    " WHERE status = 'PENDING' AND ttl IS NOT NULL AND ttl <= ?)",
                    (cutoff,),
                )
                deleted = db.execute(
                    "DELETE FROM registrations WHERE status = 'PENDING' AND ttl IS NOT NULL"
                    " AND ttl <= ?",
                    (cutoff,),
                ).rowcount
                db.execute("DELETE FROM limit_counters WHERE expires <= ?", (epoch,))
                db.execute("DELETE FROM send_logs WHERE expires <= ?", (epoch,))
                return deleted
        except sqlite3.Error as exc:
            raise _translate(exc) from exc

    def registrations(self, *, status: Status | None = None) -> list[Registration]:
        """All registrations, oldest first (optionally of one status)."""
        if status is None:
            rows = self._read("SELECT * FROM registrations ORDER BY timestamp, id")
        else:
            rows = self._read(
                "SELECT * FROM registrations WHERE status = ? ORDER BY timestamp, id",
                (status.value,),
            )
        return [_registration(r) for r in rows]

    def stats(self) -> dict[str, int]:
        rows = self._read(
            "SELECT SUM(status = 'PENDING'), SUM(status = 'CONFIRMED') FROM registrations"
        )
        pending, confirmed = rows[0]
        counts = self.outbox_counts()
        return {
            "pending": pending or 0,
            "confirmed": confirmed or 0,
            "outbox_pending": counts["pending"],
            "outbox_dead": counts["dead"],
        }

    def delete_address(self, addr_key: str, limit_key: str | None = None) -> int:
        """Erase every registration of an address (GDPR), its confirmed lock, the mail it is
        still owed and (given its `mailbox_key`) its send log. Returns registrations deleted."""
        try:
            with self._write() as db:
                db.execute(
                    "DELETE FROM outbox WHERE registration_id IN"
                    " (SELECT id FROM registrations WHERE addr_key = ?)",
                    (addr_key,),
                )
                db.execute("DELETE FROM confirmed_addresses WHERE addr_key = ?", (addr_key,))
                if limit_key is not None:
                    db.execute("DELETE FROM send_logs WHERE key = ?", (f"address:{limit_key}",))
                return db.execute(
                    "DELETE FROM registrations WHERE addr_key = ?", (addr_key,)
                ).rowcount
        except sqlite3.Error as exc:
            raise _translate(exc) from exc


def _owe(db: sqlite3.Connection, kind: MailKind, registration_id: str, at: datetime) -> None:
    db.execute(
        "INSERT INTO outbox (kind, registration_id, created, next_attempt_at) VALUES (?, ?, ?, 0)",
        (kind.value, registration_id, _iso(at)),
    )


def _counter(db: sqlite3.Connection, key: str) -> LimitState | None:
    row = db.execute(
        "SELECT window_start, count, last_at FROM limit_counters WHERE key = ?", (key,)
    ).fetchone()
    return None if row is None else LimitState(window_start=row[0], count=row[1], last_at=row[2])


def _send_log(db: sqlite3.Connection, key: str) -> SendLog:
    row = db.execute("SELECT times FROM send_logs WHERE key = ?", (key,)).fetchone()
    return SendLog() if row is None else SendLog(tuple(int(t) for t in json.loads(row[0])))


def _put_send_log(db: sqlite3.Connection, key: str, log: SendLog, expires: int) -> None:
    db.execute(
        "INSERT INTO send_logs (key, times, expires) VALUES (?, ?, ?) ON CONFLICT (key)"
        " DO UPDATE SET times = excluded.times, expires = excluded.expires",
        (key, json.dumps(list(log.times)), expires),
    )


def _migrate_address_counters(db: sqlite3.Connection) -> None:
    """Version 1 -> 2: each fixed-window `address:` counter becomes a send log that limits
    at least as much (`SendLog.from_window_counter`); it expires as late as it can matter."""
    rows = db.execute(
        "SELECT key, window_start, count, last_at, expires FROM limit_counters"
        " WHERE key LIKE 'address:%'"
    ).fetchall()
    for key, window_start, count, last_at, expires in rows:
        state = LimitState(window_start=window_start, count=count, last_at=last_at)
        log = SendLog.from_window_counter(state, keep=count)
        _put_send_log(db, key, log, expires + max(last_at - window_start, 0))
    db.execute("DELETE FROM limit_counters WHERE key LIKE 'address:%'")


def _statements(script: str) -> Iterator[str]:
    """The complete SQL statements of `script` (semicolons inside comments are no end)."""
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            yield buffer.strip()
            buffer = ""
    if buffer.strip():
        raise ValueError("incomplete SQL statement at the end of the schema")


_COLUMNS = ("id", "addr_key", "name", "email", "status", "timestamp", "ttl", "confirmed_at")


def _as_row(db: sqlite3.Connection, values: tuple[Any, ...]) -> dict[str, Any]:
    return dict(zip(_COLUMNS, values, strict=True))


def _registration(row: sqlite3.Row | dict[str, Any]) -> Registration:
    timestamp = _from_iso(row["timestamp"])
    assert timestamp is not None
    return Registration(
        id=row["id"],
        name=row["name"],
        email=row["email"],
        status=Status(row["status"]),
        timestamp=timestamp,
        ttl=row["ttl"],
        confirmed_at=_from_iso(row["confirmed_at"]),
    )


def _translate(exc: sqlite3.Error) -> Exception:
    """Busy, locked, full, read-only or I/O errors -> `StoreUnavailable`; anything else is a
    bug and stays what it is."""
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int) and (code & 0xFF) in _UNAVAILABLE_CODES:
        return StoreUnavailable(retry_after=1)
    if isinstance(exc, sqlite3.OperationalError) and code is None:
        return StoreUnavailable(retry_after=1)
    return exc
