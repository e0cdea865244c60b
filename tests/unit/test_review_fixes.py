"""Defects a review of the reshaped core found, each pinned by the test that would have caught
it: a message accepted by the SMTP server is never sent again for a bad QUIT; `regflow redrive`
drains every parked message even when some are no longer owed; a malformed URL setting is a
ConfigError naming the variable (no traceback, no echo of the value)."""

from __future__ import annotations

import smtplib
from pathlib import Path
from typing import Any

import pytest

from regflow.adapters.mailbox import MailboxMailer
from regflow.adapters.smtp import SmtpMailer
from regflow.config import Settings
from regflow.domain import ConfigError, Email, MessageKind
from regflow.ops.redrive.queue import drain_parked
from tests.unit.fakes import BASE_ENV, world

MESSAGE = Email(sender="s@example.org", to="t@example.org", subject="s", text="t", html="<p>t</p>")


class QuitFails:
    """An SMTP session that accepts the message, then answers QUIT badly."""

    def __init__(self) -> None:
        self.sent = 0
        self.closed = False

    def send_message(self, message: Any) -> None:
        self.sent += 1

    def quit(self) -> None:
        raise smtplib.SMTPServerDisconnected("421 closing")

    def close(self) -> None:
        self.closed = True


def test_a_bad_quit_after_the_message_was_accepted_is_not_a_failure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    session = QuitFails()
    mailer = SmtpMailer.from_url("smtp://127.0.0.1:2525")
    monkeypatch.setattr(mailer, "_connect", lambda: session)
    mailer.send(MESSAGE)  # no DeliveryError: the policy would send it again
    assert session.sent == 1 and session.closed


def test_redrive_drains_past_messages_no_longer_owed() -> None:
    w = world()
    for i in range(30):
        w.clock.advance(minutes=2)
        w.intake.register(f"User {i}", f"u{i}@example.com")
    now = w.clock().timestamp()
    for claimed in w.store.claim_due(now, 100):  # every verification fails for good, parked
        w.store.park(claimed.message, attempts=1, error="x", at=None, now=now, claimed=claimed)
    first = next(iter(w.store.by_id.values()))
    w.store.confirm(first.id, first.addr_key, w.clock())  # its verification is no longer owed
    w.clock.advance(seconds=1)
    lines = drain_parked(w.delivery, w.store, w.clock().timestamp())
    results = [line.result for line in lines if line.kind == MessageKind.VERIFICATION.value]
    assert len(results) == 30
    assert results.count("sent") == 29
    assert w.store.parked() == []


@pytest.mark.parametrize(
    "value", ["http://[::1", "http://h:abc/", "https://:443", "ftp://x.example"]
)
def test_a_malformed_url_setting_names_the_variable_not_the_value(value: str) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env({**BASE_ENV, "API_BASE_URL": value})
    assert "API_BASE_URL" in str(info.value) and value not in str(info.value)


def test_erasure_matches_whole_addresses_only(tmp_path: Path) -> None:
    box = MailboxMailer(tmp_path)
    for to, text in (("jo@example.com", "hi"), ("ajo@example.com", "hi ajo@example.com")):
        box.send(Email(sender="s@example.org", to=to, subject="s", text=text, html="<p/>"))
    assert box.erase("jo@example.com") == 1
    assert [m.to for m in box.messages()] == ["ajo@example.com"]
