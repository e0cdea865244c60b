"""The delivery policy: one set of rules for every sender (the AWS mail sender, the embedded
outbox worker, `regflow redrive`, `regflow retry-dead`).

A failed delivery has a `FailureClass` (judged by the channel adapter from error codes, never
from text). From it and the attempts made so far the policy decides:

- DROP: a final refusal of this one recipient, for a message to the registrant (a mistyped or
  dead address). The message is removed and the failure recorded on the registration
  (`Registration.delivery_failure`). Nothing else is ever dropped.
- RETRY: a transient failure, the first `quick_attempts` times, after an exponential backoff.
- PARK: everything else (an account-level refusal the operator can fix; a transient failure
  that outlasted the quick retries; a refusal of the owner's own address). The message is kept
  whole and is still retried automatically, backing off to one try every `max_delay` seconds,
  for `retry_for_seconds` after its first failure; after that it waits for an operator
  (`regflow retry-dead` embedded, `regflow redrive` on AWS).

Worst case for one owed message whose every attempt fails: `max_attempts()` deliveries over
`retry_for_seconds` (with the defaults: 3 quick tries, then about one an hour for 14 days).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum

from regflow.domain.messages import MessageKind
from regflow.domain.model import FailureClass


class Action(StrEnum):
    RETRY = "retry"
    PARK = "park"
    DROP = "drop"


@dataclass(frozen=True, slots=True)
class Verdict:
    action: Action
    delay: float  # seconds until the next attempt (RETRY, PARK); 0 for DROP
    automatic: bool = True  # False: no further automatic attempt (an operator must ask)


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    quick_attempts: int = 3
    base_delay: float = 2.0
    max_delay: float = 3600.0
    retry_for_seconds: float = 14 * 24 * 3600.0
    jitter: float = 0.2  # +-20 % so that parked messages do not retry in lockstep

    def backoff(self, attempts: int, rng: random.Random | None = None) -> float:
        """Seconds before attempt `attempts + 1`: exponential from `base_delay`, capped."""
        delay = min(self.max_delay, self.base_delay * 2.0 ** max(0, min(attempts - 1, 40)))
        spread = (rng or random).uniform(1 - self.jitter, 1 + self.jitter) if self.jitter else 1
        return min(self.max_delay, delay * spread)

    def decide(
        self,
        kind: MessageKind,
        failure: FailureClass,
        attempts: int,
        *,
        failing_for: float = 0.0,
    ) -> Verdict:
        """What to do after attempt number `attempts` failed with `failure`; `failing_for` is
        the seconds since the message's first failed attempt."""
        if failure is FailureClass.RECIPIENT and kind.to_registrant:
            return Verdict(Action.DROP, 0.0, automatic=False)
        if failure is FailureClass.TRANSIENT and attempts < self.quick_attempts:
            return Verdict(Action.RETRY, self.backoff(attempts))
        automatic = failing_for < self.retry_for_seconds
        return Verdict(Action.PARK, self.backoff(attempts), automatic=automatic)

    def max_attempts(self) -> int:
        """Deliveries one owed message can cause when every one fails (no jitter)."""
        elapsed, attempts = 0.0, 1
        while True:
            delay = min(self.max_delay, self.base_delay * 2.0 ** max(0, min(attempts - 1, 40)))
            if elapsed + delay >= self.retry_for_seconds:
                return attempts + 1  # the last automatic one, at or after the deadline
            elapsed += delay
            attempts += 1


DEFAULT_POLICY = DeliveryPolicy()
