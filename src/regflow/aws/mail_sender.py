"""The mail sender: delivers what the table's stream says is owed (the outbox on AWS).

Which records owe what is the DynamoDB adapter's knowledge (`message_from_record`); the event
source mapping filters the rest out with `FILTER_PATTERNS` before the function is invoked.

Records are delivered in stream order under the one delivery policy
(`DeliveryService.deliver_fresh`; SES's SDK retries are off, the policy owns them):

- sent, or no longer owed: next record;
- a transient failure (throttling, an outage): the policy's quick retries, in process, with
  backoff, while the invocation has time;
- DROP (a final refusal of the visitor's address): recorded on the registration, next record;
- PARK (the quick retries did not help, or the operator must fix something: unverified sender,
  access denied, paused, the owner's address refused): the whole message is kept in the table
  (`Outbox.park`), next record. Parked messages are retried from there by the scheduled
  recovery (`regflow.aws.recovery`) and by `regflow redrive`, never lost to the stream's
  24-hour retention.

Only when a record cannot be handled at all (the table refuses the park, say) does the batch
stop there and report its sequence number (`ReportBatchItemFailures`), so Lambda retries from
it and nothing already sent is sent again; after the mapping's bounded retries the batch's
position goes to the dead-letter queue, from which `regflow redrive` delivers it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from regflow.adapters.dynamodb import messages_from_record
from regflow.delivery import DeliveryService
from regflow.domain import Message, MessageKind

log = logging.getLogger("regflow.mail_sender")

# No new record with less left than one message's worst case, so the function never times out
# in the middle of a message (the arithmetic: regflow.aws.budget, checked by a test).
MIN_REMAINING_MS = 35_000

BatchResponse = dict[str, list[dict[str, str]]]


def process(
    records: Sequence[Mapping[str, Any]],
    delivery: DeliveryService,
    *,
    remaining_ms: Callable[[], int] | None = None,
    sleep: Callable[[float], None] | None = None,
) -> BatchResponse:
    """Deliver what `records` owe, in order; the partial batch response. `sleep` waits out
    the quick retries' backoff (default `time.sleep`)."""
    wait = sleep or time.sleep

    def seconds_left() -> float:
        if remaining_ms is None:
            return float("inf")
        return (remaining_ms() - MIN_REMAINING_MS) / 1000

    for record in records:
        sequence = str((record.get("dynamodb") or {}).get("SequenceNumber", ""))
        failed = {"batchItemFailures": [{"itemIdentifier": sequence}]}
        if remaining_ms is not None and remaining_ms() < MIN_REMAINING_MS:
            log.warning("out of time; the rest of the batch is retried", extra={"seq": sequence})
            return failed
        try:
            # a confirmation owes the owner's mail and one event per target (EventBridge,
            # each webhook), each settled on its own by the policy
            owed = messages_from_record(record, delivery.event_targets)
            for index, message in enumerate(owed):
                if index and remaining_ms is not None and remaining_ms() < MIN_REMAINING_MS:
                    # a record owing several messages (the owner's mail, then one event per
                    # target) and no time left: the rest wait parked, due now, for the
                    # recovery; none of this record is sent twice, none is lost
                    defer(delivery, message)
                    continue
                delivery.deliver_fresh(message, sleep=wait, time_left=seconds_left)
            if owed and owed[0].kind is MessageKind.ERASURE_NOTICE:
                # all delivered or parked (each parked one keeps its own copy): the erasure
                # record, the last item naming the address, goes (docs/erasure.md)
                forget = getattr(delivery.outbox, "forget_erasure", None)
                if forget is not None:
                    forget(owed[0].registration.id)
        except Exception:
            # Never let one record fail the whole batch: that would resend the records before it.
            log.exception("record not processed; retried from this record", extra={"seq": sequence})
            delivery.metrics.emit({"RecordsFailed": 1.0})
            return failed
    return {"batchItemFailures": []}


def defer(delivery: DeliveryService, message: Message) -> None:
    """Keep `message` parked, due at once (the scheduled recovery sends it)."""
    assert delivery.outbox is not None
    now = time.time()
    delivery.outbox.park(message, attempts=0, error="Deferred", at=now, now=now)
    log.warning("out of time; message deferred to the recovery", extra={"kind": message.kind.value})


def handle(event: Mapping[str, Any], context: Any) -> BatchResponse:
    """The Lambda entry point's body (`regflow.handlers.mail_sender`)."""
    from regflow.aws import wiring

    return process(
        event.get("Records") or [],
        wiring.delivery(),
        remaining_ms=getattr(context, "get_remaining_time_in_millis", None),
    )
