"""One contract every `ExportQueries` adapter passes (memory, SQLite, DynamoDB, PostgreSQL):
`registrations_since` (issue 12's `export --since`) and `registrations_of` (`resend`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from regflow.domain import Limit, Registration, Status
from regflow.ports import ExportQueries, OperatorQueries, RegistrationStore

T0 = datetime(2026, 11, 26, 12, 0, 0, 123456, tzinfo=UTC)
NO_LIMIT = Limit(max_count=0, window_seconds=3600)


class Store(RegistrationStore, OperatorQueries, ExportQueries):
    """What the fixture yields: one adapter implementing every port."""


def add(store: Store, i: int, email: str | None = None) -> Registration:
    at = T0 + timedelta(seconds=i)
    r = Registration(
        id=f"{i:03d}" + "c" * 19,
        name=f"Name {i}",
        email=email or f"r{i}@example.com",
        status=Status.PENDING,
        timestamp=at,
        ttl=int((at + timedelta(hours=24)).timestamp()),
        language="de",
    )
    store.create_pending(r, address_limit=NO_LIMIT, client_key=None, client_limit=NO_LIMIT)
    return r


def test_confirmed_since_is_inclusive_and_in_confirmation_order(store: Store) -> None:
    made = [add(store, i) for i in range(12)]
    # confirmed in the reverse order of registration; two at the very same moment
    for n, r in enumerate(reversed(made[:10])):
        store.confirm(r.id, r.addr_key, T0 + timedelta(minutes=min(n, 8)))
    confirmed = list(store.registrations_since(Status.CONFIRMED))
    assert [r.id for r in confirmed] == [r.id for r in reversed(made[2:10])] + [
        made[0].id,
        made[1].id,  # the tie at minute 8: by id
    ]
    assert all(r.status is Status.CONFIRMED and r.language == "de" for r in confirmed)
    since = T0 + timedelta(minutes=6)
    assert [r.id for r in store.registrations_since(Status.CONFIRMED, since)] == [
        made[3].id,
        made[2].id,
        made[0].id,
        made[1].id,
    ]
    later = T0 + timedelta(minutes=8, microseconds=1)
    assert list(store.registrations_since(Status.CONFIRMED, later)) == []


def test_pending_since_is_by_registration_time(store: Store) -> None:
    made = [add(store, i) for i in range(5)]
    store.confirm(made[3].id, made[3].addr_key, T0 + timedelta(minutes=1))
    since = T0 + timedelta(seconds=2)
    pending = store.registrations_since(Status.PENDING, since)
    assert [r.id for r in pending] == [made[2].id, made[4].id]
    assert len(list(store.registrations_since(Status.PENDING))) == 4


def test_registrations_of_an_address(store: Store) -> None:
    first = add(store, 1, "same@example.com")
    add(store, 2)
    second = add(store, 3, "SAME@example.com")  # the same address key
    assert [r.id for r in store.registrations_of(first.addr_key)] == [first.id, second.id]
    assert store.registrations_of("0" * 32) == []


def test_a_registration_confirmed_by_its_code_is_exported_like_one_confirmed_by_link(
    store: Store,
) -> None:
    by_link, by_code = add(store, 1), add(store, 2)
    at = T0 + timedelta(minutes=1)
    store.confirm(by_link.id, by_link.addr_key, at)
    confirm_code = store.confirm_code  # CONFIRM_CODE
    confirm_code(by_code.id, by_code.addr_key, at, matched=True, max_tries=5)
    assert [r.id for r in store.registrations_since(Status.CONFIRMED, at)] == [
        by_link.id,
        by_code.id,
    ]
