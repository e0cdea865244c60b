"""MailSender: delivers the mail the table's stream says is owed (the outbox on AWS).

- INSERT of a `REG#` item owes its verification mail (or "already registered").
- MODIFY of a `REG#` item from PENDING to CONFIRMED owes the owner notification.
- Anything else (limit counters, address locks, TTL deletions) owes nothing; the event source
  mapping filters those out with `FILTER_PATTERNS` before the function is even invoked.

Records are delivered in stream order. At the first record that cannot be delivered the batch
stops and reports that record's sequence number (`ReportBatchItemFailures`): Lambda then retries
from that record on, so nothing already sent is sent again, and nothing later is reported
failed after being sent. Transient SES errors are retried a few times in-process first. A
visitor's address that SES rejects for good is logged (masked) and skipped; the owner
notification is never skipped: it is reported until it goes out or, after the mapping's
bounded retries, lands in the dead-letter queue, from which `regflow redrive` (regflow.redrive)
delivers it with this module's `entry_from_record` and `deliver_entry`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from enum import StrEnum
from typing import Any

from regflow import aws
from regflow.adapters.dynamodb import registration_from_item
from regflow.domain import MailDeliveryError, MessageKind, Message, Status, mask_email
from regflow.service import RegistrationService

log = logging.getLogger("regflow.mail_sender")

# Must equal the event source mapping's FilterCriteria in template.yaml (a test checks it).
FILTER_PATTERNS: tuple[Mapping[str, Any], ...] = (
    {"eventName": ["INSERT"], "dynamodb": {"Keys": {"pk": {"S": [{"prefix": "REG#"}]}}}},
    {
        "eventName": ["MODIFY"],
        "dynamodb": {
            "OldImage": {"status": {"S": ["PENDING"]}},
            "NewImage": {"status": {"S": ["CONFIRMED"]}},
        },
    },
)

ATTEMPTS = 3  # per record, in-process, for transient errors
BACKOFF_SECONDS = 0.2  # doubled after each attempt
MIN_REMAINING_MS = 3000  # stop before the function's timeout, never in the middle of a send


def entry_from_record(record: Mapping[str, Any]) -> Message | None:
    """The mail a stream record owes, or None."""
    dyn = record.get("dynamodb") or {}
    pk = ((dyn.get("Keys") or {}).get("pk") or {}).get("S", "")
    if not isinstance(pk, str) or not pk.startswith("REG#"):
        return None
    name = record.get("eventName")
    new = dyn.get("NewImage")
    if name == "INSERT" and new:
        return Message(MessageKind.VERIFICATION, registration_from_item(new))
    old = dyn.get("OldImage")
    if (
        name == "MODIFY"
        and old
        and new
        and (old.get("status") or {}).get("S") == Status.PENDING.value
        and (new.get("status") or {}).get("S") == Status.CONFIRMED.value
    ):
        return Message(MessageKind.OWNER_NOTIFICATION, registration_from_item(new))
    return None


class Delivery(StrEnum):
    """What became of one owed mail (`deliver_entry`)."""

    SENT = "sent"
    NOT_NEEDED = "not-needed"  # no longer owed (e.g. the registration expired first)
    REJECTED = "rejected"  # a visitor's address SES rejects for good: logged, skipped


def deliver(
    service: RegistrationService,
    entry: Message,
    *,
    attempts: int = ATTEMPTS,
    backoff: float = BACKOFF_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
) -> bool:
    """`service.deliver(entry)`, retrying transient mail errors `attempts` times in all. True if
    a message was sent."""
    for attempt in range(1, attempts + 1):
        try:
            return service.deliver(entry)
        except MailDeliveryError as exc:
            if not exc.transient or attempt == attempts:
                raise
            log.info(
                "mail delayed, retrying",
                extra={"registration_id": entry.registration.id, "attempt": attempt},
            )
            sleep(backoff * 2 ** (attempt - 1))
    raise AssertionError("unreachable: the last attempt returns or raises")


def deliver_entry(
    service: RegistrationService,
    entry: Message,
    *,
    attempts: int = ATTEMPTS,
    backoff: float = BACKOFF_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
) -> Delivery:
    """Deliver one owed mail as the sender does (also used by `regflow redrive`). Raises
    `MailDeliveryError` when the mail is still owed and must be tried again."""
    try:
        sent = deliver(service, entry, attempts=attempts, backoff=backoff, sleep=sleep)
    except MailDeliveryError as exc:
        if not exc.transient and entry.kind is MessageKind.VERIFICATION:
            log.warning(
                "verification mail rejected by the mail service; skipped",
                extra={
                    "registration_id": entry.registration.id,
                    "to": mask_email(entry.registration.email),
                },
            )
            return Delivery.REJECTED
        raise
    return Delivery.SENT if sent else Delivery.NOT_NEEDED


def process(
    records: Sequence[Mapping[str, Any]],
    service: RegistrationService,
    *,
    remaining_ms: Callable[[], int] | None = None,
    attempts: int = ATTEMPTS,
    backoff: float = BACKOFF_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, list[dict[str, str]]]:
    """Deliver what `records` owe, in order; the partial batch response."""
    for record in records:
        sequence = str((record.get("dynamodb") or {}).get("SequenceNumber", ""))
        failed = {"batchItemFailures": [{"itemIdentifier": sequence}]}
        if remaining_ms is not None and remaining_ms() < MIN_REMAINING_MS:
            log.warning("out of time; the rest of the batch is retried", extra={"seq": sequence})
            return failed
        entry: Message | None = None
        try:
            entry = entry_from_record(record)
            if entry is None:
                continue
            deliver_entry(service, entry, attempts=attempts, backoff=backoff, sleep=sleep)
        except MailDeliveryError as exc:
            assert entry is not None
            log.error(
                "mail not delivered; retried from this record",
                extra={
                    "kind": entry.kind.value,
                    "registration_id": entry.registration.id,
                    "transient": exc.transient,
                    "seq": sequence,
                },
            )
            return failed
        except Exception:
            # Never let one record fail the whole batch: that would resend the records before it.
            log.exception("record not processed; retried from this record", extra={"seq": sequence})
            return failed
    return {"batchItemFailures": []}


aws.init_on_lambda(aws.Role.MAIL_SENDER)


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, list[dict[str, str]]]:
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    return process(
        event.get("Records") or [],
        aws.service(aws.Role.MAIL_SENDER),
        remaining_ms=remaining,
        attempts=ATTEMPTS,
        backoff=BACKOFF_SECONDS,
    )
