"""The one delivery policy: retry, park or drop, and how often."""

from __future__ import annotations

import random

import pytest

from regflow.domain import (
    DEFAULT_POLICY,
    Action,
    DeliveryPolicy,
    FailureClass,
    MessageKind,
)

VERIFY = MessageKind.VERIFICATION
OWNER = MessageKind.OWNER_NOTIFICATION


def test_transient_failures_retry_quickly_then_park() -> None:
    p = DEFAULT_POLICY
    for attempts in range(1, p.quick_attempts):
        assert p.decide(VERIFY, FailureClass.TRANSIENT, attempts).action is Action.RETRY
    parked = p.decide(VERIFY, FailureClass.TRANSIENT, p.quick_attempts)
    assert (parked.action, parked.automatic) == (Action.PARK, True)


@pytest.mark.parametrize("kind", [VERIFY, OWNER])
def test_account_failures_park_at_once(kind: MessageKind) -> None:
    verdict = DEFAULT_POLICY.decide(kind, FailureClass.ACCOUNT, 1)
    assert (verdict.action, verdict.automatic) == (Action.PARK, True)


def test_only_a_refused_visitor_address_is_dropped() -> None:
    assert DEFAULT_POLICY.decide(VERIFY, FailureClass.RECIPIENT, 1).action is Action.DROP
    assert DEFAULT_POLICY.decide(OWNER, FailureClass.RECIPIENT, 1).action is Action.PARK


def test_parked_messages_stop_retrying_automatically_after_the_window() -> None:
    p = DEFAULT_POLICY
    late = p.decide(OWNER, FailureClass.TRANSIENT, 50, failing_for=p.retry_for_seconds)
    assert (late.action, late.automatic) == (Action.PARK, False)
    inside = p.decide(OWNER, FailureClass.TRANSIENT, 50, failing_for=p.retry_for_seconds - 1)
    assert inside.automatic


def test_backoff_grows_and_is_capped() -> None:
    p = DeliveryPolicy(base_delay=2.0, max_delay=600.0, jitter=0.2)
    rng = random.Random(7)
    for attempts in range(1, 30):
        expected = min(600.0, 2.0 * 2 ** (attempts - 1))
        assert min(600.0, 0.8 * expected) <= p.backoff(attempts, rng) <= min(600.0, 1.2 * expected)


def test_worst_case_attempts_are_bounded() -> None:
    p = DEFAULT_POLICY
    # 3 quick tries, doubling from 2 s to the one-hour cap (12 steps), then hourly for 14 days
    assert p.max_attempts() == 347
    assert DeliveryPolicy(retry_for_seconds=3600).max_attempts() == 12
