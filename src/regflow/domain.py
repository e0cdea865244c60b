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


_GMAIL = frozenset({"gmail.com", "googlemail.com"})


def mailbox_key(email: str) -> str:
    """Key of the inbox an address delivers to, for the per-address mail limits (hex, 32):
    `jane+1@x` and `jane+2@x` (sub-addressing) and, at Gmail, `j.ane@gmail.com` all reach
    Jane's one inbox, so they share one limit. (Stricter than `address_key`, which keys the
    one-confirmed-registration rule and the tokens: those stay per address as typed.)"""
    local, _, domain = email.strip().lower().rpartition("@")
    local = local.split("+", 1)[0] or local
    if domain in _GMAIL:
        local, domain = local.replace(".", ""), "gmail.com"
    return hashlib.sha256(f"{local}@{domain}".encode()).hexdigest()[:32]


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

    @property
    def limit_key(self) -> str:
        return mailbox_key(self.email)

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
    """A fixed-window counter: the per-client (IP) limit.

    The window opens at the first counted event and counts `max_count` events until
    `window_seconds` later; the next event after that opens a new window. That is "per hour"
    counting (`IP_LIMIT_PER_HOUR`, one event per request), deliberately not a rolling window:
    it costs one small counter per client, and back-to-back windows may let a client through
    up to `2 * max_count - 1` times in a rolling hour, which is the documented bound of that
    limit. The per-address mail cap is exact over any rolling window instead: see `SendLog`.
    """

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


@dataclass(frozen=True, slots=True)
class SendLog:
    """The per-address limit: a sliding log of the most recent send times (epoch seconds,
    oldest first, at most `max(limit.max_count, 1)` of them).

    A send at `now` is allowed when the last send is at least `min_interval_seconds` old and
    fewer than `max_count` sends lie in the rolling window `(now - window_seconds, now]`, so
    no interval of `window_seconds` ever holds more than `max_count` sends (exact, not a fixed
    window: a send at T slides out at T + window_seconds). Older entries are pruned whenever
    the log is written.
    """

    times: tuple[int, ...] = ()

    @property
    def last_at(self) -> int | None:
        return max(self.times) if self.times else None

    def in_window(self, limit: Limit, now: int) -> tuple[int, ...]:
        """The sends that still count against `limit.max_count` at `now`."""
        return tuple(t for t in self.times if now - t < limit.window_seconds)

    def allows(self, limit: Limit, now: int) -> bool:
        last = self.last_at
        if (
            limit.min_interval_seconds
            and last is not None
            and now - last < limit.min_interval_seconds
        ):
            return False
        if limit.max_count:
            return len(self.in_window(limit, now)) < limit.max_count
        return True

    def after_event(self, limit: Limit, now: int) -> SendLog:
        """The log with a send at `now` recorded and everything that no longer counts pruned."""
        keep = max(limit.max_count, 1)
        recent = self.in_window(limit, now) if limit.max_count else self.times
        return SendLog(tuple(sorted((*recent, now)))[-keep:])

    def retry_after(self, limit: Limit, now: int) -> int:
        """Seconds until a send would be allowed again (at least 1)."""
        waits = [1]
        last = self.last_at
        if limit.min_interval_seconds and last is not None:
            waits.append(last + limit.min_interval_seconds - now)
        if limit.max_count:
            recent = sorted(self.in_window(limit, now))
            excess = len(recent) - limit.max_count
            if excess >= 0:  # the send that frees a slot is the (excess + 1)-th oldest
                waits.append(recent[excess] + limit.window_seconds - now)
        return max(waits)

    def expires(self, limit: Limit) -> int | None:
        """Epoch seconds from which the log no longer limits anything (None when empty)."""
        last = self.last_at
        if last is None:
            return None
        window = limit.window_seconds if limit.max_count else 0
        return last + max(window, limit.min_interval_seconds)

    @staticmethod
    def from_window_counter(state: LimitState, keep: int) -> SendLog:
        """A conservative log for a legacy fixed-window counter: its first send at
        `window_start`, the others (times unknown) at `last_at`, the latest they can be; at
        most `keep` entries (at least one), the newest."""
        keep = max(keep, 1)
        count = min(max(state.count, 1), keep + 1)
        times = (state.window_start, *([state.last_at] * (count - 1))) if count > 1 else ()
        return SendLog((times or (state.last_at,))[-keep:])


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
