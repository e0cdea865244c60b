"""Value types of the domain: limit counters, expiry, address keys, masking."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from regflow.domain import (
    ClientRateLimited,
    Limit,
    LimitState,
    Registration,
    SendLog,
    Status,
    ValidationError,
    address_key,
    mask_email,
)

DAY = Limit(max_count=5, window_seconds=86400, min_interval_seconds=60)
T0 = 1_700_000_000


def test_first_event_starts_a_window() -> None:
    assert LimitState.first(T0) == LimitState(window_start=T0, count=1, last_at=T0)


def test_min_interval() -> None:
    s = LimitState.first(T0)
    assert not s.allows(DAY, T0)
    assert not s.allows(DAY, T0 + 59)
    assert s.allows(DAY, T0 + 60)
    assert s.retry_after(DAY, T0 + 10) == 50


def test_window_count_and_reset() -> None:
    s = LimitState.first(T0)
    for i in range(1, 5):
        assert s.allows(DAY, T0 + i * 100)
        s = s.after_event(DAY, T0 + i * 100)
    assert s.count == 5
    assert s.window_start == T0
    assert not s.allows(DAY, T0 + 10_000)
    assert s.retry_after(DAY, T0 + 10_000) == 86400 - 10_000
    assert not s.allows(DAY, T0 + 86399)
    assert s.allows(DAY, T0 + 86400)
    assert s.after_event(DAY, T0 + 86400) == LimitState.first(T0 + 86400)


def test_retry_after_is_at_least_one_second() -> None:
    s = LimitState.first(T0)
    assert s.retry_after(Limit(max_count=0, window_seconds=3600), T0) == 1


def test_disabled_limits() -> None:
    off = Limit(max_count=0, window_seconds=3600, min_interval_seconds=0)
    assert not off.enabled
    s = LimitState(window_start=T0, count=10**6, last_at=T0)
    assert s.allows(off, T0)
    assert Limit(max_count=0, window_seconds=1, min_interval_seconds=5).enabled
    assert Limit(max_count=1, window_seconds=1).enabled


def test_hourly_client_limit_is_a_fixed_window() -> None:
    hourly = Limit(max_count=20, window_seconds=3600)
    s = LimitState.first(T0)
    for i in range(1, 20):
        s = s.after_event(hourly, T0 + i)
    assert s.count == 20
    assert not s.allows(hourly, T0 + 20)
    assert s.retry_after(hourly, T0 + 20) == 3580
    assert s.allows(hourly, T0 + 3600)
    # "per hour" counting: the window reopens whole, so a client's burst at the end of one
    # window and the start of the next may pass (the documented bound of the client limit)
    s = s.after_event(hourly, T0 + 3600)
    assert s == LimitState.first(T0 + 3600)


# --- the per-address sliding log ----------------------------------------------------------

H = 3600


def _log(*times: int) -> SendLog:
    log = SendLog()
    for t in times:
        assert log.allows(DAY, t)
        log = log.after_event(DAY, t)
    return log


def test_send_log_caps_any_rolling_window() -> None:
    log = _log(T0, T0 + 6 * H, T0 + 12 * H, T0 + 18 * H, T0 + 23 * H)
    assert log.times == (T0, T0 + 6 * H, T0 + 12 * H, T0 + 18 * H, T0 + 23 * H)
    assert not log.allows(DAY, T0 + 23 * H + 61)
    assert not log.allows(DAY, T0 + 86399)
    assert log.retry_after(DAY, T0 + 86399) == 1
    assert log.allows(DAY, T0 + 86400)  # the T0 send slid out (a fixed window would agree)
    log = log.after_event(DAY, T0 + 86401)
    assert log.times == (T0 + 6 * H, T0 + 12 * H, T0 + 18 * H, T0 + 23 * H, T0 + 86401)
    # unlike a fixed window reopened at T0 + 24 h, the next slot frees only when T0 + 6 h slides
    assert not log.allows(DAY, T0 + 86400 + 120)
    assert log.retry_after(DAY, T0 + 86400 + 120) == 6 * H - 120
    assert not log.allows(DAY, T0 + 30 * H - 1)
    assert log.allows(DAY, T0 + 30 * H)


def test_send_log_min_interval() -> None:
    log = _log(T0)
    assert not log.allows(DAY, T0)
    assert not log.allows(DAY, T0 + 59)
    assert log.allows(DAY, T0 + 60)
    assert log.retry_after(DAY, T0 + 10) == 50
    assert SendLog().allows(DAY, T0)
    assert SendLog().retry_after(DAY, T0) == 1


def test_send_log_retry_after_waits_for_the_slot_that_frees_first() -> None:
    log = _log(T0, T0 + 100, T0 + 200, T0 + 300, T0 + 400)
    assert log.retry_after(DAY, T0 + 1000) == 86400 - 1000
    # a lowered cap: two must slide out, the second-oldest decides
    three = Limit(max_count=3, window_seconds=86400, min_interval_seconds=60)
    assert not log.allows(three, T0 + 1000)
    assert log.retry_after(three, T0 + 1000) == 86400 + 200 - 1000
    assert log.allows(three, T0 + 86400 + 200)


def test_send_log_keeps_at_most_max_count_entries() -> None:
    log = SendLog(tuple(range(T0, T0 + 10 * 60, 60)))  # 10 sends from a higher cap
    assert not log.allows(DAY, T0 + 3600)
    after = log.after_event(DAY, T0 + 86400 + 300)
    assert after.times == (T0 + 360, T0 + 420, T0 + 480, T0 + 540, T0 + 86400 + 300)
    assert len(after.times) == DAY.max_count
    interval_only = Limit(max_count=0, window_seconds=86400, min_interval_seconds=60)
    assert _log(T0).after_event(interval_only, T0 + 60).times == (T0 + 60,)
    assert SendLog((T0, T0 + 60)).allows(interval_only, T0 + 120)


def test_send_log_expiry() -> None:
    assert SendLog().expires(DAY) is None
    assert _log(T0, T0 + 100).expires(DAY) == T0 + 100 + 86400
    interval_only = Limit(max_count=0, window_seconds=86400, min_interval_seconds=60)
    assert SendLog((T0,)).expires(interval_only) == T0 + 60


def test_send_log_from_a_legacy_window_counter_is_conservative() -> None:
    state = LimitState(window_start=T0, count=5, last_at=T0 + 3600)
    log = SendLog.from_window_counter(state, keep=5)
    assert log.times == (T0, T0 + 3600, T0 + 3600, T0 + 3600, T0 + 3600)
    assert not log.allows(DAY, T0 + 86399)
    assert log.allows(DAY, T0 + 86400)
    assert not log.after_event(DAY, T0 + 86400).allows(DAY, T0 + 86400 + 3599)
    assert SendLog.from_window_counter(LimitState.first(T0), keep=5).times == (T0,)
    many = LimitState(window_start=T0, count=1000, last_at=T0 + 50)
    assert SendLog.from_window_counter(many, keep=3).times == (T0 + 50,) * 3


def _reg(ttl: int | None, status: Status = Status.PENDING) -> Registration:
    return Registration(
        id="AAAAAAAAAAAAAAAAAAAAAA",
        name="Jane",
        email="Jane@Example.com",
        status=status,
        timestamp=datetime.fromtimestamp(T0, UTC),
        ttl=ttl,
    )


def test_registration_expiry_is_checked_against_ttl() -> None:
    reg = _reg(T0 + 100)
    assert not reg.expired(datetime.fromtimestamp(T0 + 99, UTC))
    assert reg.expired(datetime.fromtimestamp(T0 + 100, UTC))
    assert not _reg(None, Status.CONFIRMED).expired(datetime.fromtimestamp(T0 + 10**6, UTC))
    assert not _reg(T0, Status.CONFIRMED).expired(datetime.fromtimestamp(T0 + 10**6, UTC))


def test_address_key() -> None:
    key = address_key("Jane@Example.com")
    assert key == address_key(" jane@example.com ")
    assert len(key) == 32
    int(key, 16)
    assert key != address_key("jane@example.org")
    assert _reg(1).addr_key == key


@pytest.mark.parametrize(
    ("address", "masked"),
    [
        ("jane.doe@example.com", "j***@example.com"),
        ("j@example.com", "j***@example.com"),
        ("no-at-sign", "***"),
        ("", "***"),
    ],
)
def test_mask_email(address: str, masked: str) -> None:
    assert mask_email(address) == masked


def test_errors_carry_their_data() -> None:
    err = ValidationError("email", "error.email.too_long", max=254)
    assert (err.field, err.key, err.params) == ("email", "error.email.too_long", {"max": 254})
    assert ClientRateLimited(42).retry_after == 42


def test_one_post_judged_by_the_client_and_the_inbox_limits() -> None:
    from regflow.domain import Limit, LimitState, SendLog, count_client, count_send

    client = Limit(max_count=2, window_seconds=3600)
    first = count_client(None, client, 100)
    assert first == LimitState.first(100)
    second = count_client(first, client, 110)
    assert second.count == 2
    with pytest.raises(ClientRateLimited) as info:
        count_client(second, client, 120)
    assert info.value.retry_after == 100 + 3600 - 120
    inbox = Limit(max_count=1, window_seconds=86400, min_interval_seconds=60)
    sent = count_send(SendLog(), inbox, 100)
    assert sent == SendLog((100,))
    assert count_send(sent, inbox, 130) is None  # limited: the caller answers as ever
