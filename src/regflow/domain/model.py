"""Value types, outcomes and errors of the registration domain.

Nothing here knows about HTTP, Lambda, AWS, SQLite or SMTP.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from regflow.domain.consent import Consent


class Status(StrEnum):
    PENDING = "PENDING"
    CONFIRMED = "CONFIRMED"
    # the verification mail bounced for good / was reported as spam (`regflow.feedback`):
    # never confirmable; `delivery_failure` holds the mail service's diagnostic
    BOUNCED = "BOUNCED"
    COMPLAINED = "COMPLAINED"


class Outcome(StrEnum):
    """What a click on a verification link did; the `?status=` of the confirmed page."""

    CONFIRMED = "confirmed"
    ALREADY_CONFIRMED = "already-confirmed"
    EXPIRED = "expired"
    INVALID = "invalid"


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
    language: str = "en"  # of the registrant's mails and pages (`regflow.render`)
    # Set when a message owed to the registrant was dropped for good (the delivery policy's
    # DROP: a final refusal of this one recipient): the error code, never message text.
    delivery_failure: str | None = None
    # Proof of consent (CONSENT_IP, CONSENT_TEXT_VERSION): of the sign-up (at `timestamp`)
    # and of the confirmation (at `confirmed_at`); erased with the registration.
    signup_consent: Consent | None = None
    confirm_consent: Consent | None = None

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


class CreateResult(StrEnum):
    CREATED = "created"  # registration stored, verification mail owed
    ADDRESS_LIMITED = "address-limited"  # nothing written: the per-address limit said no


# --- errors -------------------------------------------------------------------------------


class RegflowError(Exception):
    """Base of every error regflow raises on purpose."""


class ValidationError(RegflowError):
    """Input a person can fix. `field` is "name" or "email"; `key` names the message for
    that person in the catalog (`regflow.render`), `params` fill its placeholders."""

    def __init__(self, field: str, key: str, **params: object) -> None:
        super().__init__(f"{field}: {key}")
        self.field = field
        self.key = key
        self.params = params


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


class FailureClass(StrEnum):
    """Why a channel could not deliver a message; the delivery policy
    (`regflow.domain.policy`) decides from this alone what happens next."""

    TRANSIENT = "transient"  # throttling, a 5xx, a time-out, the network: try again soon
    ACCOUNT = "account"  # the operator can fix it: unverified sender, access denied, paused
    RECIPIENT = "recipient"  # final, and about this one recipient (a hard refusal of the address)


class DeliveryError(RegflowError):
    """A channel (mail service, webhook receiver) did not take a message."""

    def __init__(self, message: str, *, failure: FailureClass, code: str = "") -> None:
        super().__init__(message)
        self.failure = failure
        self.code = code  # the service's error code (e.g. "MessageRejected"), for logs

    @property
    def transient(self) -> bool:
        return self.failure is FailureClass.TRANSIENT


class ConfigError(RegflowError):
    """A missing or invalid setting; the message names the variable."""


def utcnow() -> datetime:
    return datetime.now(UTC)
