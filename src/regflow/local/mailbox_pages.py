"""The local mailbox pages (`/_mailbox`): developer pages over the `.eml` files, served only
on loopback (they hold live verification links). Words and markup from `regflow.render`."""

from __future__ import annotations

from email.message import EmailMessage

from starlette.responses import Response

from regflow.adapters.mailbox import MailboxMailer
from regflow.render.templates import Renderer


def _html(body: str, status: int = 200) -> Response:
    return Response(body, status_code=status, media_type="text/html; charset=utf-8")


def _text_part(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    if part is None:
        return ""
    content = part.get_content()
    return content if isinstance(content, str) else ""


def missing_web(renderer: Renderer, lang: str) -> Response:
    return _html(renderer.page("missing_web", lang), 404)


def mailbox_index(
    renderer: Renderer, lang: str, mailbox: MailboxMailer | None, smtp: bool
) -> Response:
    if mailbox is None:
        return _html(renderer.page("mailbox_unavailable", lang), 404)
    return _html(renderer.page("mailbox_index", lang, messages=mailbox.messages(), smtp=smtp))


def mailbox_message(
    renderer: Renderer, lang: str, mailbox: MailboxMailer | None, message_id: str
) -> Response:
    message = mailbox.message(message_id) if mailbox is not None else None
    if message is None:
        return _html(renderer.page("mailbox_message_missing", lang), 404)
    return _html(
        renderer.page(
            "mailbox_message",
            lang,
            sender=str(message.get("From", "")),
            to=str(message.get("To", "")),
            subject=str(message.get("Subject", "")),
            date=str(message.get("Date", "")),
            body=_text_part(message),
        )
    )
