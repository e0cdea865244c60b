"""Property-based tests of the per-address limits: for any schedule of posts, the mail sent
obeys the minimum interval and the daily cap, and matches a simple independent model."""

from __future__ import annotations

import itertools
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from regflow.domain import CreateResult
from tests.unit.fakes import START, world

ADDRESSES = ["jane@example.com", "JANE@example.com", "john@example.com"]

schedules = st.lists(
    st.tuples(
        st.sampled_from([0, 1, 30, 59, 60, 61, 600, 3600, 6 * 3600, 86399, 86400]),
        st.sampled_from(ADDRESSES),
    ),
    min_size=1,
    max_size=40,
)


def model(posts: list[tuple[int, str]], interval: int, cap: int, window: int) -> list[int]:
    """The times (seconds) at which each post was accepted, per the documented rules: at
    least `interval` seconds since the address's last accepted post, and at most `cap`
    accepted posts in a window of `window` seconds that opens at the first accepted post
    after the previous window ended."""
    accepted: list[int] = []
    state: dict[str, tuple[int, int, int]] = {}  # key -> (window start, count, last)
    for at, address in posts:
        key = address.lower()
        if key in state:
            start, count, last = state[key]
            if at - last < interval:
                continue
            if at - start < window and count >= cap:
                continue
            state[key] = (start, count + 1, at) if at - start < window else (at, 1, at)
        else:
            state[key] = (at, 1, at)
        accepted.append(at)
    return accepted


@settings(max_examples=150, deadline=None)
@given(steps=schedules)
def test_mail_per_address_matches_the_model(steps: list[tuple[int, str]]) -> None:
    w = world(IP_LIMIT_PER_HOUR="0")
    posts: list[tuple[int, str]] = []
    at = 0
    sent_at: dict[str, list[int]] = {}
    for gap, address in steps:
        at += gap
        w.clock.now = START + timedelta(seconds=at)
        posts.append((at, address))
        result = w.service.register("Jane", address)
        if result is CreateResult.CREATED:
            sent_at.setdefault(address.lower(), []).append(at)
        sent = w.drain()
        assert sent == (1 if result is CreateResult.CREATED else 0)
    expected = model(posts, interval=60, cap=5, window=86400)
    assert sorted(t for times in sent_at.values() for t in times) == expected
    for times in sent_at.values():
        assert all(b - a >= 60 for a, b in itertools.pairwise(times))
        # The daily cap is a fixed window opened by an email: at most 5 in each such window,
        # so at most 2 * 5 - 1 = 9 in a rolling 24 hours (two windows' worth, back to back).
        opener = times[0]
        in_window = 0
        for t in times:
            if t - opener >= 86400:
                opener, in_window = t, 0
            in_window += 1
            assert in_window <= 5
        for i, first in enumerate(times):
            assert sum(1 for t in times[i:] if t - first < 86400) <= 2 * 5 - 1
