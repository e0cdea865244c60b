"""The local mailbox pages (`/_mailbox`): developer pages over the `.eml` files, served only
on loopback (they hold live verification links)."""

from __future__ import annotations

import html
import re
from email.message import EmailMessage

from starlette.responses import Response

from regflow.adapters.mailbox import MailboxMailer

_URL_RE = re.compile(r"https?://[^\s<>\"']+")


def page(title: str, body: str, status: int = 200) -> Response:
    doc = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>{html.escape(title)}</title><link rel="stylesheet" href="/styles.css">'
        f'</head><body><main class="card mailbox">{body}</main></body></html>'
    )
    return Response(doc, status_code=status, media_type="text/html; charset=utf-8")


def _linkify(text: str) -> str:
    """Escape `text` for HTML and make each http(s) URL a link."""
    out: list[str] = []
    last = 0
    for match in _URL_RE.finditer(text):
        out.append(html.escape(text[last : match.start()]))
        url = match.group(0)
        out.append(
            f'<a class="mail-link" href="{html.escape(url, quote=True)}">{html.escape(url)}</a>'
        )
        last = match.end()
    out.append(html.escape(text[last:]))
    return "".join(out)


def _text_part(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    if part is None:
        return ""
    content = part.get_content()
    return content if isinstance(content, str) else ""


def mailbox_index(mailbox: MailboxMailer | None, smtp: bool) -> Response:
    if mailbox is None:
        return page("Mailbox", "<h1>Mailbox</h1><p>No local mailbox in this mode.</p>", 404)
    messages = mailbox.messages()
    rows = "".join(
        "<tr>"
        f'<td><a class="message-link" href="/_mailbox/{m.id}">{html.escape(m.subject)}</a></td>'
        f"<td>{html.escape(m.to)}</td>"
        f'<td><time datetime="{m.date.isoformat()}">'
        f"{m.date.strftime('%Y-%m-%d %H:%M:%S')} UTC</time></td>"
        "</tr>"
        for m in messages
    )
    note = (
        "<p>Mail is going to the SMTP server in <code>SMTP_URL</code>; nothing lands here.</p>"
        if smtp
        else ""
    )
    table = (
        '<table class="messages"><thead><tr><th scope="col">Subject</th>'
        '<th scope="col">To</th><th scope="col">Received</th></tr></thead>'
        f"<tbody>{rows}</tbody></table>"
        if messages
        else '<p class="empty">No messages yet.</p>'
    )
    count = f"{len(messages)} message{'s' if len(messages) != 1 else ''}, newest first."
    return page(
        "Mailbox",
        f'<h1>Local mailbox</h1>{note}<p>{count} <a href="/">Back to the sign-up page</a></p>'
        f"{table}",
    )


def mailbox_message(mailbox: MailboxMailer | None, message_id: str) -> Response:
    message = mailbox.message(message_id) if mailbox is not None else None
    if message is None:
        return page(
            "Not found", '<h1>No such message</h1><p><a href="/_mailbox">Mailbox</a></p>', 404
        )
    fields = "".join(
        f"<dt>{name}</dt><dd>{html.escape(str(message.get(name, '')))}</dd>"
        for name in ("From", "To", "Subject", "Date")
    )
    return page(
        str(message.get("Subject", "Message")),
        '<p><a href="/_mailbox">&larr; Mailbox</a></p>'
        f"<h1>{html.escape(str(message.get('Subject', '')))}</h1>"
        f'<dl class="headers">{fields}</dl>'
        f'<pre class="mail-body">{_linkify(_text_part(message))}</pre>',
    )
