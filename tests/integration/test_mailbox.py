"""The local mailbox: one .eml per message, written atomically, listed newest first."""

from __future__ import annotations

from pathlib import Path

import pytest

from regflow.adapters.mailbox import MailboxMailer
from regflow.domain import DeliveryError, Email, FailureClass


def mail(n: int) -> Email:
    return Email(
        sender="no-reply@localhost",
        to=f"user{n}@example.com",
        subject=f"Message {n} für Zoë",
        text=f"text {n}",
        html=f"<p>html {n}</p>",
    )


def test_one_eml_per_message_newest_first(tmp_path: Path) -> None:
    box = MailboxMailer(tmp_path / "mailbox")
    assert box.messages() == []
    for n in range(3):
        box.send(mail(n))
    files = sorted((tmp_path / "mailbox").iterdir())
    assert [f.suffix for f in files] == [".eml"] * 3  # no temporary files left behind
    listed = box.messages()
    assert [m.subject for m in listed] == [f"Message {n} für Zoë" for n in (2, 1, 0)]
    assert listed[0].to == "user2@example.com"
    message = box.message(listed[0].id)
    assert message is not None
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    assert body.get_content().strip() == "text 2"


@pytest.mark.parametrize("bad", ["../secret", "x", "", "01795677853399047-zzzzzzzz"])
def test_message_ids_are_checked(tmp_path: Path, bad: str) -> None:
    box = MailboxMailer(tmp_path)
    box.send(mail(1))
    assert box.message(bad) is None


def test_unwritable_mailbox_is_a_transient_delivery_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(DeliveryError) as info:
        MailboxMailer(blocker / "mailbox").send(mail(1))
    assert info.value.failure is FailureClass.TRANSIENT
