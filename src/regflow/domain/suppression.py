"""Deliverability: the suppression list, what a mail service reports back about a message
(bounces, complaints, deliveries), and the soft-bounce rule.

An address on the suppression list gets no mail, ever, until an operator lifts it
(`regflow suppression remove`). Entries are keyed like the per-inbox limits
(`model.mailbox_key`): `jane+1@x` and `jane+2@x` (and Gmail's dot variants) are one inbox, so one
bounce suppresses them all. Nothing here knows SES or SMTP: adapters turn their reports into a
`MailEvent`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

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
    list); `key` is its `mailbox_key`, what every check uses."""

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
