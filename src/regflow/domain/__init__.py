"""The registration domain: values, outcomes, errors, limits, messages and the delivery
policy. Nothing here knows about HTTP, Lambda, AWS, SQLite or SMTP.

Everything is importable from `regflow.domain`; the submodules are the rooms:
`model` (registrations, outcomes, errors), `limits` (abuse limits), `messages` (what a state
change owes, on which channel), `policy` (retry / park / drop).
"""

from regflow.domain.challenge import SpentChallenge
from regflow.domain.consent import Consent, ConsentIp, consent_address, consent_of
from regflow.domain.events import (
    EVENTBRIDGE_TARGET,
    Event,
    event_of,
    webhook_target,
)
from regflow.domain.limits import Limit, LimitState, SendLog, count_client, count_send
from regflow.domain.messages import (
    Channel,
    ClaimedMessage,
    Email,
    Message,
    MessageKind,
    ParkedMessage,
)
from regflow.domain.model import (
    ClientRateLimited,
    ConfigError,
    CreateResult,
    DeliveryError,
    FailureClass,
    Outcome,
    RegflowError,
    Registration,
    Status,
    StoreUnavailable,
    ValidationError,
    address_key,
    mailbox_key,
    mask_email,
    utcnow,
)
from regflow.domain.policy import DEFAULT_POLICY, Action, DeliveryPolicy, Verdict
from regflow.domain.suppression import (
    SOFT_BOUNCE_LIMIT,
    SOFT_BOUNCE_WINDOW_SECONDS,
    MailEvent,
    MailEventType,
    Suppression,
    SuppressionReason,
)

__all__ = [
    "DEFAULT_POLICY",
    "EVENTBRIDGE_TARGET",
    "SOFT_BOUNCE_LIMIT",
    "SOFT_BOUNCE_WINDOW_SECONDS",
    "Action",
    "Channel",
    "ClaimedMessage",
    "ClientRateLimited",
    "ConfigError",
    "Consent",
    "ConsentIp",
    "CreateResult",
    "DeliveryError",
    "DeliveryPolicy",
    "Email",
    "Event",
    "FailureClass",
    "Limit",
    "LimitState",
    "MailEvent",
    "MailEventType",
    "Message",
    "MessageKind",
    "Outcome",
    "ParkedMessage",
    "RegflowError",
    "Registration",
    "SendLog",
    "SpentChallenge",
    "Status",
    "StoreUnavailable",
    "Suppression",
    "SuppressionReason",
    "ValidationError",
    "Verdict",
    "address_key",
    "consent_address",
    "consent_of",
    "count_client",
    "count_send",
    "event_of",
    "mailbox_key",
    "mask_email",
    "utcnow",
    "webhook_target",
]
