"""What regflow's mails say, and how they become MIME messages.

Every value a visitor typed is HTML-escaped in the HTML part, and nothing a visitor typed can
reach a header unfolded: names never contain control characters (validation), and headers are
built by the stdlib `email` package: line breaks are folded out of the subject, non-ASCII is
RFC 2047-encoded, and addresses must be plain ASCII (visitors' addresses are, by validation).
"""

from __future__ import annotations

import html
from datetime import UTC, datetime
from email.charset import QP, Charset
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, make_msgid

from regflow.domain import Email, Registration

_BUTTON_STYLE = (
    "display:inline-block;background:#1e3a8a;color:#ffffff;padding:12px 24px;"
    "text-decoration:none;font-weight:bold;border-radius:6px"
)


def _one_line(text: str) -> str:
    """Belt and braces for header values: no line breaks of any kind."""
    return " ".join(text.split())


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _html_page(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title></head>\n"
        '<body style="font-family:Arial,Helvetica,sans-serif;color:#111827;line-height:1.5">'
        + body.replace("</p>", "</p>\n").replace("</h2>", "</h2>\n")
        + "</body></html>\n"
    )


def verification(
    registration: Registration,
    *,
    link: str,
    expires_at: datetime,
    hours: int,
    sender: str,
    site: str,
) -> Email:
    name = registration.name
    text = (
        f"Hi {name},\n\n"
        f"Please confirm your email address for {site} by opening this link:\n\n"
        f"{link}\n\n"
        f"The link expires in {hours} hours ({_when(expires_at)}).\n"
        "If you did not sign up, ignore this message: nothing happens without a click.\n"
    )
    body = (
        f"<h2>Hi {html.escape(name)},</h2>"
        f"<p>Please confirm your email address for {html.escape(site)}.</p>"
        f'<p><a href="{html.escape(link, quote=True)}" style="{_BUTTON_STYLE}">'
        "Verify my email</a></p>"
        f'<p style="color:#4b5563">The link expires in {hours} hours '
        f"({html.escape(_when(expires_at))}).<br>"
        "If you did not sign up, ignore this message: nothing happens without a click.</p>"
        f'<p style="color:#6b7280;font-size:12px">Or paste this address into your browser: '
        f"{html.escape(link)}</p>"
    )
    return Email(
        sender=sender,
        to=registration.email,
        subject="Please verify your email address",
        text=text,
        html=_html_page("Please verify your email address", body),
    )


def already_registered(registration: Registration, *, sender: str, site: str) -> Email:
    name = registration.name
    text = (
        f"Hi {name},\n\n"
        f"Someone (probably you) asked to sign up for {site} with this address, "
        "which is already registered and verified. There is nothing more to do.\n"
        "If it was not you, ignore this message.\n"
    )
    body = (
        f"<h2>Hi {html.escape(name)},</h2>"
        f"<p>Someone (probably you) asked to sign up for {html.escape(site)} with this address, "
        "which is already registered and verified. There is nothing more to do.</p>"
        '<p style="color:#4b5563">If it was not you, ignore this message.</p>'
    )
    return Email(
        sender=sender,
        to=registration.email,
        subject="You are already registered",
        text=text,
        html=_html_page("You are already registered", body),
    )


def owner_notification(registration: Registration, *, sender: str, owner: str) -> Email:
    confirmed_at = registration.confirmed_at or registration.timestamp
    rows = (
        ("Name", registration.name),
        ("Email", registration.email),
        ("Registered", _when(registration.timestamp)),
        ("Confirmed", _when(confirmed_at)),
    )
    text = "A new registration was confirmed.\n\n" + "".join(f"{k}: {v}\n" for k, v in rows)
    table = "".join(
        f'<tr><th align="left" style="padding-right:12px">{k}</th><td>{html.escape(v)}</td></tr>'
        for k, v in rows
    )
    return Email(
        sender=sender,
        to=owner,
        subject=_one_line(f"New registration: {registration.name}"),
        text=text,
        html=_html_page(
            "New registration", f"<h2>New registration confirmed</h2><table>{table}</table>"
        ),
        reply_to=registration.email,
    )


def to_mime(message: Email, *, now: datetime | None = None) -> Message:
    """A multipart/alternative (text + HTML) message with Date and Message-ID.

    Built with the classic `email.mime` classes: the modern `EmailMessage` API re-parses every
    header it is given and costs ~3 ms of CPU a message, five times as much, which the outbox
    worker of the embedded server would take from the requests it serves."""
    mime = MIMEMultipart("alternative")
    subject = _one_line(message.subject)
    # typeshed types header values as str; Message also takes a Header (RFC 2047-encoded)
    mime["Subject"] = subject if subject.isascii() else Header(subject, "utf-8")  # type: ignore[assignment]
    mime["From"] = _address(message.sender)
    mime["To"] = _address(message.to)
    if message.reply_to and _plain(message.reply_to):
        # a courtesy header: left out for an address that is not plain ASCII (registrations
        # made before validation refused those), rather than refusing the whole message
        mime["Reply-To"] = _address(message.reply_to)
    mime["Date"] = format_datetime(now or datetime.now(UTC))
    domain = message.sender.rpartition("@")[2] or "localhost"
    mime["Message-ID"] = make_msgid(domain=domain)
    mime.attach(_text_part(message.text, "plain"))
    mime.attach(_text_part(message.html, "html"))
    return mime


_UTF8_QP = Charset("utf-8")
_UTF8_QP.body_encoding = QP  # readable, and safe for any line length


def _text_part(text: str, subtype: str) -> MIMEText:
    if text.isascii() and all(len(line) <= 900 for line in text.splitlines()):
        return MIMEText(text, subtype, "us-ascii")  # 7bit, as is
    return MIMEText(text, subtype, _UTF8_QP)  # type: ignore[arg-type]


def _address(addr: str) -> str:
    local, _, domain = addr.rpartition("@")
    if not domain.isascii():
        # An internationalized domain goes on the wire in its IDNA (xn--) form: the stdlib
        # would otherwise write an RFC 2047 encoded word into the address, which no MTA accepts.
        import idna

        domain = idna.encode(domain, uts46=True).decode("ascii")
    if not _plain(local):
        raise ValueError("an address must be plain ASCII, without CR or LF, spaces or quotes")
    return f"{local}@{domain}"


def _plain(text: str) -> bool:
    return text.isascii() and not any(ch in text for ch in '\r\n"<>,;: ')
