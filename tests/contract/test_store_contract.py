"""One contract every RegistrationStore adapter passes (memory, SQLite, DynamoDB)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from regflow.domain import (
    ClientRateLimited,
    CreateResult,
    Limit,
    Outcome,
    Registration,
    Status,
    address_key,
)
from regflow.ports import RegistrationStore
from regflow.tokens import new_registration_id

T0 = datetime(2026, 11, 26, 12, 0, 0, 123456, tzinfo=UTC)
NO_LIMIT = Limit(max_count=0, window_seconds=3600)
ADDRESS = Limit(max_count=5, window_seconds=86400, min_interval_seconds=60)
CLIENT = Limit(max_count=20, window_seconds=3600)


def reg(email: str = "jane@example.com", at: datetime = T0, hours: int = 24) -> Registration:
    return Registration(
        id=new_registration_id(),
        name="Jane <b>Doe</b>",
        email=email,
        status=Status.PENDING,
        timestamp=at,
        ttl=int((at + timedelta(hours=hours)).timestamp()),
    )


def create(
    store: RegistrationStore,
    r: Registration,
    *,
    address: Limit = NO_LIMIT,
    client: str | None = None,
    client_limit: Limit = NO_LIMIT,
) -> CreateResult:
    return store.create_pending(
        r, address_limit=address, client_key=client, client_limit=client_limit
    )


def test_create_then_get_round_trips(store: RegistrationStore) -> None:
    r = reg()
    assert create(store, r) is CreateResult.CREATED
    assert store.get(r.id) == r


def test_get_unknown_is_none(store: RegistrationStore) -> None:
    assert store.get(new_registration_id()) is None


def test_confirm_makes_confirmed_and_drops_ttl(store: RegistrationStore) -> None:
    r = reg()
    create(store, r)
    now = T0 + timedelta(hours=1)
    assert store.confirm(r.id, r.addr_key, now) is Outcome.CONFIRMED
    got = store.get(r.id)
    assert got is not None
    assert got.status is Status.CONFIRMED
    assert got.ttl is None
    assert got.confirmed_at == now
    assert (got.name, got.email, got.timestamp) == (r.name, r.email, r.timestamp)
    assert store.confirmed_registration_id(r.addr_key) == r.id


def test_second_confirm_is_already_confirmed(store: RegistrationStore) -> None:
    r = reg()
    create(store, r)
    assert store.confirm(r.id, r.addr_key, T0) is Outcome.CONFIRMED
    assert store.confirm(r.id, r.addr_key, T0 + timedelta(minutes=1)) is Outcome.ALREADY_CONFIRMED
    got = store.get(r.id)
    assert got is not None and got.confirmed_at == T0


def test_unknown_id_or_wrong_address_is_invalid(store: RegistrationStore) -> None:
    r = reg()
    create(store, r)
    assert store.confirm(new_registration_id(), r.addr_key, T0) is Outcome.INVALID
    assert store.confirm(r.id, address_key("other@example.com"), T0) is Outcome.INVALID
    got = store.get(r.id)
    assert got is not None and got.status is Status.PENDING


def test_expired_but_not_yet_deleted_is_refused(store: RegistrationStore) -> None:
    r = reg(hours=24)
    create(store, r)
    assert r.ttl is not None
    at_expiry = datetime.fromtimestamp(r.ttl, UTC)
    assert store.confirm(r.id, r.addr_key, at_expiry) is Outcome.EXPIRED
    assert store.confirm(r.id, r.addr_key, at_expiry + timedelta(days=3)) is Outcome.EXPIRED
    got = store.get(r.id)
    assert got is not None and got.status is Status.PENDING
    assert store.confirmed_registration_id(r.addr_key) is None


def test_one_second_before_expiry_still_confirms(store: RegistrationStore) -> None:
    r = reg()
    create(store, r)
    assert r.ttl is not None
    now = datetime.fromtimestamp(r.ttl - 1, UTC)
    assert store.confirm(r.id, r.addr_key, now) is Outcome.CONFIRMED


def test_at_most_one_confirmed_registration_per_address(store: RegistrationStore) -> None:
    first, second = reg("Jane@Example.com"), reg("jane@example.com")
    create(store, first)
    create(store, second)
    assert store.confirm(first.id, first.addr_key, T0) is Outcome.CONFIRMED
    assert store.confirm(second.id, second.addr_key, T0) is Outcome.ALREADY_CONFIRMED
    got = store.get(second.id)
    assert got is not None and got.status is Status.PENDING
    assert store.confirmed_registration_id(second.addr_key) == first.id


def test_address_min_interval(store: RegistrationStore) -> None:
    first = reg()
    assert create(store, first, address=ADDRESS) is CreateResult.CREATED
    soon = reg("JANE@example.com", at=T0 + timedelta(seconds=59))
    assert create(store, soon, address=ADDRESS) is CreateResult.ADDRESS_LIMITED
    assert store.get(soon.id) is None
    later = reg(at=T0 + timedelta(seconds=60))
    assert create(store, later, address=ADDRESS) is CreateResult.CREATED


def test_address_daily_cap_and_window_reset(store: RegistrationStore) -> None:
    results = [
        create(store, reg(at=T0 + timedelta(minutes=2 * i)), address=ADDRESS) for i in range(7)
    ]
    assert results.count(CreateResult.CREATED) == 5
    assert results[5:] == [CreateResult.ADDRESS_LIMITED] * 2
    next_day = reg(at=T0 + timedelta(hours=24, seconds=1))
    assert create(store, next_day, address=ADDRESS) is CreateResult.CREATED
    again = reg(at=T0 + timedelta(hours=24, seconds=120))
    assert create(store, again, address=ADDRESS) is CreateResult.CREATED


def test_address_daily_cap_is_a_rolling_24_hours(store: RegistrationStore) -> None:
    day = timedelta(hours=24)
    for hours in (0, 6, 12, 18, 23):
        assert create(store, reg(at=T0 + timedelta(hours=hours)), address=ADDRESS) is (
            CreateResult.CREATED
        )
    assert create(store, reg(at=T0 + day - timedelta(seconds=1)), address=ADDRESS) is (
        CreateResult.ADDRESS_LIMITED
    )
    # the T0 mail slid out of the window: exactly one more
    one_more = reg(at=T0 + day + timedelta(seconds=1))
    assert create(store, one_more, address=ADDRESS) is CreateResult.CREATED
    assert store.get(one_more.id) is not None
    refused = [reg(at=T0 + day + timedelta(minutes=m)) for m in (2, 30, 60 * 5 + 59)]
    assert [create(store, r, address=ADDRESS) for r in refused] == [
        CreateResult.ADDRESS_LIMITED
    ] * 3
    assert all(store.get(r.id) is None for r in refused)  # a limited post writes nothing
    # the next slot frees when the T0 + 6 h mail slides out
    assert create(store, reg(at=T0 + day + timedelta(hours=6)), address=ADDRESS) is (
        CreateResult.CREATED
    )


def test_address_burst_across_a_day_boundary_stays_within_the_cap(
    store: RegistrationStore,
) -> None:
    """A fixed window opened at T0 would allow 4 mails late on day one and 5 more at the start
    of day two (9 in a few minutes); a rolling 24 hours allows 5."""
    day = timedelta(hours=24)
    first_day = [T0, *(T0 + day - timedelta(minutes=m) for m in (8, 6, 4, 2))]
    second_day = [T0 + day + timedelta(minutes=m) for m in (0, 2, 4, 6, 8, 10)]
    created = [
        at
        for at in first_day + second_day
        if create(store, reg(at=at), address=ADDRESS) is CreateResult.CREATED
    ]
    assert created == [*first_day, T0 + day]  # only the slot T0 left
    for i, start in enumerate(created):
        assert sum(1 for at in created[i:] if at - start < day) <= ADDRESS.max_count
    # the other addresses' limits are their own
    assert create(store, reg("john@example.com", at=T0 + day), address=ADDRESS) is (
        CreateResult.CREATED
    )


def test_client_limit_raises_with_retry_after_and_writes_nothing(store: RegistrationStore) -> None:
    for i in range(20):
        r = reg(f"user{i}@example.com", at=T0 + timedelta(seconds=i))
        assert create(store, r, client="203.0.113.9", client_limit=CLIENT) is CreateResult.CREATED
    blocked = reg("late@example.com", at=T0 + timedelta(seconds=30))
    with pytest.raises(ClientRateLimited) as info:
        create(store, blocked, address=ADDRESS, client="203.0.113.9", client_limit=CLIENT)
    assert 3600 - 30 <= info.value.retry_after <= 3600
    assert store.get(blocked.id) is None
    # the refused post did not count against its address either
    ok = reg("late@example.com", at=T0 + timedelta(seconds=31))
    assert (
        create(store, ok, address=ADDRESS, client="198.51.100.1", client_limit=CLIENT)
        is CreateResult.CREATED
    )
    # other clients are unaffected, and the counter expires
    after = reg("next@example.com", at=T0 + timedelta(hours=1, seconds=1))
    assert create(store, after, client="203.0.113.9", client_limit=CLIENT) is CreateResult.CREATED


def test_disabled_limits_allow_everything(store: RegistrationStore) -> None:
    off = Limit(max_count=0, window_seconds=86400, min_interval_seconds=0)
    for i in range(8):
        r = reg(at=T0 + timedelta(seconds=i))
        assert create(store, r, address=off, client="c", client_limit=off) is CreateResult.CREATED


def test_concurrent_clicks_confirm_once(store: RegistrationStore) -> None:
    r = reg()
    create(store, r)
    barrier = threading.Barrier(10)
    outcomes: list[Outcome] = []

    def click() -> None:
        barrier.wait()
        outcomes.append(store.confirm(r.id, r.addr_key, T0))

    threads = [threading.Thread(target=click) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count(Outcome.CONFIRMED) == 1
    assert outcomes.count(Outcome.ALREADY_CONFIRMED) == 9


def test_concurrent_posts_for_one_address_create_once(store: RegistrationStore) -> None:
    barrier = threading.Barrier(20)
    results: list[CreateResult] = []

    def post() -> None:
        barrier.wait()
        results.append(create(store, reg(), address=ADDRESS))

    threads = [threading.Thread(target=post) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(CreateResult.CREATED) == 1
    assert results.count(CreateResult.ADDRESS_LIMITED) == 19


def test_sub_addresses_of_one_inbox_share_the_address_limit(store: RegistrationStore) -> None:
    """jane+1@, jane+2@ and (at Gmail) j.ane@ reach one inbox: one limit, not one each."""
    first = reg("jane.doe+news@gmail.com")
    assert create(store, first, address=ADDRESS) is CreateResult.CREATED
    for i, variant in enumerate(
        ["janedoe@gmail.com", "Jane.Doe+x@googlemail.com", "j.a.n.e.d.o.e@gmail.com"]
    ):
        again = reg(variant, at=T0 + timedelta(seconds=10 + i))
        assert create(store, again, address=ADDRESS) is CreateResult.ADDRESS_LIMITED
        assert store.get(again.id) is None
    other = reg("jane.doe@example.com", at=T0 + timedelta(seconds=20))
    assert create(store, other, address=ADDRESS) is CreateResult.CREATED
    plus = reg("jane.doe+a@example.com", at=T0 + timedelta(seconds=21))
    assert create(store, plus, address=ADDRESS) is CreateResult.ADDRESS_LIMITED
