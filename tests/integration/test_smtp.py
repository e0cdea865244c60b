"""SmtpMailer against a real SMTP server (aiosmtpd) on loopback."""

from __future__ import annotations

import email.utils
from datetime import UTC, datetime
from typing import Any

import pytest

from regflow.adapters.smtp import SmtpConfig, SmtpMailer
from regflow.domain import ConfigError, DeliveryError, Email, FailureClass
from tests.support.server import free_port
from tests.support.sqlite import SmtpSink

MESSAGE = Email(
    sender="no-reply@example.org",
    to="zoe@example.com",
    subject="Bienvenue, Zoë Ünïcode",
    text="Hi Zoë Ünïcode,\nhttp://127.0.0.1:8000/confirm?token=abc\n",
    html='<p>Hi Zoë Ünïcode, <a href="http://127.0.0.1:8000/confirm?token=abc">verify</a></p>',
    reply_to="joe@example.com",
)


def test_sends_multipart_text_and_html_with_valid_headers() -> None:
    with SmtpSink() as sink:
        SmtpMailer.from_url(sink.url).send(MESSAGE)
        [msg] = sink.wait_for(1)
    assert sink.envelopes == [("no-reply@example.org", ["zoe@example.com"])]
    assert msg.get_content_type() == "multipart/alternative"
    parts = {p.get_content_type(): p for p in msg.iter_parts()}
    assert set(parts) == {"text/plain", "text/html"}
    assert "Zoë Ünïcode" in parts["text/plain"].get_content()
    assert "Zoë Ünïcode" in parts["text/html"].get_content()
    assert str(msg["Subject"]) == "Bienvenue, Zoë Ünïcode"
    assert msg["From"].addresses[0].addr_spec == "no-reply@example.org"
    assert msg["To"].addresses[0].addr_spec == "zoe@example.com"
    assert msg["Reply-To"].addresses[0].addr_spec == "joe@example.com"
    sent = email.utils.parsedate_to_datetime(str(msg["Date"]))
    assert abs((datetime.now(UTC) - sent).total_seconds()) < 60
    message_id = str(msg["Message-ID"])
    assert message_id.startswith("<") and message_id.endswith("@example.org>")


class Refusing(SmtpSink):
    """Answers `reply` (raw, multi-line with CRLF) at one step: MAIL, RCPT or DATA."""

    def __init__(self, reply: str, stage: str = "rcpt") -> None:
        super().__init__()
        self.reply = reply
        self.stage = stage

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if self.stage == "mail":
            return self.reply
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if self.stage == "rcpt":
            return self.reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.stage == "data":
            return self.reply
        return await super().handle_DATA(server, session, envelope)


@pytest.mark.parametrize(
    ("reply", "stage", "failure", "code"),
    [
        ("450 4.2.1 Mailbox busy, try later", "rcpt", FailureClass.TRANSIENT, "SMTP450-4.2.1"),
        ("550 5.1.1 No such user", "rcpt", FailureClass.RECIPIENT, "SMTP550-5.1.1"),
        # Postfix, the usual answer of a relay that does not know this host
        (
            "554 5.7.1 <zoe@example.com>: Relay access denied",
            "rcpt",
            FailureClass.ACCOUNT,
            "SMTP554-5.7.1",
        ),
        # Gmail, multi-line
        (
            "550-5.1.1 The email account that you tried to reach does not exist. Please try\r\n"
            "550-5.1.1 double-checking the recipient's email address for typos or\r\n"
            "550 5.1.1 unnecessary spaces. - gsmtp",
            "rcpt",
            FailureClass.RECIPIENT,
            "SMTP550-5.1.1",
        ),
        (
            "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup",
            "rcpt",
            FailureClass.RECIPIENT,
            "SMTP550-5.1.10",
        ),
        ("550 Unrouteable address", "rcpt", FailureClass.RECIPIENT, "SMTP550"),  # Exim
        (
            "553 5.1.8 <no-reply@example.org>: Sender address rejected: Domain not found",
            "mail",
            FailureClass.ACCOUNT,
            "SMTP553-5.1.8",
        ),
        ("550 5.1.1 sender unknown", "mail", FailureClass.ACCOUNT, "SMTP550-5.1.1"),
        # at DATA: the message's (content, size, policy), unless it names the mailbox
        ("554 5.7.1 Message refused", "data", FailureClass.ACCOUNT, "SMTP554-5.7.1"),
        (
            "552 5.3.4 Message size exceeds fixed limit",
            "data",
            FailureClass.ACCOUNT,
            "SMTP552-5.3.4",
        ),
        ("554 Transaction failed", "data", FailureClass.ACCOUNT, "SMTP554"),
        ("550 5.1.1 User unknown", "data", FailureClass.RECIPIENT, "SMTP550-5.1.1"),
    ],
)
def test_smtp_replies_map_to_failure_classes(
    reply: str, stage: str, failure: FailureClass, code: str
) -> None:
    with Refusing(reply, stage) as sink, pytest.raises(DeliveryError) as info:
        SmtpMailer.from_url(sink.url).send(MESSAGE)
    assert (info.value.failure, info.value.code) == (failure, code)
    assert sink.messages == []


def test_connection_refused_is_transient() -> None:
    with pytest.raises(DeliveryError) as info:
        SmtpMailer.from_url(f"smtp://127.0.0.1:{free_port()}", timeout=2.0).send(MESSAGE)
    assert info.value.failure is FailureClass.TRANSIENT
    assert isinstance(info.value.__cause__, OSError)


def test_auth_with_url_decoded_credentials() -> None:
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    seen: list[tuple[bytes, bytes]] = []

    def authenticator(
        server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        seen.append((data.login, data.password))
        ok = (data.login, data.password) == (b"me@example.org", b"p@ss:w/rd")
        return AuthResult(success=ok)

    sink = SmtpSink()
    sink.controller.loop.close()  # its own controller is replaced unstarted: free its loop
    sink.controller = Controller(
        sink,
        hostname="127.0.0.1",
        port=sink.port,
        authenticator=authenticator,
        auth_require_tls=False,
    )
    with sink:
        url = f"smtp://me%40example.org:p%40ss%3Aw%2Frd@127.0.0.1:{sink.port}"
        SmtpMailer.from_url(url).send(MESSAGE)
        assert len(sink.wait_for(1)) == 1
    assert seen[0] == (b"me@example.org", b"p@ss:w/rd")
    assert len(sink.messages) == 1


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://mail.local:2525", SmtpConfig("mail.local", 2525, "plain")),
        (
            "smtp+starttls://u%40x:p%2F@smtp.example.org",
            SmtpConfig("smtp.example.org", 587, "starttls", "u@x", "p/"),
        ),
        ("smtps://u:p@smtp.example.org", SmtpConfig("smtp.example.org", 465, "tls", "u", "p")),
    ],
)
def test_smtp_url_forms(url: str, expected: SmtpConfig) -> None:
    assert SmtpConfig.from_url(url) == expected


@pytest.mark.parametrize("url", ["http://x", "smtp://", "smtp://host:notaport"])
def test_bad_smtp_url_names_the_variable(url: str) -> None:
    with pytest.raises(ConfigError, match="SMTP_URL"):
        SmtpConfig.from_url(url)
