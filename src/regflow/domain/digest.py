"""The owner's daily digest (`OWNER_DIGEST=daily`, docs/events.md): one mail a day listing the
registrations confirmed on the previous UTC day, instead of one mail per confirmation.

A digest is an owed `Message` like any other (kind `OWNER_DIGEST`), so it travels through the
outbox and the delivery policy: retried, parked, never lost. It is about a day, not about one
registration: its `registration` is a stand-in whose id names the day (`digest-2026-11-29`),
whose `timestamp` and `confirmed_at` are the window's start and end; the sender lists the
confirmations in that window when it renders the mail.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from regflow.domain.messages import Message, MessageKind
from regflow.domain.model import Registration, Status

DIGEST_ID_PREFIX = "digest-"


def digest_day(now: datetime) -> str:
    """The day the digest due at `now` covers: the previous UTC day (YYYY-MM-DD)."""
    return (now.astimezone(UTC) - timedelta(days=1)).date().isoformat()


def digest_message(day: str) -> Message:
    """The digest owed for `day` (YYYY-MM-DD, UTC): confirmations in [day 00:00, next 00:00)."""
    since = datetime.fromisoformat(day).replace(tzinfo=UTC)
    until = since + timedelta(days=1)
    stand_in = Registration(
        id=f"{DIGEST_ID_PREFIX}{day}",
        name="",
        email="",
        status=Status.CONFIRMED,
        timestamp=since,
        ttl=None,
        confirmed_at=until,
    )
    return Message(MessageKind.OWNER_DIGEST, stand_in)


def window_of(message: Message) -> tuple[datetime, datetime]:
    """[since, until) of a digest message."""
    reg = message.registration
    assert reg.confirmed_at is not None
    return reg.timestamp, reg.confirmed_at
