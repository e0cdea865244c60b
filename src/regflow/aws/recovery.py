"""Parked-message recovery: a scheduled function that retries the messages the mail sender
parked in the table (`Outbox.park`), under the delivery policy, until the cause is fixed.

It runs every few minutes (template.yaml, `ParkedMessageRecovery`); each run claims the due
parked messages batch by batch and stops taking new ones with time to spare. A message that
fails again is parked again with a longer backoff (capped at the policy's `max_delay`); after
the policy's `retry_for_seconds` it waits for an operator (`regflow redrive`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from regflow.delivery import DeliveryService, Result
from regflow.ports import Outbox

log = logging.getLogger("regflow.recovery")

BATCH = 25
# No new message with less left than one message's worst case (regflow.aws.budget).
MIN_REMAINING_MS = 45_000


def recover(
    delivery: DeliveryService,
    outbox: Outbox,
    *,
    remaining_ms: Callable[[], int] | None = None,
    now: Callable[[], float] = time.time,
) -> dict[str, int]:
    """Deliver the due parked messages; counts by result. Records `OldestParkedAgeSeconds`:
    the age (since its first failure) of the oldest message claimed, 0 when none was due. A
    parked message is claimed at least once per backoff cap (an hour), so the metric's hourly
    maximum is the age of the oldest message still retried automatically."""
    counts = {result.value: 0 for result in Result}
    oldest = 0.0
    try:
        while remaining_ms is None or remaining_ms() >= MIN_REMAINING_MS:
            started = now()
            claims = outbox.claim_due(started, BATCH)
            if not claims:
                break
            for claimed in claims:
                if claimed.first_failed_at is not None:
                    oldest = max(oldest, started - claimed.first_failed_at)
            for claimed in claims:
                if remaining_ms is not None and remaining_ms() < MIN_REMAINING_MS:
                    # unclaimed by its lease running out: the next run takes it
                    log.warning("out of time; the rest waits for the next run")
                    return counts
                counts[delivery.deliver_claimed(claimed).value] += 1
            if counts[Result.SENT.value] + counts[Result.NOT_NEEDED.value] == 0:
                break  # everything this round failed again (and is parked for later): stop
    finally:
        delivery.metrics.emit({"OldestParkedAgeSeconds": round(oldest, 1)}, unit="Seconds")
    if any(counts.values()):
        log.info("parked messages retried", extra=counts)
    return counts


def handle(event: Mapping[str, Any], context: Any) -> dict[str, int]:
    """The Lambda entry point's body (`regflow.handlers.recovery`)."""
    from regflow.aws import wiring

    delivery = wiring.delivery_for(wiring.Role.RECOVERY)
    assert delivery.outbox is not None
    return recover(
        delivery,
        delivery.outbox,
        remaining_ms=getattr(context, "get_remaining_time_in_millis", None),
    )
