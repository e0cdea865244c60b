"""Value types of the domain: limit counters, expiry, address keys, masking."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from regflow.domain import (
    ClientRateLimited,
    Limit,
    LimitState,
    Registration,
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


def test_hourly_client_limit() -> None:
    hourly = Limit(max_count=20, window_seconds=3600)
    s = LimitState.first(T0)
    for i in range(1, 20):
        s = s.after_event(hourly, T0 + i)
    assert s.count == 20
    assert not s.allows(hourly, T0 + 20)
    assert s.retry_after(hourly, T0 + 20) == 3580
    assert s.allows(hourly, T0 + 3600)


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
    err = ValidationError("email", "Bad address.")
    assert (err.field, err.message) == ("email", "Bad address.")
    assert ClientRateLimited(42).retry_after == 42
