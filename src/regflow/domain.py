"""Value types, outcomes and errors of the registration domain.

Nothing here knows about HTTP, Lambda, AWS, SQLite or SMTP.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum


class Status(StrEnum):
    PENDING = "PENDING"
    CONFIRMED = "CONFIRMED"


class Outcome(StrEnum):
    """What a click on a verification link did; the `?status=` of the confirmed page."""

    CONFIRMED = "confirmed"
    ALREADY_CONFIRMED = "already-confirmed"
    EXPIRED = "expired"
    INVALID = "invalid"


class MailKind(StrEnum):
    """The mail an outbox entry owes."""

    VERIFICATION = "verification"  # new registration: a link, or "already registered"
    OWNER_NOTIFICATION = "owner-notification"  # a registration was confirmed


def address_key(email: str) -> str:
    """Stable, case-insensitive key of an address (hex, 32 chars).

    Used to key per-address state (limits, the confirmed lock) without putting the address
    itself into keys, tokens or logs.
    """
    return hashlib.sha256(email.strip().lower().encode("utf-8")).hexdigest()[:32]


def mask_email(email: str) -> str:
    """`jane.doe@example.com` -> `j***@example.com`: safe for INFO logs."""
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"


@dataclass(frozen=True, slots=True)
class Registration:
    """One sign-up attempt. `id` is public-safe: it cannot confirm anything without the secret."""

    id: str
    name: str
    email: str
    status: Status
    timestamp: datetime  # when it was submitted (UTC)
    ttl: int | None  # epoch seconds after which a PENDING registration is dead; None once confirmed
    confirmed_at: datetime | None = None

    @property
    def addr_key(self) -> str:
        return address_key(self.email)

    def expired(self, now: datetime) -> bool:
        return (
            self.status is Status.PENDING
            and self.ttl is not None
            and self.ttl <= int(now.timestamp())
        )


@dataclass(frozen=True, slots=True)
class Limit:
    """At most `max_count` events per `window_seconds`, and at least `min_interval_seconds`
    between two events. `max_count == 0` turns the window part off; `min_interval_seconds == 0`
    the interval part."""

    max_count: int
    window_seconds: int
    min_interval_seconds: int = 0

    @property
    def enabled(self) -> bool:
        return self.max_count > 0 or self.min_interval_seconds > 0


@dataclass(frozen=True, slots=True)
class LimitState:
    """The stored state of one limit counter (per address or per client)."""

    window_start: int  # epoch seconds
    count: int
    last_at: int  # epoch seconds of the last counted event

    def allows(self, limit: Limit, now: int) -> bool:
        if limit.min_interval_seconds and now - self.last_at < limit.min_interval_seconds:
            return False
        if limit.max_count and not self.window_over(limit, now):
            return self.count < limit.max_count
        return True

    def window_over(self, limit: Limit, now: int) -> bool:
        return now - self.window_start >= limit.window_seconds

    def after_event(self, limit: Limit, now: int) -> LimitState:
        if self.window_over(limit, now):
            return LimitState(window_start=now, count=1, last_at=now)
        return LimitState(window_start=self.window_start, count=self.count + 1, last_at=now)

    def retry_after(self, limit: Limit, now: int) -> int:
        """Seconds until an event would be allowed again (at least 1)."""
        waits = [1]
        if limit.min_interval_seconds:
            waits.append(self.last_at + limit.min_interval_seconds - now)
        if limit.max_count and not self.window_over(limit, now) and self.count >= limit.max_count:
            waits.append(self.window_start + limit.window_seconds - now)
        return max(waits)

    @staticmethod
    def first(now: int) -> LimitState:
        return LimitState(window_start=now, count=1, last_at=now)


class CreateResult(StrEnum):
    CREATED = "created"  # registration stored, verification mail owed
    ADDRESS_LIMITED = "address-limited"  # nothing written: the per-address limit said no


@dataclass(frozen=True, slots=True)
class Email:
    """A message ready to hand to a mail adapter."""

    sender: str
    to: str
    subject: str
    text: str
    html: str
    reply_to: str | None = None


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """One mail owed: what kind, for which registration."""

    kind: MailKind
    registration: Registration


# --- errors -------------------------------------------------------------------------------


class RegflowError(Exception):
    """Base of every error regflow raises on purpose."""


class ValidationError(RegflowError):
    """Input a person can fix. `field` is "name" or "email"; `message` is for that person."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class ClientRateLimited(RegflowError):
    """Too many registrations from one client (IP); the only limit the client is told about."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"client rate limited, retry after {retry_after}s")
        self.retry_after = retry_after


class StoreUnavailable(RegflowError):
    """The store is throttling or down: try again later. Nothing was written."""

    def __init__(self, retry_after: int = 1) -> None:
        super().__init__(f"store unavailable, retry after {retry_after}s")
        self.retry_after = retry_after


class MailDeliveryError(RegflowError):
    """The mail service did not take a message. `transient` errors are retried."""

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


class ConfigError(RegflowError):
    """A missing or invalid setting; the message names the variable."""


def utcnow() -> datetime:
    return datetime.now(UTC)
