"""What the SQLite store does beyond the shared contract: the outbox, purge, schema, errors."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from regflow.adapters.sqlite import SCHEMA_VERSION, SQLiteStore
from regflow.domain import (
    ClientRateLimited,
    CreateResult,
    Limit,
    MessageKind,
    Outcome,
    Registration,
    Status,
    StoreUnavailable,
    address_key,
    mailbox_key,
)
from regflow.tokens import new_registration_id

T0 = datetime(2026, 11, 26, 12, 0, 0, 123456, tzinfo=UTC)
NO_LIMIT = Limit(max_count=0, window_seconds=3600)
ADDRESS = Limit(max_count=5, window_seconds=86400, min_interval_seconds=60)


def reg(email: str = "jane@example.com", at: datetime = T0) -> Registration:
    return Registration(
        id=new_registration_id(),
        name="Jane",
        email=email,
        status=Status.PENDING,
        timestamp=at,
        ttl=int((at + timedelta(hours=24)).timestamp()),
    )


@pytest.fixture
def store(tmp_path: Path):  # type: ignore[no-untyped-def]
    s = SQLiteStore(tmp_path / "regflow.db")
    yield s
    s.close()


def create(store: SQLiteStore, r: Registration, address: Limit = NO_LIMIT) -> CreateResult:
    return store.create_pending(r, address_limit=address, client_key=None, client_limit=NO_LIMIT)


def test_state_changes_owe_mail_in_the_same_transaction(store: SQLiteStore) -> None:
    r = reg()
    assert create(store, r, ADDRESS) is CreateResult.CREATED
    assert create(store, reg(at=T0 + timedelta(seconds=1)), ADDRESS) is (
        CreateResult.ADDRESS_LIMITED
    )
    assert store.confirm(r.id, r.addr_key, T0) is Outcome.CONFIRMED
    assert store.confirm(r.id, r.addr_key, T0) is Outcome.ALREADY_CONFIRMED
    rows = store.claim_due(now=T0.timestamp(), limit=10)
    assert [(row.entry.kind, row.entry.registration.id) for row in rows] == [
        (MessageKind.VERIFICATION, r.id),
        (MessageKind.OWNER_NOTIFICATION, r.id),
    ]
    assert rows[1].entry.registration.status is Status.CONFIRMED
    assert all(row.attempts == 1 for row in rows)
    assert store.claim_due(now=T0.timestamp()) == []  # claimed rows are not handed out twice
    for row in rows:
        store.delivered(row.row_id)
    assert store.outbox_counts() == {"pending": 0, "dead": 0, "claimed": 0}


def test_retry_backoff_dead_letters_and_recovery(store: SQLiteStore) -> None:
    create(store, reg())
    [row] = store.claim_due(now=100.0)
    store.retry_later(row.row_id, at=160.0, error="MailDeliveryError")
    assert store.claim_due(now=159.0) == []
    assert store.next_due_at() == 160.0
    [again] = store.claim_due(now=160.0)
    assert again.attempts == 2
    store.retry_later(again.row_id, at=999.0, error="MailDeliveryError", give_up=True)
    assert store.claim_due(now=10_000.0) == []
    [dead] = store.dead_letters()
    assert (dead.attempts, dead.last_error, dead.kind) == (
        2,
        "MailDeliveryError",
        MessageKind.VERIFICATION,
    )
    assert store.stats()["outbox_dead"] == 1

    # a crash while a row is claimed: start-up releases it, and makes live rows due now
    create(store, reg("other@example.com"))
    [claimed] = store.claim_due(now=200.0)
    assert store.claim_due(now=200.0) == []
    assert store.recover_claims(now=201.0) == 1
    [released] = store.claim_due(now=201.0)
    assert released.row_id == claimed.row_id


def test_purge_deletes_expired_pending_rows_their_mail_and_old_counters(
    store: SQLiteStore,
) -> None:
    old, kept = reg("old@example.com"), reg("kept@example.com", at=T0 + timedelta(hours=2))
    create(store, old, ADDRESS)
    create(store, kept, ADDRESS)
    confirmed = reg("done@example.com")
    create(store, confirmed)
    store.confirm(confirmed.id, confirmed.addr_key, T0)
    assert store.purge_expired(T0 + timedelta(hours=25)) == 1
    assert store.get(old.id) is None
    assert store.get(kept.id) is not None
    assert store.get(confirmed.id) is not None  # confirmed rows never expire
    assert {r.entry.registration.id for r in store.claim_due(now=1e12, limit=10)} == {
        kept.id,
        confirmed.id,
    }
    # the address counter of `old` lapsed with its day: a new sign-up is allowed
    assert create(store, reg("old@example.com", at=T0 + timedelta(hours=25)), ADDRESS) is (
        CreateResult.CREATED
    )


def test_gdpr_delete_erases_an_address(store: SQLiteStore) -> None:
    r = reg("Erase.Me@example.com")
    create(store, r, ADDRESS)
    store.confirm(r.id, r.addr_key, T0)
    assert store.delete_address(address_key("erase.me@example.com")) == 1
    assert store.get(r.id) is None
    assert store.confirmed_registration_id(r.addr_key) is None
    assert store.claim_due(now=1e12) == []


def test_schema_is_versioned_wal_and_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "regflow.db"
    r = reg()
    first = SQLiteStore(path)
    create(first, r)
    first.close()
    second = SQLiteStore(path)
    try:
        assert second.get(r.id) == r
    finally:
        second.close()
    db = sqlite3.connect(path)
    try:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        row = db.execute("SELECT timestamp FROM registrations").fetchone()
        assert row[0] == "2026-11-26T12:00:00.123456+00:00"
    finally:
        db.close()


def test_version_1_database_is_migrated_to_send_logs(tmp_path: Path) -> None:
    """A version 1 file (fixed-window `address:` counters in limit_counters, no send_logs)
    opens, keeps its data and client counters, and limits each address at least as much."""
    path = tmp_path / "regflow.db"
    r = reg("jane@example.com")
    fresh = SQLiteStore(path)
    create(fresh, r)
    fresh.close()
    t0 = int(T0.timestamp())
    key = f"address:{r.addr_key}"
    db = sqlite3.connect(path, isolation_level=None)
    try:  # make it what version 1 wrote
        db.execute("DROP TABLE send_logs")
        db.executemany(
            "INSERT INTO limit_counters (key, window_start, count, last_at, expires)"
            " VALUES (?, ?, ?, ?, ?)",
            [
                (key, t0, 5, t0 + 3600, t0 + 86400),  # 5 mails: at t0, and by t0 + 1 h
                ("client:203.0.113.9", t0, 20, t0 + 10, t0 + 3600),
            ],
        )
        db.execute("PRAGMA user_version = 1")
    finally:
        db.close()

    store = SQLiteStore(path)
    try:
        assert store.get(r.id) == r
        db = sqlite3.connect(path)
        try:
            assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2
            assert db.execute("SELECT key FROM limit_counters").fetchall() == [
                ("client:203.0.113.9",)
            ]
            [(times, expires)] = db.execute(
                "SELECT times, expires FROM send_logs WHERE key = ?", (key,)
            ).fetchall()
            assert json.loads(times) == [t0] + [t0 + 3600] * 4
            assert expires == t0 + 3600 + 86400
        finally:
            db.close()

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


def test_send_logs_are_purged_and_erased(store: SQLiteStore) -> None:
    r = reg("erase.me@example.com")
    create(store, r, ADDRESS)
    create(store, reg("kept@example.com", at=T0 + timedelta(hours=2)), ADDRESS)

    def logged() -> list[str]:
        db = sqlite3.connect(store.path)
        try:
            return [row[0] for row in db.execute("SELECT key FROM send_logs ORDER BY key")]
        finally:
            db.close()

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
    finally:
        holder.rollback()
        holder.close()
    assert store.get(r.id) is None  # nothing half-written
    assert create(store, r) is CreateResult.CREATED  # and it works again once free
    store.close()
