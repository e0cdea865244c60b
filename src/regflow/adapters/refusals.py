"""Whose refusal is it? The one classifier of mail-service refusals (SMTP replies, SES API
errors) into the delivery policy's failure classes (`regflow.domain.policy`). Pure: no
driver, no I/O; `adapters.smtp` and `adapters.ses` hand it what their driver reported.

Only a refusal that is surely about this one recipient is the recipient's (`RECIPIENT`: the
message is dropped, the inbox suppressed, the registration BOUNCED). Everything the sender,
the message, the relay or the account can be at fault for is the account's (`ACCOUNT`: the
message parks and is retried until the cause is fixed; nobody is suppressed). A mistake here in
the recipient's direction silences a real person for good; one in the account's direction
costs a parked message. So the rules lean to the account:

SMTP, by the RFC 3463 enhanced status code when the reply carries one (`550 5.1.1 ...`):

- 4.x.x, or any 4xx basic code: transient (try again);
- 5.1.1, 5.1.2, 5.1.3, 5.1.4, 5.1.6, 5.1.10 (bad, unknown, moved or null-MX destination
  mailbox or system) and 5.2.1 (mailbox disabled), at RCPT or DATA: the recipient's;
- 5.2.2 (mailbox full): transient (a mailbox drains);
- every other 5.x.x: the account's: 5.1.0, 5.1.7 and 5.1.8 (the *sender's* address: Postfix
  answers `Sender address rejected` at RCPT with them), 5.2.3 (message too long), 5.3.x (mail
  system), 5.4.x (routing), 5.5.x (protocol), 5.6.x (content), 5.7.x (policy, relaying,
  authentication: `554 5.7.1 Relay access denied`);
- any 5.x.x before RCPT (connect, HELO, STARTTLS, AUTH, MAIL FROM): the account's.

SMTP without an enhanced code (Exim's default, old servers), by the basic code and the stage:
550, 551, 553 and 556 at RCPT are the recipient's; 552 at RCPT is transient (RFC 5321
4.5.3.1.10: a full mailbox); any other 5xx, and every 5xx at another stage, is the account's.
Such a reply can still be the relay's (Exim's `550 relay not permitted` at RCPT): the breaker
above this classifier (`regflow.domain.breaker`) catches a run of them.

SES (the API's error code; the text is never read): throttling and 5xx are transient, every
other error is about the account, the sender or the message (`MessageRejected` for an
unverified identity, `BadRequestException` for an invalid From, an oversized message or a
malformed tag, ...). SES never refuses a recipient at the API: a recipient it will not
deliver to comes back as a bounce event (`regflow.feedback`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from regflow.domain import FailureClass


class Stage(StrEnum):
    """The step of the SMTP transaction a reply answered."""

    CONNECT = "connect"  # the greeting
    HELO = "helo"
    STARTTLS = "starttls"
    AUTH = "auth"
    MAIL = "mail"  # MAIL FROM: the sender
    RCPT = "rcpt"  # RCPT TO: the recipient
    DATA = "data"  # DATA and the end of the message: the message


# Enhanced codes (subject, detail) about the destination mailbox or system (RFC 3463 3.2, 3.3;
# 5.1.10: RFC 7505, a null MX).
RECIPIENT_DETAILS = frozenset({(1, 1), (1, 2), (1, 3), (1, 4), (1, 6), (1, 10), (2, 1)})
FULL_MAILBOX = (2, 2)
# Basic codes that name the recipient when they answer RCPT (RFC 5321 4.2.2; 556: RFC 7504).
RECIPIENT_BASIC = frozenset({550, 551, 553, 556})
FULL_MAILBOX_BASIC = 552
# The stages where a reply can be about the recipient (one recipient per message: a server
# that checks recipients after the message answers at DATA).
RECIPIENT_STAGES = frozenset({Stage.RCPT, Stage.DATA})

_ENHANCED = re.compile(r"\s*([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")


@dataclass(frozen=True, slots=True)
class Reply:
    """One SMTP reply, as the classifier reads it."""

    code: int  # the basic code (550)
    enhanced: tuple[int, int, int] | None  # RFC 3463 (5, 1, 1), when the reply carries one
    stage: Stage

    @property
    def error_code(self) -> str:
        """What the delivery records as the error (logs, the suppression's diagnostic):
        `SMTP550-5.1.1`, or `SMTP550` without an enhanced code. Never the reply's text."""
        if self.enhanced is None:
            return f"SMTP{self.code}"
        return f"SMTP{self.code}-{'.'.join(map(str, self.enhanced))}"


def enhanced_code(text: str) -> tuple[int, int, int] | None:
    """The RFC 3463 enhanced status code at the start of a reply's text (after the basic
    code; a multi-line reply's first line), or None."""
    match = _ENHANCED.match(text)
    if match is None:
        return None
    klass, subject, detail = (int(part) for part in match.groups())
    return klass, subject, detail


def smtp_reply(code: int, text: str | bytes, stage: Stage) -> Reply:
    """The reply a server gave at `stage` (`text`: what follows the basic code)."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    enhanced = enhanced_code(text)
    if enhanced is not None and enhanced[0] != code // 100:
        enhanced = None  # "550 4.1.1": the class contradicts the code; the code decides
    return Reply(code, enhanced, stage)


def classify_reply(reply: Reply) -> FailureClass:
    """The failure class of a refusal (any reply of 400 or more)."""
    if 400 <= reply.code < 500:
        return FailureClass.TRANSIENT
    if not 500 <= reply.code < 600:
        return FailureClass.ACCOUNT  # not a refusal SMTP defines: the operator looks
    if reply.stage not in RECIPIENT_STAGES:
        return FailureClass.ACCOUNT  # about the connection, the login or the sender
    if reply.enhanced is not None:
        _, subject, detail = reply.enhanced
        if (subject, detail) in RECIPIENT_DETAILS:
            return FailureClass.RECIPIENT
        if (subject, detail) == FULL_MAILBOX:
            return FailureClass.TRANSIENT
        return FailureClass.ACCOUNT
    if reply.stage is Stage.RCPT:
        if reply.code in RECIPIENT_BASIC:
            return FailureClass.RECIPIENT
        if reply.code == FULL_MAILBOX_BASIC:
            return FailureClass.TRANSIENT
    return FailureClass.ACCOUNT


def classify_smtp(code: int, text: str | bytes, stage: Stage) -> FailureClass:
    return classify_reply(smtp_reply(code, text, stage))


# SES v2 `SendEmail` errors that are transient by definition; other codes are judged by their
# HTTP status (429 and 5xx transient), and everything else is the account's.
SES_TRANSIENT_CODES = frozenset(
    {
        "TooManyRequestsException",
        "Throttling",
        "ThrottlingException",
        "InternalFailure",
        "InternalServerError",
        "ServiceUnavailable",
    }
)


def classify_ses(code: str, status: int) -> FailureClass:
    """The failure class of an SES API error (its code and HTTP status)."""
    if code in SES_TRANSIENT_CODES or status == 429 or status >= 500:
        return FailureClass.TRANSIENT
    return FailureClass.ACCOUNT
