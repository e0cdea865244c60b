"""What the table's stream says is owed: on AWS the stream is the outbox of fresh messages.

- INSERT of a `REG#` item owes its verification message.
- MODIFY of a `REG#` item from PENDING to CONFIRMED owes the owner notification, and one
  `REGISTRATION_CONFIRMED` event message per configured event target (`messages_from_record`:
  EventBridge, each webhook), each delivered and parked on its own.
- INSERT of an `ERASED#` item (a self-service erasure) owes the owner's erasure notice and
  one `REGISTRATION_ERASED` event per target.
- Anything else (limit counters, address locks, parked messages, a recorded delivery failure,
  TTL deletions) owes nothing; the event source mapping filters those out with
  `FILTER_PATTERNS` before the mail sender is even invoked.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from regflow.adapters.dynamodb import keys
from regflow.domain import Message, MessageKind, Status

# Must equal the mail sender's event source mapping FilterCriteria in template.yaml (a test
# compares them).
FILTER_PATTERNS: tuple[Mapping[str, Any], ...] = (
    {"eventName": ["INSERT"], "dynamodb": {"Keys": {"pk": {"S": [{"prefix": keys.REG_PREFIX}]}}}},
    {
        "eventName": ["MODIFY"],
        "dynamodb": {
            "OldImage": {"status": {"S": [Status.PENDING.value]}},
            "NewImage": {"status": {"S": [Status.CONFIRMED.value]}},
        },
    },
    {
        "eventName": ["INSERT"],
        "dynamodb": {"Keys": {"pk": {"S": [{"prefix": keys.ERASED_PREFIX}]}}},
    },
)


def message_from_record(record: Mapping[str, Any]) -> Message | None:
    """The message a stream record (as Lambda delivers it) owes, or None."""
    dyn = record.get("dynamodb") or {}
    pk = ((dyn.get("Keys") or {}).get(keys.PK) or {}).get("S", "")
    name = record.get("eventName")
    new = dyn.get("NewImage")
    if isinstance(pk, str) and pk.startswith(keys.ERASED_PREFIX):
        if name == "INSERT" and new:  # a self-service erasure (erasure.py)
            snapshot = keys.registration_from_item(new[keys.REGISTRATION]["M"])
            return Message(MessageKind.ERASURE_NOTICE, snapshot)
        return None
    if not isinstance(pk, str) or not pk.startswith(keys.REG_PREFIX):
        return None
    if name == "INSERT" and new:
        return Message(MessageKind.VERIFICATION, keys.registration_from_item(new))
    old = dyn.get("OldImage")
    if (
        name == "MODIFY"
        and old
        and new
        and keys.status_of(old) == Status.PENDING.value
        and keys.status_of(new) == Status.CONFIRMED.value
    ):
        return Message(MessageKind.OWNER_NOTIFICATION, keys.registration_from_item(new))
    return None


def messages_from_record(record: Mapping[str, Any], event_targets: Iterable[str]) -> list[Message]:
    """Every message a stream record owes: `message_from_record`'s, and for a confirmation one
    event message per target in `event_targets` (in that order, after the owner's mail)."""
    message = message_from_record(record)
    if message is None:
        return []
    owed = [message]
    event = {
        MessageKind.OWNER_NOTIFICATION: MessageKind.REGISTRATION_CONFIRMED,
        MessageKind.ERASURE_NOTICE: MessageKind.REGISTRATION_ERASED,
    }.get(message.kind)
    if event is not None:
        owed += [Message(event, message.registration, target) for target in event_targets]
    return owed
