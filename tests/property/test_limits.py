"""Property-based tests of the per-address limits: for any schedule of posts, the mail sent
obeys the minimum interval and the daily cap, and matches a simple independent model."""

from __future__ import annotations

import itertools
from datetime import timedelta

from hypothesis import example, given, settings
from hypothesis import strategies as st

from regflow.domain import CreateResult
from tests.unit.fakes import START, world

ADDRESSES = ["jane@example.com", "JANE@example.com", "john@example.com"]

schedules = st.lists(
    st.tuples(
        st.sampled_from([0, 1, 30, 59, 60, 61, 600, 3600, 6 * 3600, 23 * 3600, 86399, 86400]),
        st.sampled_from(ADDRESSES),
    ),
    min_size=1,
    max_size=40,
)


def model(posts: list[tuple[int, str]], interval: int, cap: int, window: int) -> list[int]:
    """The times (seconds) at which each post was accepted, per the documented rules: at
    least `interval` seconds since the address's last accepted post, and fewer than `cap`
    accepted posts of that address in the `window` seconds before it (a rolling window:
    an accepted post at t stops counting at t + window)."""
    accepted: list[int] = []
    history: dict[str, list[int]] = {}  # key -> every accepted post of the address
    for at, address in posts:
        times = history.setdefault(address.lower(), [])
        if times and at - times[-1] < interval:
            continue
        if sum(1 for t in times if at - t < window) >= cap:
            continue
        times.append(at)
        accepted.append(at)
    return accepted


# One address, posts mostly just over a minute apart with long pauses between bursts: the
# shapes where a fixed window and a rolling one disagree (bursts straddling a day boundary).
bursts = st.lists(
    st.tuples(
        st.sampled_from([61, 61, 61, 120, 600, 3600, 6 * 3600, 20 * 3600, 23 * 3600]),
        st.just("jane@example.com"),
    ),
    min_size=5,
    max_size=30,
)

DAY_BOUNDARY_BURST = [(0, "jane@example.com"), (23 * 3600 + 50 * 60, "jane@example.com")] + [
    (120, "jane@example.com")
] * 12


@settings(max_examples=150, deadline=None)
@given(steps=schedules)
def test_mail_per_address_matches_the_model(steps: list[tuple[int, str]]) -> None:
    check(steps)


@settings(max_examples=100, deadline=None)
@given(steps=bursts)
@example(steps=DAY_BOUNDARY_BURST)
def test_bursts_around_day_boundaries_match_the_model(steps: list[tuple[int, str]]) -> None:
    check(steps)


def check(steps: list[tuple[int, str]]) -> None:
    w = world(IP_LIMIT_PER_HOUR="0")
    posts: list[tuple[int, str]] = []
    at = 0
    sent_at: dict[str, list[int]] = {}
    for gap, address in steps:
        at += gap
        w.clock.now = START + timedelta(seconds=at)
        posts.append((at, address))
        result = w.intake.register("Jane", address)
        if result is CreateResult.CREATED:
            sent_at.setdefault(address.lower(), []).append(at)
        sent = w.drain()
        assert sent == (1 if result is CreateResult.CREATED else 0)
    expected = model(posts, interval=60, cap=5, window=86400)
    assert sorted(t for times in sent_at.values() for t in times) == expected
    for times in sent_at.values():
        assert all(b - a >= 60 for a, b in itertools.pairwise(times))
        # The daily cap holds over any rolling 24 hours, not just per fixed window.
        for i, first in enumerate(times):
            assert sum(1 for t in times[i:] if t - first < 86400) <= 5
