"""What the SQLite store does beyond the shared contracts: the worker's outbox extras, purge,
schema versions and migrations, streaming, errors."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from regflow.adapters.sql import queries
from regflow.adapters.sqlite import SCHEMA_VERSION, SQLiteStore
from regflow.domain import (
    ClientRateLimited,
    CreateResult,
    Limit,
    Message,
    MessageKind,
    Outcome,
    Registration,
    Status,
    StoreUnavailable,
    address_key,
    mailbox_key,
)
from regflow.ports import Stats, WorkerOutbox
from regflow.tokens import new_registration_id
from tests.support.sqlite import query

T0 = datetime(2026, 11, 26, 12, 0, 0, 123456, tzinfo=UTC)
NO_LIMIT = Limit(max_count=0, window_seconds=3600)
ADDRESS = Limit(max_count=5, window_seconds=86400, min_interval_seconds=60)


def reg(email: str = "jane@example.com", at: datetime = T0, language: str = "en") -> Registration:
    return Registration(
        id=new_registration_id(),
        name="Jane",
        email=email,
        status=Status.PENDING,
        timestamp=at,
        ttl=int((at + timedelta(hours=24)).timestamp()),
        language=language,
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    s = SQLiteStore(tmp_path / "regflow.db")
    yield s
    s.close()


def create(store: SQLiteStore, r: Registration, address: Limit = NO_LIMIT) -> CreateResult:
    return store.create_pending(r, address_limit=address, client_key=None, client_limit=NO_LIMIT)


def test_is_a_worker_outbox(store: SQLiteStore) -> None:
    outbox: WorkerOutbox = store  # type-checked: the embedded worker's port
    assert outbox.next_due_at() is None
    assert SQLiteStore.HOLDS_FRESH


def test_state_changes_owe_mail_in_the_same_transaction(store: SQLiteStore) -> None:
    r = reg()
    assert create(store, r, ADDRESS) is CreateResult.CREATED
    assert create(store, reg(at=T0 + timedelta(seconds=1)), ADDRESS) is (
        CreateResult.ADDRESS_LIMITED
    )
    assert store.confirm(r.id, r.addr_key, T0) is Outcome.CONFIRMED
    assert store.confirm(r.id, r.addr_key, T0) is Outcome.ALREADY_CONFIRMED
    claims = store.claim_due(now=T0.timestamp(), limit=10)
    assert [(c.message.kind, c.message.registration.id) for c in claims] == [
        (MessageKind.VERIFICATION, r.id),
        (MessageKind.OWNER_NOTIFICATION, r.id),
    ]
    assert claims[1].message.registration.status is Status.CONFIRMED
    assert all(c.attempts == 1 and c.first_failed_at is None for c in claims)
    assert store.claim_due(now=T0.timestamp()) == []  # claimed rows are not handed out twice
    assert store.stats() == Stats(pending=0, confirmed=1, outbox_due=2, outbox_parked=0)
    for claimed in claims:
        store.complete(claimed)
    assert store.stats() == Stats(pending=0, confirmed=1, outbox_due=0, outbox_parked=0)


def test_retry_backoff_parking_and_recovery(store: SQLiteStore) -> None:
    create(store, reg())
    [claimed] = store.claim_due(now=100.0)
    store.fail(claimed, at=160.0, error="Throttling")
    assert store.claim_due(now=159.0) == []
    assert store.next_due_at() == 160.0
    [again] = store.claim_due(now=160.0)
    assert (again.attempts, again.first_failed_at) == (2, 100.0)  # failed first when claimed
    # given up on: parked until an operator asks
    store.park(
        again.message,
        attempts=again.attempts,
        error="AccessDenied",
        at=None,
        now=170.0,
        claimed=again,
    )
    assert store.claim_due(now=10_000.0) == []
    assert store.next_due_at() is None
    [parked] = store.parked()
    assert (parked.attempts, parked.last_error, parked.message.kind) == (
        2,
        "AccessDenied",
        MessageKind.VERIFICATION,
    )
    assert (parked.parked_at, parked.next_attempt_at) == (170.0, None)
    assert store.stats().outbox_parked == 1

    # a crash while a row is claimed: start-up releases it and makes live rows due now;
    # a parked row stays parked
    create(store, reg("other@example.com"))
    [claimed] = store.claim_due(now=200.0)
    store.fail(claimed, at=5000.0, error="Throttling")
    [claimed] = store.claim_due(now=5000.0)
    assert store.claim_due(now=5000.0) == []
    assert store.recover_claims(now=201.0) == 1
    [released] = store.claim_due(now=201.0)
    assert released.claim == claimed.claim
    assert store.claim_due(now=700.0) == []  # the parked one still waits

    # the operator fixed the cause: every parked message is due again, attempts kept
    assert store.requeue_parked(300.0) == 1
    assert store.next_due_at() == 300.0
    [requeued] = store.claim_due(now=300.0)
    assert (requeued.attempts, requeued.first_failed_at) == (3, None)  # a fresh window
    store.complete(requeued)
    assert store.parked() == []


def test_parked_messages_with_a_time_are_retried_automatically(store: SQLiteStore) -> None:
    r = reg()
    create(store, r)
    [claimed] = store.claim_due(now=100.0)
    store.park(
        claimed.message, attempts=1, error="Throttling", at=3700.0, now=100.0, claimed=claimed
    )
    assert store.recover_claims(now=200.0) == 0  # a restart does not hurry a parked row
    assert store.next_due_at() == 3700.0
    assert store.claim_due(now=3699.0) == []
    [retried] = store.claim_due(now=3700.0)
    assert retried.message.registration == r


def test_drop_records_the_failure_and_forgets_the_message(store: SQLiteStore) -> None:
    r = reg()
    create(store, r)
    [claimed] = store.claim_due(now=100.0)
    store.drop(claimed.message, error="MailboxUnavailable", claimed=claimed)
    assert query(store.path, "SELECT COUNT(*) FROM outbox") == [(0,)]
    current = store.get(r.id)
    assert current is not None and current.delivery_failure == "MailboxUnavailable"


def test_purge_deletes_expired_pending_rows_their_mail_and_old_counters(
    store: SQLiteStore,
) -> None:
    old, kept = reg("old@example.com"), reg("kept@example.com", at=T0 + timedelta(hours=2))
    create(store, old, ADDRESS)
    create(store, kept, ADDRESS)
    confirmed = reg("done@example.com")
    create(store, confirmed)
    store.confirm(confirmed.id, confirmed.addr_key, T0)
    # the parked message of a purged registration goes too
    store.park(Message(MessageKind.VERIFICATION, old), attempts=1, error="x", at=None, now=1.0)
    assert store.purge_expired(T0 + timedelta(hours=25)) == 1
    assert store.get(old.id) is None
    assert store.get(kept.id) is not None
    assert store.get(confirmed.id) is not None  # confirmed rows never expire
    assert store.parked() == []
    assert query(
        store.path, "SELECT COUNT(*) FROM outbox WHERE registration_id = ?", (old.id,)
    ) == [(0,)]
    assert {c.message.registration.id for c in store.claim_due(now=1e12, limit=10)} == {
        kept.id,
        confirmed.id,
    }
    # the address counter of `old` lapsed with its day: a new sign-up is allowed
    assert create(store, reg("old@example.com", at=T0 + timedelta(hours=25)), ADDRESS) is (
        CreateResult.CREATED
    )


def test_purge_keeps_registrations_within_the_grace(store: SQLiteStore) -> None:
    r = reg()
    create(store, r)
    assert store.purge_expired(T0 + timedelta(hours=25), grace_seconds=7200) == 0
    assert store.purge_expired(T0 + timedelta(hours=26)) == 1


def test_gdpr_delete_erases_an_address(store: SQLiteStore) -> None:
    r = reg("Erase.Me@example.com")
    create(store, r, ADDRESS)
    store.confirm(r.id, r.addr_key, T0)
    assert store.delete_address(address_key("erase.me@example.com")) == 1
    assert store.get(r.id) is None
    assert store.confirmed_registration_id(r.addr_key) is None
    assert store.claim_due(now=1e12) == []


def test_registrations_stream_page_by_page(
    store: SQLiteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(queries, "PAGE_SIZE", 2)
    regs = [reg(f"u{i}@example.com", at=T0 + timedelta(seconds=i % 3)) for i in range(7)]
    for r in regs:
        create(store, r)
    store.confirm(regs[4].id, regs[4].addr_key, T0)
    oldest_first = sorted(regs, key=lambda r: (r.timestamp, r.id))
    assert [r.id for r in store.registrations()] == [r.id for r in oldest_first]
    assert [r.id for r in store.registrations(status=Status.PENDING)] == [
        r.id for r in oldest_first if r.id != regs[4].id
    ]
    assert [r.id for r in store.registrations(status=Status.CONFIRMED)] == [regs[4].id]


def test_schema_is_versioned_wal_and_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "regflow.db"
    r = reg(language="de")
    first = SQLiteStore(path)
    create(first, r)
    first.close()
    second = SQLiteStore(path)
    try:
        assert second.get(r.id) == r
    finally:
        second.close()
    assert query(path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    assert query(path, "PRAGMA journal_mode") == [("wal",)]
    assert query(path, "SELECT timestamp, language FROM registrations") == [
        ("2026-11-26T12:00:00.123456+00:00", "de")
    ]


def test_a_database_newer_than_the_code_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "regflow.db"
    SQLiteStore(path).close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(StoreUnavailable):
        SQLiteStore(path)


# --- migrations ------------------------------------------------------------------------------

# The schema as version 2 released it (version 1 is the same without `send_logs`).
V2_SCHEMA = """
CREATE TABLE registrations (
    id           TEXT PRIMARY KEY,
    addr_key     TEXT NOT NULL,
    name         TEXT NOT NULL,
    email        TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('PENDING', 'CONFIRMED')),
    timestamp    TEXT NOT NULL,
    ttl          INTEGER,
    confirmed_at TEXT
);
CREATE INDEX registrations_addr ON registrations (addr_key);
CREATE INDEX registrations_ttl ON registrations (ttl) WHERE status = 'PENDING';
CREATE TABLE confirmed_addresses (
    addr_key        TEXT PRIMARY KEY,
    registration_id TEXT NOT NULL UNIQUE REFERENCES registrations (id)
);
CREATE TABLE limit_counters (
    key          TEXT PRIMARY KEY,
    window_start INTEGER NOT NULL,
    count        INTEGER NOT NULL,
    last_at      INTEGER NOT NULL,
    expires      INTEGER NOT NULL
);
CREATE TABLE send_logs (
    key          TEXT PRIMARY KEY,
    times        TEXT NOT NULL,
    expires      INTEGER NOT NULL
);
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    kind            TEXT NOT NULL,
    registration_id TEXT NOT NULL,
    created         TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    claimed_at      REAL,
    last_error      TEXT,
    dead            INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX outbox_due ON outbox (dead, next_attempt_at);
"""
V1_SCHEMA = V2_SCHEMA.replace(
    """CREATE TABLE send_logs (
    key          TEXT PRIMARY KEY,
    times        TEXT NOT NULL,
    expires      INTEGER NOT NULL
);
""",
    "",
)


def old_database(path: Path, version: int, registrations: list[Registration]) -> None:
    """A file as version 1 or 2 wrote it, holding `registrations` (PENDING)."""
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.executescript(V1_SCHEMA if version == 1 else V2_SCHEMA)
        for r in registrations:
            db.execute(
                "INSERT INTO registrations (id, addr_key, name, email, status, timestamp, ttl)"
                " VALUES (?, ?, ?, ?, 'PENDING', ?, ?)",
                (r.id, r.addr_key, r.name, r.email, r.timestamp.isoformat(), r.ttl),
            )
        db.execute(f"PRAGMA user_version = {version}")
    finally:
        db.close()


def layout(path: Path) -> dict[str, object]:
    """Every table's columns and every index's definition (what a migration must reproduce)."""
    tables = [n for (n,) in query(path, "SELECT name FROM sqlite_master WHERE type = 'table'")]
    out: dict[str, object] = {
        t: [row[1:] for row in query(path, f"PRAGMA table_info({t})")] for t in sorted(tables)
    }
    for name, table in query(
        path, "SELECT name, tbl_name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
    ):
        out[f"index {name}"] = (table, query(path, f"PRAGMA index_info({name})"))
    return out


def test_version_1_database_is_migrated_to_send_logs(tmp_path: Path) -> None:
    """A version 1 file (fixed-window `address:` counters in limit_counters, no send_logs)
    opens, keeps its data and client counters, and limits each address at least as much."""
    path = tmp_path / "regflow.db"
    r = reg("jane@example.com")
    old_database(path, 1, [r])
    t0 = int(T0.timestamp())
    key = f"address:{r.limit_key}"
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.executemany(
            "INSERT INTO limit_counters (key, window_start, count, last_at, expires)"
            " VALUES (?, ?, ?, ?, ?)",
            [
                (key, t0, 5, t0 + 3600, t0 + 86400),  # 5 mails: at t0, and by t0 + 1 h
                ("client:203.0.113.9", t0, 20, t0 + 10, t0 + 3600),
            ],
        )
    finally:
        db.close()

    store = SQLiteStore(path)
    try:
        assert store.get(r.id) == r
        assert query(path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
        assert query(path, "SELECT key FROM limit_counters") == [("client:203.0.113.9",)]
        [(times, expires)] = query(
            path, "SELECT times, expires FROM send_logs WHERE key = ?", (key,)
        )
        assert json.loads(times) == [t0] + [t0 + 3600] * 4
        assert expires == t0 + 3600 + 86400

        def at(seconds: int) -> CreateResult:
            later = T0 + timedelta(seconds=seconds)
            return create(store, reg("Jane@example.com", at=later), ADDRESS)

        assert at(86399) is CreateResult.ADDRESS_LIMITED
        assert at(86401) is CreateResult.CREATED  # the t0 mail slid out
        # a fixed window would have reopened whole; the four later mails still count
        assert at(86401 + 120) is CreateResult.ADDRESS_LIMITED
        assert at(3600 + 86400) is CreateResult.CREATED
        with pytest.raises(ClientRateLimited):
            store.create_pending(
                reg("new@example.com", at=T0 + timedelta(seconds=20)),
                address_limit=NO_LIMIT,
                client_key="203.0.113.9",
                client_limit=Limit(max_count=20, window_seconds=3600),
            )
    finally:
        store.close()
    # opening again migrates nothing twice
    again = SQLiteStore(path)
    again.close()
    fresh = tmp_path / "fresh.db"
    SQLiteStore(fresh).close()
    assert layout(path) == layout(fresh)


def test_version_2_database_is_migrated_to_parked_messages(tmp_path: Path) -> None:
    """A version 2 file keeps its registrations (language 'en') and its owed messages; a dead
    row becomes a parked one that waits for an operator; ids are never handed out twice."""
    path = tmp_path / "regflow.db"
    live, dead, claimed = reg("live@example.com"), reg("dead@example.com"), reg("c@example.com")
    old_database(path, 2, [live, dead, claimed])
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.executemany(
            "INSERT INTO outbox (id, kind, registration_id, created, attempts,"
            " next_attempt_at, claimed_at, last_error, dead) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (3, "verification", live.id, T0.isoformat(), 1, 500.0, None, "Throttling", 0),
                (5, "verification", dead.id, T0.isoformat(), 5, 900.0, None, "AccessDenied", 1),
                (6, "verification", claimed.id, T0.isoformat(), 1, 0.0, 450.0, None, 0),
                (9, "verification", "gone", T0.isoformat(), 0, 0.0, None, None, 0),
            ],
        )
        db.execute("DELETE FROM outbox WHERE id = 9")  # the sequence stays at 9
    finally:
        db.close()

    store = SQLiteStore(path)
    try:
        assert query(path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]  # every step since 2
        for r in (live, dead, claimed):
            assert store.get(r.id) == r  # language "en", no delivery failure
        [parked] = store.parked()
        assert parked.message == Message(MessageKind.VERIFICATION, dead)
        assert (parked.attempts, parked.last_error, parked.next_attempt_at) == (
            5,
            "AccessDenied",
            None,
        )
        assert store.stats() == Stats(pending=3, confirmed=0, outbox_due=2, outbox_parked=1)
        # the live rows kept their times and claims
        assert store.next_due_at() == 500.0
        assert store.claim_due(now=499.0) == []
        [due] = store.claim_due(now=500.0)
        assert (due.message.registration.id, due.attempts, due.claim) == (live.id, 2, "3")
        [lapsed] = store.claim_due(now=450.0 + 600.0)  # its claim's lease ran out
        assert (lapsed.message.registration.id, lapsed.claim) == (claimed.id, "6")
        store.complete(due)
        store.complete(lapsed)
        # the parked row waits for the operator
        assert store.claim_due(now=1e12) == []
        [parked] = store.parked()
        assert parked.parked_at > 0  # the migration's time stands in
        assert store.requeue_parked(2000.0) == 1
        [requeued] = store.claim_due(now=2000.0)
        assert (requeued.message.registration.id, requeued.attempts) == (dead.id, 6)
        # a new row gets an id the old file never used
        create(store, reg("new@example.com"))
        assert query(path, "SELECT MAX(id) FROM outbox") == [(10,)]
    finally:
        store.close()
    fresh = tmp_path / "fresh.db"
    SQLiteStore(fresh).close()
    assert layout(path) == layout(fresh)


def test_a_failed_migration_changes_nothing(tmp_path: Path) -> None:
    """Every step and the version bump are one transaction: a step that fails leaves the file
    as it was (still version 2, no half-added column), and opening it fails."""
    path = tmp_path / "regflow.db"
    r = reg()
    old_database(path, 2, [r])
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("CREATE TABLE outbox_v3 (x)")  # in the way of the outbox rebuild
    db.close()
    with pytest.raises(sqlite3.Error):
        SQLiteStore(path)
    assert query(path, "PRAGMA user_version") == [(2,)]
    columns = [row[1] for row in query(path, "PRAGMA table_info(registrations)")]
    assert "language" not in columns
    assert [row[1] for row in query(path, "PRAGMA table_info(outbox)")][-1] == "dead"


def test_send_logs_are_purged_and_erased(store: SQLiteStore) -> None:
    r = reg("erase.me@example.com")
    create(store, r, ADDRESS)
    create(store, reg("kept@example.com", at=T0 + timedelta(hours=2)), ADDRESS)

    def logged() -> list[str]:
        return [key for (key,) in query(store.path, "SELECT key FROM send_logs ORDER BY key")]

    assert len(logged()) == 2
    store.delete_address(r.addr_key, r.limit_key)
    assert logged() == [f"address:{mailbox_key('kept@example.com')}"]
    store.purge_expired(T0 + timedelta(hours=26) - timedelta(seconds=1))
    assert len(logged()) == 1  # its newest send is not a day old yet
    store.purge_expired(T0 + timedelta(hours=26))
    assert logged() == []


def test_a_database_locked_past_the_timeout_is_store_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "regflow.db"
    store = SQLiteStore(path, busy_timeout_ms=50)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        r = reg()
        with pytest.raises(StoreUnavailable):
            create(store, r)
        with pytest.raises(StoreUnavailable):
            store.claim_due(now=1.0)
    finally:
        holder.rollback()
        holder.close()
    assert store.get(r.id) is None  # nothing half-written
    assert create(store, r) is CreateResult.CREATED  # and it works again once free
    store.close()
