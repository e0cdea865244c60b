"""Deliverability: the suppression list, what a mail service reports back about a message
(bounces, complaints, deliveries), and the soft-bounce rule.

An address on the suppression list gets no mail, ever, until an operator lifts it
(`regflow suppression remove`). Entries are keyed on the exact address (`suppression_key`, the
case-insensitive `model.address_key`): a bounce of `carol+zz@x` (a provider without
sub-addressing) suppresses `carol+zz@x` only, never `carol@x`. The collapsed inbox key
(`model.mailbox_key`) keys the per-inbox mail limits only.

Entries written before that were keyed by `mailbox_key`; they keep working without a
migration (`lookup_keys`, `names`): such an entry suppresses the one address it names (its
`email`), no other address of its inbox.

A bounce or complaint is counted once per event (`event_key`: SES's `feedbackId`, else the
message id, plus the recipient), at the event's own time. Nothing here knows SES or SMTP:
adapters turn their reports into a `MailEvent`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from regflow.domain.model import address_key, mailbox_key

# Soft bounces (a full mailbox, a greylisting server, a transient DNS failure) are counted per
# inbox; the SOFT_BOUNCE_LIMIT-th inside SOFT_BOUNCE_WINDOW_SECONDS suppresses the inbox. One or
# two are normal: a mailbox can be full for a day.
SOFT_BOUNCE_LIMIT = 3
SOFT_BOUNCE_WINDOW_SECONDS = 7 * 24 * 3600

# Diagnostics kept on a registration or a suppression are cut to this length.
DIAGNOSTIC_MAX = 200


class SuppressionReason(StrEnum):
    BOUNCE = "bounce"  # a hard (permanent) bounce reported by the mail service
    COMPLAINT = "complaint"  # the recipient marked a message as spam
    SOFT_BOUNCES = "soft-bounces"  # SOFT_BOUNCE_LIMIT transient bounces inside the window
    REFUSED = "refused"  # the mail server refused the recipient for good (SMTP 5xx, SES)
    NO_MAIL_DOMAIN = "no-mail-domain"  # the domain has no MX/A/AAAA, or a null MX
    OPERATOR = "operator"  # added by hand (`regflow suppression add`)


@dataclass(frozen=True, slots=True)
class Suppression:
    """One suppressed inbox. `email` is the address as it was reported (for the operator's
    list); `key` is its `suppression_key` (entries written before issue 21: its
    `mailbox_key`; `names` says which address such an entry suppresses)."""

    key: str
    email: str
    reason: SuppressionReason
    diagnostic: str
    since: datetime


class MailEventType(StrEnum):
    """What the mail service reported about one sent message."""

    BOUNCE = "bounce"
    COMPLAINT = "complaint"
    DELIVERY = "delivery"
    REJECT = "reject"  # the service refused to send it at all (a virus, say): no recipient fault


@dataclass(frozen=True, slots=True)
class MailEvent:
    """One report about one sent message, as the domain needs it.

    `permanent` only matters for a BOUNCE (hard vs soft); `recipients` are the addresses the
    report is about; `registration_id` and `message_kind` come from the tags the sender put on
    the message (None when the message was not regflow's or the tags are missing)."""

    type: MailEventType
    recipients: tuple[str, ...]
    at: datetime
    permanent: bool = False
    diagnostic: str = ""
    registration_id: str | None = None
    message_kind: str | None = None
    message_id: str = ""
    feedback_id: str = ""  # the service's id of this report (SES `feedbackId`), if it has one

    @property
    def event_id(self) -> str:
        """What identifies this report across redeliveries ("" when nothing does)."""
        return f"feedback:{self.feedback_id}" if self.feedback_id else self.message_id


# --- keys and rules ------------------------------------------------------------------------


def suppression_key(email: str) -> str:
    """The key of an address's suppression entry: the exact address (case-insensitive)."""
    return address_key(email)


def lookup_keys(email: str) -> tuple[str, ...]:
    """The keys an entry suppressing `email` may have: its own, then the inbox key entries
    were written under before issue 21 (the same key when the address is its inbox's base
    form, `carol@x`)."""
    exact, legacy = suppression_key(email), mailbox_key(email)
    return (exact,) if exact == legacy else (exact, legacy)


def names(entry: Suppression, email: str) -> bool:
    """Whether `entry` suppresses `email`: it names that very address. (A legacy entry found
    under `carol@x`'s key but written for `carol+zz@x` does not suppress `carol@x`.)"""
    return suppression_key(entry.email) == suppression_key(email)


def event_key(event_id: str, recipient: str) -> str:
    """The key a report about one recipient is counted once under ("" when the report has no
    id: then every delivery of it counts)."""
    if not event_id:
        return ""
    text = f"{event_id}\n{recipient.strip().lower()}"
    return "event:" + hashlib.sha256(text.encode()).hexdigest()[:32]


def record_soft_bounce(old: Iterable[int], at: int, window_seconds: int) -> list[int]:
    """An address's soft-bounce log after one more at `at` (epoch seconds, the event's own
    time): the bounces in `(at - window_seconds, at]` and any later ones, oldest first."""
    return sorted([t for t in old if at - t < window_seconds] + [at])
