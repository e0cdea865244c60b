"""Mails as `domain.Email`s, and how they become MIME messages.

What the mails say lives in `regflow.render` (templates `render/templates/mails/*.j2`, words in
the catalogs `render/catalog/<lang>.json`); this module keeps the functions the service calls,
with the same signatures as before plus two optional keywords:

- `lang`: the language of the mail (a supported code; None or anything else -> the renderer's
  default language). `owner_notification` has none: it is always in the default language;
- `renderer`: a `regflow.render.templates.Renderer` (one per process, built with the site's
  catalog and override directory); None -> a shared one with the shipped templates and catalogs
  and English as the default language.

`to_email(rendered, sender=..., to=..., reply_to=...)` turns any `render.RenderedMail` into an
`Email`, for callers that use the renderer directly.

Every value a visitor typed is HTML-escaped in the HTML part (Jinja2 autoescaping), and nothing a
visitor typed can reach a header unfolded: names never contain control characters (validation),
the renderer makes the subject one line, and headers are built by the stdlib `email` package:
line breaks are folded out of the subject, non-ASCII is RFC 2047-encoded, and addresses must be
plain ASCII (visitors' addresses are, by validation).

jinja2 is imported on the first mail rendered, never by `to_mime` alone.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from email.charset import QP, Charset
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, make_msgid
from typing import TYPE_CHECKING

from regflow.domain import Email, Registration

if TYPE_CHECKING:
    from regflow.render import RenderedMail
    from regflow.render.templates import Renderer

_default_renderer: Renderer | None = None
_default_lock = threading.Lock()


def default_renderer() -> Renderer:
    """The shared renderer: shipped templates and catalogs, English by default."""
    global _default_renderer
    with _default_lock:
        if _default_renderer is None:
            from regflow.render.catalog import Catalog
            from regflow.render.templates import Renderer

            _default_renderer = Renderer(Catalog())
        return _default_renderer


def _one_line(text: str) -> str:
    """Belt and braces for header values: no line breaks of any kind."""
    return " ".join(text.split())


def to_email(rendered: RenderedMail, *, sender: str, to: str, reply_to: str | None = None) -> Email:
    return Email(
        sender=sender,
        to=to,
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        reply_to=reply_to,
    )


def _language(renderer: Renderer, lang: str | None) -> str:
    return renderer.catalog.language(lang) if lang else renderer.catalog.default_language


def verification(
    registration: Registration,
    *,
    link: str,
    expires_at: datetime,
    hours: int,
    sender: str,
    site: str,
    lang: str | None = None,
    renderer: Renderer | None = None,
    erase_link: str | None = None,
    code: str | None = None,
) -> Email:
    renderer = renderer or default_renderer()
    rendered = renderer.mail(
        "verification",
        _language(renderer, lang),
        name=registration.name,
        link=link,
        expires_at=expires_at,
        hours=hours,
        site=site,
        erase_link=erase_link,
        code=code,
    )
    return to_email(rendered, sender=sender, to=registration.email)


def already_registered(
    registration: Registration,
    *,
    sender: str,
    site: str,
    lang: str | None = None,
    renderer: Renderer | None = None,
    erase_link: str | None = None,
) -> Email:
    renderer = renderer or default_renderer()
    rendered = renderer.mail(
        "already_registered",
        _language(renderer, lang),
        name=registration.name,
        site=site,
        erase_link=erase_link,
    )
    return to_email(rendered, sender=sender, to=registration.email)


# The one-line hint in the owner's mail: where the whole list is (`regflow export`).
EXPORT_COMMAND = "regflow export --format csv > registrations.csv"


def owner_notification(
    registration: Registration,
    *,
    sender: str,
    owner: str,
    renderer: Renderer | None = None,
) -> Email:
    """Always in the site's default language (the renderer's catalog's)."""
    renderer = renderer or default_renderer()
    rendered = renderer.mail(
        "owner_notification",
        renderer.catalog.default_language,
        name=registration.name,
        email=registration.email,
        language=registration.language,
        registered_at=registration.timestamp,
        confirmed_at=registration.confirmed_at or registration.timestamp,
        export_command=EXPORT_COMMAND,
    )
    return to_email(rendered, sender=sender, to=owner, reply_to=registration.email)


def erasure_notice(
    registration: Registration,
    *,
    erased_at: datetime,
    sender: str,
    owner: str,
    renderer: Renderer | None = None,
) -> Email:
    """To the owner, in the site's default language: which registration was erased (id and
    address, so the owner can erase it downstream too: docs/erasure.md)."""
    renderer = renderer or default_renderer()
    rendered = renderer.mail(
        "erasure_notice",
        renderer.catalog.default_language,
        id=registration.id,
        name=registration.name,
        email=registration.email,
        erased_at=erased_at,
    )
    return to_email(rendered, sender=sender, to=owner)


def owner_digest(
    day: str,
    registrations: list[Registration],
    *,
    sender: str,
    owner: str,
    renderer: Renderer | None = None,
) -> Email:
    """OWNER_DIGEST=daily: the registrations confirmed on `day` (UTC), in the site's default
    language."""
    renderer = renderer or default_renderer()
    rendered = renderer.mail(
        "owner_digest",
        renderer.catalog.default_language,
        day=day,
        registrations=registrations,
        export_command=EXPORT_COMMAND,
    )
    return to_email(rendered, sender=sender, to=owner)


def to_mime(message: Email, *, now: datetime | None = None) -> Message:
    """A multipart/alternative (text + HTML) message with Date and Message-ID.

    Built with the classic `email.mime` classes: the modern `EmailMessage` API re-parses every
    header it is given and costs ~3 ms of CPU a message, five times as much, which the outbox
    worker of the embedded server would take from the requests it serves."""
    mime = MIMEMultipart("alternative")
    subject = _one_line(message.subject)
    # typeshed types header values as str; Message also takes a Header (RFC 2047-encoded)
    mime["Subject"] = subject if subject.isascii() else Header(subject, "utf-8")  # type: ignore[assignment]
    mime["From"] = wire_address(message.sender)
    mime["To"] = wire_address(message.to)
    if message.reply_to and _plain(message.reply_to):
        # a courtesy header: left out for an address that is not plain ASCII (registrations
        # made before validation refused those), rather than refusing the whole message
        mime["Reply-To"] = wire_address(message.reply_to)
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


def wire_address(addr: str) -> str:
    """`addr` as it goes on the wire (headers, the SMTP envelope, SES's parameters): its
    domain in IDNA (xn--) form. Raises ValueError for a local part that is not plain ASCII."""
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
