"""Mail rendering and MIME building."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import pytest

from regflow import emails
from regflow.domain import Email, Registration, Status

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
LINK = "https://api.example.org/confirm?token=" + "A" * 64


def _reg(name: str = "Jane Doe", address: str = "jane@example.com") -> Registration:
    return Registration(
        id="AAAAAAAAAAAAAAAAAAAAAA",
        name=name,
        email=address,
        status=Status.PENDING,
        timestamp=NOW,
        ttl=int((NOW + timedelta(hours=24)).timestamp()),
    )


def _verification(name: str = "Jane Doe", address: str = "jane@example.com") -> Email:
    return emails.verification(
        _reg(name, address),
        link=LINK,
        expires_at=NOW + timedelta(hours=24),
        hours=24,
        sender="no-reply@example.org",
        site="Example Club",
    )


def test_verification_has_link_and_expiry() -> None:
    msg = _verification()
    assert msg.to == "jane@example.com"
    assert msg.sender == "no-reply@example.org"
    assert LINK in msg.text
    assert f'href="{LINK}"' in msg.html
    assert "Verify my email" in msg.html
    for part in (msg.text, msg.html):
        assert "24 hours" in part
        assert "16 January 2026, 12:00 UTC" in part
        assert "Jane Doe" in part


def test_name_is_html_escaped_in_html_part() -> None:
    evil = "<script>alert(1)</script> & \"'"
    msg = _verification(name=evil)
    assert "<script>" not in msg.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &#34;&#39;" in msg.html
    # The plain-text part is shown as text, so it keeps the name as typed.
    assert evil in msg.text


def test_link_with_special_characters_is_attribute_escaped() -> None:
    msg = emails.verification(
        _reg(),
        link='https://x.example/confirm?a=1&token="><x>',
        expires_at=NOW,
        hours=1,
        sender="no-reply@example.org",
        site="<Site>",
    )
    assert '"><x>' not in msg.html
    assert "&amp;token=&#34;&gt;&lt;x&gt;" in msg.html
    assert "&lt;Site&gt;" in msg.html


def test_already_registered_has_no_link() -> None:
    msg = emails.already_registered(_reg("<b>Jo</b>"), sender="no-reply@example.org", site="S")
    assert msg.subject == "You are already registered"
    assert msg.to == "jane@example.com"
    assert "href" not in msg.html
    assert "token" not in msg.text
    assert "&lt;b&gt;Jo&lt;/b&gt;" in msg.html
    assert "<b>Jo</b>" not in msg.html


def test_owner_notification_names_the_registration_once_per_field() -> None:
    reg = _reg("Zoë <Z>")
    confirmed = Registration(
        id=reg.id,
        name=reg.name,
        email=reg.email,
        status=Status.CONFIRMED,
        timestamp=reg.timestamp,
        ttl=None,
        confirmed_at=NOW + timedelta(minutes=5),
    )
    msg = emails.owner_notification(
        confirmed, sender="no-reply@example.org", owner="owner@example.org"
    )
    assert msg.to == "owner@example.org"
    assert msg.reply_to == "jane@example.com"
    assert msg.subject == "New registration: Zoë <Z>"
    assert "Name: Zoë <Z>" in msg.text
    assert "Email: jane@example.com" in msg.text
    assert "Registered: 2026-01-15 12:00 UTC" in msg.text
    assert "Confirmed: 2026-01-15 12:05 UTC" in msg.text
    assert "Zoë &lt;Z&gt;" in msg.html
    assert "<Z>" not in msg.html


def _parse(raw: bytes) -> email.message.EmailMessage:
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, email.message.EmailMessage)
    return parsed


def test_to_mime_is_multipart_alternative_with_date_and_message_id() -> None:
    mime = emails.to_mime(_verification(), now=NOW)
    parsed = _parse(mime.as_bytes())
    assert parsed.get_content_type() == "multipart/alternative"
    parts = [p.get_content_type() for p in parsed.iter_parts()]
    assert parts == ["text/plain", "text/html"]
    assert parsedate_to_datetime(parsed["Date"]) == NOW
    assert parsed["Message-ID"].startswith("<")
    assert parsed["Message-ID"].endswith("@example.org>")
    assert parsed["From"] == "no-reply@example.org"
    assert parsed["To"] == "jane@example.com"
    assert parsed["Subject"] == "Please verify your email address"
    text = parsed.get_body(("plain",))
    html_part = parsed.get_body(("html",))
    assert text is not None
    assert html_part is not None
    assert LINK in text.get_content()
    assert LINK in html_part.get_content()


def test_message_ids_are_unique() -> None:
    ids = {emails.to_mime(_verification())["Message-ID"] for _ in range(20)}
    assert len(ids) == 20


def test_utf8_names_survive_in_bodies_and_subject() -> None:
    reg = _reg("Zoë 李 Łukasz")
    msg = emails.owner_notification(reg, sender="no-reply@example.org", owner="owner@example.org")
    raw = emails.to_mime(msg, now=NOW).as_bytes()
    raw.split(b"\n\n", 1)[0].decode("ascii")  # headers are encoded (RFC 2047)
    parsed = _parse(raw)
    assert parsed["Subject"] == "New registration: Zoë 李 Łukasz"
    text = parsed.get_body(("plain",))
    assert text is not None
    assert "Zoë 李 Łukasz" in text.get_content()
    assert parsed["Reply-To"] == "jane@example.com"


@pytest.mark.parametrize(
    "subject", ["Hi\r\nBcc: victim@example.com", "Hi\nBcc: victim@example.com", "Hi\u2028x"]
)
def test_no_line_break_reaches_a_header(subject: str) -> None:
    msg = Email(
        sender="no-reply@example.org",
        to="jane@example.com",
        subject=subject,
        text="t",
        html="<p>h</p>",
    )
    raw = emails.to_mime(msg, now=NOW).as_bytes()
    parsed = _parse(raw)
    assert parsed["Bcc"] is None
    header_block = raw.split(b"\n\n", 1)[0]
    assert b"\nBcc:" not in header_block
    assert "\n" not in parsed["Subject"]


def test_header_injection_through_the_address_is_refused() -> None:
    msg = Email(
        sender="no-reply@example.org",
        to="jane@example.com\r\nBcc: victim@example.com",
        subject="s",
        text="t",
        html="h",
    )
    with pytest.raises(ValueError, match="CR or LF"):  # the stdlib refuses CR/LF
        emails.to_mime(msg).as_bytes()


def test_internationalized_domain_is_sent_in_ascii_form() -> None:
    raw = emails.to_mime(_verification(address="jane@münchen.de"), now=NOW).as_bytes()
    parsed = _parse(raw)
    assert parsed["To"] == "jane@xn--mnchen-3ya.de"
    assert b"=?utf-8?" not in raw.split(b"\n\n", 1)[0].split(b"\nTo:", 1)[1].split(b"\n", 1)[0]


def test_a_reply_to_that_is_not_plain_ascii_is_left_out() -> None:
    msg = Email(
        sender="no-reply@example.org",
        to="owner@example.org",
        subject="New registration: Jöe",
        text="t",
        html="h",
        reply_to="jöe@example.com",
    )
    parsed = _parse(emails.to_mime(msg, now=NOW).as_bytes())
    assert parsed["Reply-To"] is None
    assert parsed["Subject"] == "New registration: Jöe"
