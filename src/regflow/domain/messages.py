"""Messages: what a state change owes someone, on which channel.

A state change (a registration stored, a registration confirmed) owes messages; the store writes
the fact in the same atomic step as the change (the outbox), and a sender delivers it later,
off the request path, through a `Channel` (`regflow.ports`). Email is the only channel today; a
webhook or an event is one more `Channel` value and one more adapter, and the outbox and the
delivery policy carry it unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from regflow.domain.model import Registration


class Channel(StrEnum):
    """How a message travels."""

    EMAIL = "email"
    WEBHOOK = "webhook"  # an HTTP POST to one of the owner's `WEBHOOK_URL`s (regflow.events)
    EVENTBRIDGE = "eventbridge"  # an event on the owner's EventBridge bus (AWS)


class MessageKind(StrEnum):
    """What a message says."""

    VERIFICATION = "verification"  # new registration: a link, or "already registered"
    OWNER_NOTIFICATION = "owner-notification"  # a registration was confirmed
    # Events (regflow.events): one owed message per target (`Message.target`), so a failing
    # webhook never makes another target receive its event again.
    REGISTRATION_CONFIRMED = "registration-confirmed"
    REGISTRATION_ERASED = "registration-erased"
    # to the owner: a registrant erased their registration (docs/erasure.md)
    ERASURE_NOTICE = "erasure-notice"
    # to the owner, once a day instead of OWNER_NOTIFICATION with OWNER_DIGEST=daily: the
    # confirmations of one UTC day (`regflow.domain.digest`)
    OWNER_DIGEST = "owner-digest"

    @property
    def channel(self) -> Channel:
        return Channel.EMAIL

    @property
    def is_event(self) -> bool:
        """Published to the owner's systems (webhooks, EventBridge), not mailed."""
        return self in (MessageKind.REGISTRATION_CONFIRMED, MessageKind.REGISTRATION_ERASED)

    @property
    def outlives_registration(self) -> bool:
        """Owed because the registration is gone (an erasure): the message carries its own
        snapshot (id, address, language) and is delivered although the registration is not
        there any more; every other message whose registration is gone is no longer owed."""
        return self in (
            MessageKind.REGISTRATION_ERASED,
            MessageKind.ERASURE_NOTICE,
            MessageKind.OWNER_DIGEST,  # about a day, not about one registration
        )

    @property
    def to_registrant(self) -> bool:
        """Addressed to the visitor (not to the site owner)."""
        return self is MessageKind.VERIFICATION


def channel_of(kind: MessageKind, target: str = "") -> Channel:
    """The channel a message of `kind` to `target` travels on."""
    if kind.is_event:
        return Channel.WEBHOOK if target.startswith("webhook:") else Channel.EVENTBRIDGE
    return kind.channel


@dataclass(frozen=True, slots=True)
class Message:
    """One message owed: what kind, about which registration (as it was when the message
    became owed: everything needed to send it later)."""

    kind: MessageKind
    registration: Registration
    # Where an event goes (`regflow.events`: "eventbridge" or "webhook:<hash of the URL>");
    # "" for mail, whose recipient follows from the kind.
    target: str = ""

    @property
    def channel(self) -> Channel:
        return channel_of(self.kind, self.target)

    @property
    def key(self) -> str:
        """Identifies the message: one kind of message per registration (and target) is ever
        owed once."""
        if self.target:
            return f"{self.kind.value}:{self.target}:{self.registration.id}"
        return f"{self.kind.value}:{self.registration.id}"


@dataclass(frozen=True, slots=True)
class ClaimedMessage:
    """A message an outbox handed to one sender. `claim` is the adapter's own handle."""

    message: Message
    attempts: int  # deliveries tried so far, this one included
    claim: str
    first_failed_at: float | None = None  # epoch seconds of its first failed attempt


@dataclass(frozen=True, slots=True)
class ParkedMessage:
    """A message that could not be delivered yet and waits, with everything needed to send it."""

    message: Message
    attempts: int
    last_error: str  # an error code, never message text
    parked_at: float  # epoch seconds
    next_attempt_at: float | None  # None: retried only when an operator asks


@dataclass(frozen=True, slots=True)
class Email:
    """A rendered email, ready to hand to a mail adapter."""

    sender: str
    to: str
    subject: str
    text: str
    html: str
    reply_to: str | None = None
    # (name, value) tags the mail service reports back with bounces and complaints
    # (SES EmailTags): which message kind, which registration
    tags: tuple[tuple[str, str], ...] = ()
