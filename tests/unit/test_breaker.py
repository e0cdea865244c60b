"""The mail breaker's rule (`domain.breaker`): pure, on a hand-moved clock."""

from __future__ import annotations

from regflow.domain.breaker import (
    BREAKER_PROBE_SECONDS,
    BREAKER_WINDOW_SECONDS,
    CLOSED,
    Breaker,
    Refusal,
)


def refusal(at: float, domain: str, n: int = 0) -> Refusal:
    return Refusal(at=at, domain=domain, key=f"k{n}@{domain}", registration_id=f"r{n}")


def feed(state: Breaker, refusals: list[Refusal]) -> tuple[Breaker, list[object]]:
    verdicts: list[object] = []
    for r in refusals:
        state, undo = state.refused(r)
        verdicts.append(undo)
    return state, verdicts


def test_five_refusals_at_three_domains_within_ten_minutes_open_it() -> None:
    rs = [refusal(100.0 + i, d, i) for i, d in enumerate(["a", "b", "c", "a", "b"])]
    state, verdicts = feed(CLOSED, rs)
    assert verdicts[:4] == [None] * 4  # each stands (suppressed) until the fifth
    assert verdicts[4] == tuple(rs[:4])  # the fifth opens it: undo the four before it
    assert state.open and state.opened_at == rs[4].at
    again, undo = state.refused(refusal(200.0, "d", 9))
    assert (again, undo) == (state, ())  # open: every refusal parks


def test_two_domains_or_a_spread_out_run_do_not_open_it() -> None:
    state, verdicts = feed(CLOSED, [refusal(100.0 + i, "ab"[i % 2], i) for i in range(8)])
    assert not state.open and set(verdicts) == {None}  # one domain's server can be strict
    slow = [refusal(i * (BREAKER_WINDOW_SECONDS / 4 + 1), "abcde"[i], i) for i in range(5)]
    state, verdicts = feed(CLOSED, slow)
    assert not state.open and set(verdicts) == {None}
    assert len(state.refusals) == 4  # only the window's are kept


def test_a_successful_send_closes_it_and_restarts_the_window() -> None:
    state, _ = feed(CLOSED, [refusal(100.0 + i, "abcd"[i], i) for i in range(4)])
    state = state.sent()
    assert state == CLOSED
    state, verdicts = feed(state, [refusal(110.0, "e", 5)])
    assert verdicts == [None] and not state.open
    opened, _ = feed(CLOSED, [refusal(100.0 + i, "abcde"[i], i) for i in range(5)])
    assert opened.open and opened.sent() == CLOSED


def test_while_open_one_message_is_tried_at_a_time() -> None:
    opened, _ = feed(CLOSED, [refusal(100.0 + i, "abcde"[i], i) for i in range(5)])
    assert opened.probe(opened.opened_at or 0)[1] is False  # the next try after a pause
    at = opened.probe_at
    state, may = opened.probe(at)
    assert may and state.probe_at == at + BREAKER_PROBE_SECONDS
    assert state.probe(at + 1)[1] is False  # one at a time
    assert CLOSED.probe(0.0) == (CLOSED, True)
