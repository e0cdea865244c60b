"""The mail sender: delivers what the table's stream says is owed (the outbox on AWS).

Which records owe what is the DynamoDB adapter's knowledge (`message_from_record`); the event
source mapping filters the rest out with `FILTER_PATTERNS` before the function is invoked.

Records are delivered in stream order, one attempt each (SES retries are off: the delivery
policy owns them). What the policy says:

- sent, or no longer owed: next record;
- DROP (a final refusal of the visitor's address): recorded on the registration, next record;
- PARK (the operator must fix something: unverified sender, access denied, paused, the owner's
  address refused): the whole message is kept in the table, next record. Parked messages are
  retried from there (`regflow redrive`), never lost to the stream's 24-hour retention;
- RETRY (throttling, an outage): the batch stops at this record and reports its sequence
  number (`ReportBatchItemFailures`), so Lambda retries from it and nothing already sent is
  sent again. After the mapping's bounded retries the batch's position goes to the dead-letter
  queue, from which `regflow redrive` delivers it.

Worst case per owed message on this path: 1 + the mapping's MaximumRetryAttempts SES calls
(no SDK retries, no in-process retries), then the dead-letter queue.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from regflow.adapters.dynamodb import message_from_record
from regflow.delivery import DeliveryService, Result

log = logging.getLogger("regflow.mail_sender")

MIN_REMAINING_MS = 3000  # stop before the function's timeout, never in the middle of a send

BatchResponse = dict[str, list[dict[str, str]]]


def process(
    records: Sequence[Mapping[str, Any]],
    delivery: DeliveryService,
    *,
    remaining_ms: Callable[[], int] | None = None,
) -> BatchResponse:
    """Deliver what `records` owe, in order; the partial batch response."""
    for record in records:
        sequence = str((record.get("dynamodb") or {}).get("SequenceNumber", ""))
        failed = {"batchItemFailures": [{"itemIdentifier": sequence}]}
        if remaining_ms is not None and remaining_ms() < MIN_REMAINING_MS:
            log.warning("out of time; the rest of the batch is retried", extra={"seq": sequence})
            return failed
        try:
            message = message_from_record(record)
            if message is None:
                continue
            result = delivery.deliver_fresh(message)
        except Exception:
            # Never let one record fail the whole batch: that would resend the records before it.
            log.exception("record not processed; retried from this record", extra={"seq": sequence})
            return failed
        if result is Result.RETRY:
            log.warning("retried from this record", extra={"seq": sequence})
            return failed
    return {"batchItemFailures": []}


def handle(event: Mapping[str, Any], context: Any) -> BatchResponse:
    """The Lambda entry point's body (`regflow.handlers.mail_sender`)."""
    from regflow.aws import wiring

    return process(
        event.get("Records") or [],
        wiring.delivery(),
        remaining_ms=getattr(context, "get_remaining_time_in_millis", None),
    )
