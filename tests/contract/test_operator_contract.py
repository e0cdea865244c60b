"""One contract every OperatorQueries adapter passes (memory, SQLite, DynamoDB)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from regflow.domain import (
    Limit,
    Outcome,
    Registration,
    Status,
    address_key,
    mailbox_key,
)
from regflow.ports import OperatorQueries, Outbox, RegistrationStore
from regflow.tokens import new_registration_id

T0 = datetime(2026, 11, 26, 12, 0, 0, 123456, tzinfo=UTC)
NO_LIMIT = Limit(max_count=0, window_seconds=3600)
ADDRESS = Limit(max_count=1, window_seconds=86400)


class Store(RegistrationStore, Outbox, OperatorQueries):
    """What the fixture yields: one adapter implementing every port."""


def add(store: Store, email: str, minutes: int = 0, limit: Limit = NO_LIMIT) -> Registration:
    at = T0 + timedelta(minutes=minutes)
    r = Registration(
        id=new_registration_id(),
        name=f"Name {email}",
        email=email,
        status=Status.PENDING,
        timestamp=at,
        ttl=int((at + timedelta(hours=24)).timestamp()),
        language="es",
    )
    store.create_pending(r, address_limit=limit, client_key=None, client_limit=NO_LIMIT)
    return r


def test_registrations_stream_oldest_first(store: Store) -> None:
    b = add(store, "b@example.com", minutes=2)
    a = add(store, "a@example.com", minutes=1)
    listed = store.registrations()
    assert isinstance(listed, Iterator)
    assert [r.id for r in listed] == [a.id, b.id]
    assert store.registrations().__next__().language == "es"


def test_registrations_by_status(store: Store) -> None:
    a = add(store, "a@example.com")
    b = add(store, "b@example.com", minutes=1)
    assert store.confirm(b.id, b.addr_key, T0) is Outcome.CONFIRMED
    assert [r.id for r in store.registrations(status=Status.PENDING)] == [a.id]
    [confirmed] = list(store.registrations(status=Status.CONFIRMED))
    assert confirmed.id == b.id and confirmed.status is Status.CONFIRMED


def test_stats(store: Store) -> None:
    a = add(store, "a@example.com")
    add(store, "b@example.com", minutes=1)
    store.confirm(a.id, a.addr_key, T0)
    stats = store.stats()
    assert (stats.pending, stats.confirmed) == (1, 1)
    assert stats.outbox_parked == 0
    if getattr(store, "HOLDS_FRESH", False):
        assert stats.outbox_due == 3  # two verification messages, one owner notification


def test_delete_address_erases_every_record(store: Store) -> None:
    a = add(store, "jane@example.com", limit=ADDRESS)
    keep = add(store, "other@example.com")
    assert store.confirm(a.id, a.addr_key, T0) is Outcome.CONFIRMED
    deleted = store.delete_address(address_key("Jane@Example.com"), mailbox_key("jane@example.com"))
    assert deleted == 1
    assert store.get(a.id) is None
    assert store.confirmed_registration_id(a.addr_key) is None
    assert [r.id for r in store.registrations()] == [keep.id]
    # the inbox's send log went too: the address may register again at once
    again = add(store, "jane@example.com", minutes=1, limit=ADDRESS)
    assert store.get(again.id) is not None
    assert store.confirm(again.id, again.addr_key, T0) is Outcome.CONFIRMED


def test_delete_unknown_address(store: Store) -> None:
    add(store, "a@example.com")
    assert store.delete_address(address_key("nobody@example.com")) == 0
