"""Rules added after a review: bots learn nothing, names carry no links, a retried record of a
confirmed registration owes no link, and sub-addresses share one inbox's limit."""

from __future__ import annotations

import pytest

from regflow.domain import Message, MessageKind, ValidationError, address_key, mailbox_key
from regflow.validation import clean_name
from tests.unit.fakes import world


def test_a_honeypot_post_is_dropped_before_validation() -> None:
    w = world()
    before = w.snapshot()
    assert w.intake.register("", "not an address", honeypot="http://spam") is None
    assert w.snapshot() == before


@pytest.mark.parametrize(
    "name", ["Visit https://evil.example", "hxxp://x", "www.evil.example now", "WWW.X.ORG"]
)
def test_a_name_with_a_web_address_is_refused(name: str) -> None:
    with pytest.raises(ValidationError) as info:
        clean_name(name)
    assert info.value.field == "name"


@pytest.mark.parametrize("name", ["Jane Doe", "Dr. Who", "O'Brien", "Łukasz W.", "Wwwilliam"])
def test_ordinary_names_pass(name: str) -> None:
    assert clean_name(name) == name


def test_a_retried_verification_of_a_confirmed_registration_sends_nothing() -> None:
    w = world()
    w.intake.register("Jane", "jane@example.com")
    [entry] = w.owed()
    w.drain()
    reg = entry.registration
    link = w.mailer.sent[0].text.split("token=")[1].split()[0]
    assert w.intake.confirm(link).value == "confirmed"
    sent = len(w.mailer.sent)
    # the stream delivers the INSERT record again (a retry): its image is still PENDING
    assert w.delivery.send(Message(MessageKind.VERIFICATION, reg)) is False
    assert len(w.mailer.sent) == sent


def test_mailbox_key_folds_sub_addresses_and_gmail_dots() -> None:
    assert mailbox_key("Jane+news@Example.com") == mailbox_key("jane@example.com")
    assert mailbox_key("j.a.n.e@googlemail.com") == mailbox_key("jane@gmail.com")
    assert mailbox_key("j.ane@example.com") != mailbox_key("jane@example.com")
    # the confirmed lock and the tokens stay per address as typed
    assert address_key("jane+news@example.com") != address_key("jane@example.com")
