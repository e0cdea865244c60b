"""Events: what regflow tells the owner's systems (webhooks, EventBridge) when a registration is
confirmed or erased. Values only; the channels that carry them are adapters
(`regflow.adapters.webhook`, `regflow.adapters.eventbridge`), and every event travels as an
owed `Message` through the outbox and the delivery policy, one message per target.

The schema is public (docs/events.md); change it only additively.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from regflow.domain.messages import Message, MessageKind
from regflow.domain.model import Registration

EVENTBRIDGE_TARGET = "eventbridge"
WEBHOOK_TARGET_PREFIX = "webhook:"

# EventBridge `detail-type`, and the webhook payload's `type`.
DETAIL_TYPES = {
    MessageKind.REGISTRATION_CONFIRMED: "Registration Confirmed",
    MessageKind.REGISTRATION_ERASED: "Registration Erased",
}
WEBHOOK_TYPES = {
    MessageKind.REGISTRATION_CONFIRMED: "registration.confirmed",
    MessageKind.REGISTRATION_ERASED: "registration.erased",
}
_ID_SUFFIX = {
    MessageKind.REGISTRATION_CONFIRMED: "confirmed",
    MessageKind.REGISTRATION_ERASED: "erased",
}


def webhook_target(url: str) -> str:
    """The target of one webhook URL: a hash, so that the outbox never stores the URL (it may
    hold a credential) and a parked event still finds its URL after the list is reordered."""
    return WEBHOOK_TARGET_PREFIX + hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Event:
    """One event for one target."""

    id: str  # the idempotency id: the same for every target and every retry of this event
    kind: MessageKind
    target: str
    time: str  # ISO-8601 UTC: when it happened (confirmation or erasure)
    detail: dict[str, Any] = field(hash=False)

    @property
    def detail_type(self) -> str:
        return DETAIL_TYPES[self.kind]

    @property
    def type(self) -> str:
        return WEBHOOK_TYPES[self.kind]


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def detail_of(kind: MessageKind, registration: Registration) -> dict[str, Any]:
    """The documented `detail` (docs/events.md). Both kinds carry the id and the address:
    an erasure's receiver needs them to find the record to erase in its own systems."""
    detail: dict[str, Any] = {
        "id": registration.id,
        "email": registration.email,
        "language": registration.language,
        "status": registration.status.value,
        "registeredAt": _iso(registration.timestamp),
        "confirmedAt": _iso(registration.confirmed_at),
    }
    if kind is MessageKind.REGISTRATION_CONFIRMED:
        detail["name"] = registration.name
    return detail


def event_of(message: Message, *, now: datetime) -> Event:
    """The event an owed event message publishes. Its time is the confirmation's (stable
    across retries); an erasure's is `now` (the erasure happened just before it was owed)."""
    if not message.kind.is_event:
        raise ValueError(f"{message.kind.value} is not an event")
    reg = message.registration
    at = reg.confirmed_at if message.kind is MessageKind.REGISTRATION_CONFIRMED else None
    return Event(
        id=f"{reg.id}.{_ID_SUFFIX[message.kind]}",
        kind=message.kind,
        target=message.target,
        time=_iso(at or now) or "",
        detail=detail_of(message.kind, reg),
    )
