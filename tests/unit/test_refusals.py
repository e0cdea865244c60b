"""The one refusal classifier (`adapters.refusals`), table-tested against the replies real
servers give: Postfix, Exim, Exchange (Online and on-premises), Gmail, and SES's API errors.

Each SMTP fixture is the raw reply as it comes over the wire (multi-line replies too), split
into its code and text the way smtplib does, and the stage it answered."""

from __future__ import annotations

import pytest

from regflow.adapters.refusals import Stage, classify_ses, classify_smtp, enhanced_code, smtp_reply
from regflow.domain import FailureClass

RECIPIENT, ACCOUNT, TRANSIENT = FailureClass.RECIPIENT, FailureClass.ACCOUNT, FailureClass.TRANSIENT
RCPT, DATA, MAIL = Stage.RCPT, Stage.DATA, Stage.MAIL


def wire(raw: str) -> tuple[int, str]:
    """(code, text) of a raw reply, as smtplib's getreply gives them: the code of the last
    line, each line's text after the code and its separator, joined by newlines."""
    lines = raw.split("\r\n")
    return int(lines[-1][:3]), "\n".join(line[4:] for line in lines)


GMAIL_NO_SUCH_USER = (
    "550-5.1.1 The email account that you tried to reach does not exist. Please try\r\n"
    "550-5.1.1 double-checking the recipient's email address for typos or\r\n"
    "550-5.1.1 unnecessary spaces. Learn more at\r\n"
    "550 5.1.1  https://support.google.com/mail/?p=NoSuchUser a1si2036511qkb.12 - gsmtp"
)

SMTP_REPLIES = [
    # --- Postfix ------------------------------------------------------------------------------
    ("postfix relay denied", "554 5.7.1 <x@example.com>: Relay access denied", RCPT, ACCOUNT),
    (
        "postfix unknown user",
        "550 5.1.1 <x@example.com>: Recipient address rejected: User unknown in local"
        " recipient table",
        RCPT,
        RECIPIENT,
    ),
    (
        "postfix unknown virtual user",
        "550 5.1.1 <x@example.com>: Recipient address rejected: User unknown in virtual"
        " mailbox table",
        RCPT,
        RECIPIENT,
    ),
    (
        "postfix sender domain (answered at RCPT: smtpd_delay_reject)",
        "553 5.1.8 <no-reply@example.org>: Sender address rejected: Domain not found",
        RCPT,
        ACCOUNT,
    ),
    (
        "postfix unlisted sender (5.1.0 at RCPT)",
        "550 5.1.0 <no-reply@example.org>: Sender address rejected: User unknown in local"
        " recipient table",
        RCPT,
        ACCOUNT,
    ),
    (
        "postfix client blocked",
        "554 5.7.1 Service unavailable; Client host [192.0.2.7] blocked using zen.spamhaus.org",
        RCPT,
        ACCOUNT,
    ),
    (
        "postfix helo (answered at RCPT)",
        "504 5.5.2 <localhost>: Helo command rejected: need fully-qualified hostname",
        RCPT,
        ACCOUNT,
    ),
    ("postfix starttls first", "530 5.7.0 Must issue a STARTTLS command first", MAIL, ACCOUNT),
    ("postfix auth failed", "535 5.7.8 Error: authentication failed: bad", Stage.AUTH, ACCOUNT),
    ("postfix size", "552 5.3.4 Message size exceeds fixed limit", DATA, ACCOUNT),
    (
        "postfix unverified (soft)",
        "450 4.1.1 <x@example.com>: Recipient address rejected: unverified address: host"
        " mx.example.com said: 550 5.1.1 no such user",
        RCPT,
        TRANSIENT,
    ),
    (
        "postfix relay denied (soft_bounce)",
        "454 4.7.1 <x@example.com>: Relay access denied",
        RCPT,
        TRANSIENT,
    ),
    (
        "postfix mailbox full (5.2.2)",
        "552 5.2.2 <x@example.com>: Recipient address rejected: Mailbox full",
        RCPT,
        TRANSIENT,
    ),
    # --- Exim (no enhanced codes by default: by basic code and stage) -------------------------
    ("exim unrouteable", "550 Unrouteable address", RCPT, RECIPIENT),
    (
        "exim unknown user",
        "550-Verification failed for <x@example.com>\r\n"
        "550-Unrouteable address\r\n"
        "550 Recipient verify failed",
        RCPT,
        RECIPIENT,
    ),
    # a relay refusal without an enhanced code reads as the recipient's: the breaker above
    # the classifier (domain/breaker.py) catches a run of them
    ("exim relay (no enhanced code)", "550 relay not permitted", RCPT, RECIPIENT),
    (
        "exim sender verify (at RCPT, no code: read as the recipient's, the breaker's)",
        "550-Verification failed for <no-reply@example.org>\r\n"
        "550-Unrouteable address\r\n"
        "550 Sender verify failed",
        RCPT,
        RECIPIENT,
    ),
    ("exim sender at MAIL", "550 Sender verify failed", MAIL, ACCOUNT),
    ("exim content at DATA", "550 Administrative prohibition", DATA, ACCOUNT),
    ("exim policy 554 at RCPT", "554 Transaction failed", RCPT, ACCOUNT),
    ("exim greylisting", "451 Temporary local problem - please try later", RCPT, TRANSIENT),
    (
        "old server full mailbox",
        "552 Requested mail action aborted: exceeded storage",
        RCPT,
        TRANSIENT,
    ),
    (
        "old server user not local",
        "551 User not local; please try <y@example.net>",
        RCPT,
        RECIPIENT,
    ),
    (
        "old server bad syntax",
        "553 Requested action not taken: mailbox name not allowed",
        RCPT,
        RECIPIENT,
    ),
    ("null MX domain", "556 5.1.10 Recipient address has null MX", RCPT, RECIPIENT),
    ("domain accepts no mail", "556 Domain does not accept mail", RCPT, RECIPIENT),
    # --- Exchange / Microsoft 365 ------------------------------------------------------------
    (
        "exchange recipient not found",
        "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup",
        RCPT,
        RECIPIENT,
    ),
    (
        "exchange recipient not found (on-premises)",
        "550 5.1.1 RESOLVER.ADR.RecipNotFound; not found",
        RCPT,
        RECIPIENT,
    ),
    ("exchange unable to relay", "550 5.7.1 Unable to relay", RCPT, ACCOUNT),
    (
        "exchange online unable to relay",
        "550 5.7.64 TenantAttribution; Relay Access Denied",
        RCPT,
        ACCOUNT,
    ),
    (
        "exchange client not authenticated",
        "530 5.7.57 Client not authenticated to send mail. Error: 535 5.7.139"
        " Authentication unsuccessful",
        MAIL,
        ACCOUNT,
    ),
    (
        "exchange banned ip",
        "550 5.7.606 Access denied, banned sending IP [192.0.2.7]",
        RCPT,
        ACCOUNT,
    ),
    (
        "exchange directory-based edge blocking (a 5.4.x: routing, parked)",
        "550 5.4.1 Recipient address rejected: Access denied. AS(201806281)",
        RCPT,
        ACCOUNT,
    ),
    (
        "exchange mailbox full",
        "554 5.2.2 mailbox full; STOREDRV.Deliver.Exception:QuotaExceededException",
        DATA,
        TRANSIENT,
    ),
    ("exchange server busy", "451 4.7.500 Server busy. Please try again later", RCPT, TRANSIENT),
    (
        "exchange sender not allowed",
        "550 5.7.1 RESOLVER.RST.NotAuthorized; not authorized",
        DATA,
        ACCOUNT,
    ),
    # --- Gmail --------------------------------------------------------------------------------
    ("gmail no such user", GMAIL_NO_SUCH_USER, RCPT, RECIPIENT),
    (
        "gmail disabled",
        "550-5.2.1 The email account that you tried to reach is disabled. Learn more at\r\n"
        "550 5.2.1  https://support.google.com/mail/?p=DisabledUser x - gsmtp",
        RCPT,
        RECIPIENT,
    ),
    (
        "gmail over quota",
        "552-5.2.2 The email account that you tried to reach is over quota. Please direct\r\n"
        "552 5.2.2 the recipient to https://support.google.com/mail/?p=OverQuotaPerm x",
        RCPT,
        TRANSIENT,
    ),
    (
        "gmail bad address syntax",
        "553-5.1.3 The recipient address <x@@example.com> is not a valid RFC-5321\r\n"
        "553 5.1.3 address. Learn more at https://support.google.com/mail/?p=BadRcptAddress",
        RCPT,
        RECIPIENT,
    ),
    (
        "gmail unauthenticated",
        "550-5.7.26 This mail is unauthenticated, which poses a security risk to the\r\n"
        "550 5.7.26 sender and Gmail users, and has been blocked.",
        DATA,
        ACCOUNT,
    ),
    (
        "gmail spam",
        "550-5.7.1 [192.0.2.7] Our system has detected that this message is likely\r\n"
        "550 5.7.1 unsolicited mail.",
        DATA,
        ACCOUNT,
    ),
    (
        "gmail policy (to or from)",
        "550 5.7.1 The user or domain that you are sending to (or from) has a policy that"
        " prohibited the mail that you sent.",
        RCPT,
        ACCOUNT,
    ),
    (
        "gmail rate",
        "421-4.7.0 [192.0.2.7] Our system has detected an unusual rate of\r\n"
        "421 4.7.0 unsolicited mail originating from your IP address.",
        DATA,
        TRANSIENT,
    ),
    (
        "gmail message too big",
        "552-5.2.3 Your message exceeded Google's message size limits.\r\n"
        "552 5.2.3 Please visit https://support.google.com/mail/?p=MaxSizeError",
        DATA,
        ACCOUNT,
    ),
    # --- the stage decides before any code ----------------------------------------------------
    (
        "5.1.1 to MAIL FROM is the sender's",
        "550 5.1.1 <no-reply@example.org>: unknown",
        MAIL,
        ACCOUNT,
    ),
    ("a greeting refusing us", "554 5.7.1 No SMTP service here", Stage.CONNECT, ACCOUNT),
    ("5.1.1 after the message (late check)", "550 5.1.1 User unknown", DATA, RECIPIENT),
    ("a class contradicting its code", "550 4.1.1 odd", RCPT, RECIPIENT),  # by 550 at RCPT
    ("a 5xx DATA without a code", "554 Message rejected", DATA, ACCOUNT),
]


@pytest.mark.parametrize(
    ("raw", "stage", "failure"),
    [pytest.param(raw, stage, failure, id=name) for name, raw, stage, failure in SMTP_REPLIES],
)
def test_smtp_replies_are_classified_by_what_they_mean(
    raw: str, stage: Stage, failure: FailureClass
) -> None:
    code, text = wire(raw)
    assert classify_smtp(code, text, stage) is failure
    assert classify_smtp(code, text.encode(), stage) is failure  # smtplib hands bytes


@pytest.mark.parametrize(
    ("raw", "error_code"),
    [
        (GMAIL_NO_SUCH_USER, "SMTP550-5.1.1"),
        ("554 5.7.1 <x@example.com>: Relay access denied", "SMTP554-5.7.1"),
        ("550 5.1.10 RESOLVER.ADR.RecipientNotFound; not found", "SMTP550-5.1.10"),
        ("550 Unrouteable address", "SMTP550"),
        ("550 5.1.1.2 odd", "SMTP550"),  # not an enhanced code
        ("550 4.1.1 odd", "SMTP550"),
    ],
)
def test_the_recorded_error_code_carries_the_enhanced_code_and_no_text(
    raw: str, error_code: str
) -> None:
    code, text = wire(raw)
    assert smtp_reply(code, text, RCPT).error_code == error_code


def test_enhanced_code_parsing() -> None:
    assert enhanced_code("5.1.1 User unknown") == (5, 1, 1)
    assert enhanced_code("  4.7.500 busy") == (4, 7, 500)
    assert enhanced_code("User unknown 5.1.1") is None
    assert enhanced_code("5.1 half") is None
    assert enhanced_code("6.1.1 no such class") is None
    assert enhanced_code("") is None


# SES v2 SendEmail errors: (code, HTTP status, the message SES gives: never read)
SES_ERRORS = [
    (
        "MessageRejected",
        400,
        "Email address is not verified. The following identities failed the check in region"
        " EU-WEST-1: no-reply@example.org",
        ACCOUNT,
    ),
    ("MessageRejected", 400, "Sending paused for this configuration set.", ACCOUNT),
    (
        "AccessDeniedException",
        403,
        "User `arn:aws:sts::123456789012:assumed-role/x/y' is not authorized to perform"
        " `ses:SendEmail' on resource `arn:aws:ses:eu-west-1:123456789012:identity/example.org'",
        ACCOUNT,
    ),
    ("BadRequestException", 400, "Illegal address", ACCOUNT),  # which one? the From, mostly
    ("BadRequestException", 400, "Domain contains illegal character", ACCOUNT),  # an IDN From
    ("BadRequestException", 400, "Missing final '@domain'", ACCOUNT),
    ("BadRequestException", 400, "Message length is more than 10485760 bytes long", ACCOUNT),
    ("BadRequestException", 400, "Tag value contains invalid characters", ACCOUNT),
    ("InvalidParameterValue", 400, "Local address contains control or whitespace", ACCOUNT),
    ("MailFromDomainNotVerifiedException", 400, "MAIL FROM domain not verified", ACCOUNT),
    ("SendingPausedException", 400, "Sending is paused for this account.", ACCOUNT),
    ("AccountSuspendedException", 400, "Account suspended", ACCOUNT),
    ("LimitExceededException", 400, "Daily message quota exceeded.", ACCOUNT),
    ("NotFoundException", 404, "Configuration set regflow-x does not exist.", ACCOUNT),
    ("SomethingNew", 400, "", ACCOUNT),
    ("TooManyRequestsException", 429, "Maximum sending rate exceeded.", TRANSIENT),
    ("Throttling", 400, "Maximum sending rate exceeded.", TRANSIENT),
    ("InternalFailure", 500, "", TRANSIENT),
    ("SomethingNew", 503, "Service Unavailable", TRANSIENT),
]


@pytest.mark.parametrize(("code", "status", "text", "failure"), SES_ERRORS)
def test_ses_errors_are_never_the_recipients(
    code: str, status: int, text: str, failure: FailureClass
) -> None:
    assert classify_ses(code, status) is failure
