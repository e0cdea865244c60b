"""What the SQLite store does beyond the shared contract: the outbox, purge, schema, errors."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from regflow.adapters.sqlite import SCHEMA_VERSION, SQLiteStore
from regflow.domain import (
    CreateResult,
    Limit,
    MailKind,
    Outcome,
    Registration,
    Status,
    StoreUnavailable,
    address_key,
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
        (MailKind.VERIFICATION, r.id),
        (MailKind.OWNER_NOTIFICATION, r.id),
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
        MailKind.VERIFICATION,
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
