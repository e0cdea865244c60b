"""Intake and delivery over the in-memory store: flows, limits, bot trap, outbox."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from regflow.domain import (
    ClientRateLimited,
    CreateResult,
    DeliveryError,
    FailureClass,
    MessageKind,
    Outcome,
    Status,
    ValidationError,
    address_key,
)
from tests.unit.fakes import START, World, world


def _token_from(text: str) -> str:
    for word in text.split():
        if "/confirm?token=" in word:
            return parse_qs(urlsplit(word).query)["token"][0]
    raise AssertionError("no link in the message")


def _register_and_get_token(w: World, address: str = "jane@example.com") -> str:
    assert w.intake.register("Jane", address) is CreateResult.CREATED
    assert w.drain() == 1
    return _token_from(w.mailer.sent[-1].text)


# --- register ---------------------------------------------------------------------------


def test_register_stores_pending_with_ttl_and_owes_verification() -> None:
    w = world()
    assert w.intake.register("  Jane Doe ", "Jane@Example.COM") is CreateResult.CREATED
    (reg,) = w.store.by_id.values()
    assert reg.name == "Jane Doe"
    assert reg.email == "Jane@example.com"
    assert reg.status is Status.PENDING
    assert reg.timestamp == START
    assert reg.ttl == int((START + timedelta(hours=24)).timestamp())
    assert reg.confirmed_at is None
    assert [e.kind for e in w.owed()] == [MessageKind.VERIFICATION]
    assert w.mailer.sent == []  # nothing is sent inside the request


def test_token_ttl_hours_is_honoured() -> None:
    w = world(TOKEN_TTL_HOURS="2")
    w.intake.register("Jane", "jane@example.com")
    (reg,) = w.store.by_id.values()
    assert reg.ttl == int((START + timedelta(hours=2)).timestamp())


def test_verification_mail_carries_a_working_link() -> None:
    w = world()
    token = _register_and_get_token(w)
    msg = w.mailer.sent[0]
    assert msg.to == "jane@example.com"
    assert msg.sender == "no-reply@example.org"
    assert f"https://api.example.org/confirm?token={token}" in msg.text
    assert "24 hours" in msg.text
    (reg,) = w.store.by_id.values()
    assert w.signer.verify(token) == (reg.id, address_key("jane@example.com"))


@pytest.mark.parametrize(
    ("name", "email", "field"),
    [
        ("", "jane@example.com", "name"),
        ("x" * 101, "jane@example.com", "name"),
        ("Ja\u2028ne", "jane@example.com", "name"),
        (None, "jane@example.com", "name"),
        ("Jane", "not-an-address", "email"),
        ("Jane", 12, "email"),
        ("Jane", "jane@blocked.example", "email"),
        ("Jane", "jane@mx.blocked.example", "email"),
    ],
)
def test_invalid_input_raises_and_stores_nothing(name: object, email: object, field: str) -> None:
    w = world(BLOCKED_EMAIL_DOMAINS="blocked.example")
    before = w.snapshot()
    with pytest.raises(ValidationError) as info:
        w.intake.register(name, email, client_key="198.51.100.7")
    assert info.value.field == field
    assert w.snapshot() == before


def test_honeypot_stores_and_sends_nothing() -> None:
    w = world()
    before = w.snapshot()
    result = w.intake.register(
        "Bot", "bot@example.com", client_key="198.51.100.7", honeypot="http://spam"
    )
    assert result is None
    assert w.snapshot() == before
    assert w.drain() == 0


# --- per-address limits ----------------------------------------------------------------


def _emails_after(w: World, posts: int, every: timedelta, address: str) -> int:
    for _ in range(posts):
        w.intake.register("Jane", address)
        w.clock.now += every
    return w.drain()


def test_burst_for_one_address_sends_one_email() -> None:
    w = world()
    assert _emails_after(w, 20, timedelta(0), "jane@example.com") == 1
    assert len(w.store.by_id) == 1


def test_one_email_per_60_seconds() -> None:
    w = world()
    results = []
    for offset in (0, 30, 59, 60, 61, 119, 120):
        w.clock.now = START + timedelta(seconds=offset)
        results.append(w.intake.register("Jane", "jane@example.com"))
    assert results == [
        CreateResult.CREATED,
        CreateResult.ADDRESS_LIMITED,
        CreateResult.ADDRESS_LIMITED,
        CreateResult.CREATED,
        CreateResult.ADDRESS_LIMITED,
        CreateResult.ADDRESS_LIMITED,
        CreateResult.CREATED,
    ]
    assert w.drain() == 3


def test_at_most_five_per_24_hours_then_the_counter_expires() -> None:
    w = world()
    # One post every 10 minutes for 20 hours: 120 posts, 5 emails.
    assert _emails_after(w, 120, timedelta(minutes=10), "jane@example.com") == 5
    # The START mail stops counting 24 hours later.
    w.clock.now = START + timedelta(hours=24) - timedelta(seconds=1)
    assert w.intake.register("Jane", "jane@example.com") is CreateResult.ADDRESS_LIMITED
    w.clock.now = START + timedelta(hours=24)
    assert w.intake.register("Jane", "jane@example.com") is CreateResult.CREATED
    assert w.drain() == 1


def test_daily_cap_holds_over_any_rolling_24_hours() -> None:
    w = world()
    assert w.intake.register("Jane", "jane@example.com") is CreateResult.CREATED
    assert w.drain() == 1
    # late on day one into early day two, one post every 2 minutes: four more on day one,
    # then only the slot the START mail frees at START + 24 h (a fixed window reopened at
    # START + 24 h would have sent five more)
    w.clock.now = START + timedelta(hours=23, minutes=50)
    assert _emails_after(w, 15, timedelta(minutes=2), "jane@example.com") == 5
    assert len(w.store.by_id) == 6
    # the next slot frees when the 23:50 mail is 24 hours old
    w.clock.now = START + timedelta(hours=47, minutes=50) - timedelta(seconds=1)
    assert w.intake.register("Jane", "jane@example.com") is CreateResult.ADDRESS_LIMITED
    w.clock.now = START + timedelta(hours=47, minutes=50)
    assert w.intake.register("Jane", "jane@example.com") is CreateResult.CREATED
    assert w.drain() == 1


def test_limits_are_per_address_and_case_insensitive() -> None:
    w = world()
    assert w.intake.register("Jane", "jane@example.com") is CreateResult.CREATED
    assert w.intake.register("Jane", "JANE@EXAMPLE.COM") is CreateResult.ADDRESS_LIMITED
    assert w.intake.register("Jane", "Jane@Example.com") is CreateResult.ADDRESS_LIMITED
    assert w.intake.register("John", "john@example.com") is CreateResult.CREATED
    assert w.drain() == 2


def test_limited_post_writes_nothing() -> None:
    w = world()
    w.intake.register("Jane", "jane@example.com", client_key="198.51.100.7")
    before = w.snapshot()
    assert (
        w.intake.register("Jane", "jane@example.com", client_key="198.51.100.7")
        is CreateResult.ADDRESS_LIMITED
    )
    after = w.snapshot()
    # nothing but the client's counter (issue 9: a limited post spends client quota too)
    assert after[:2] == before[:2] and after[3:] == before[3:]
    assert {k: v for k, v in after[2].items() if not k.startswith("client:")} == {
        k: v for k, v in before[2].items() if not k.startswith("client:")
    }


@pytest.mark.parametrize(
    ("env", "posts", "expected"),
    [
        ({"ADDRESS_LIMIT_PER_DAY": "2"}, 10, 2),
        ({"ADDRESS_MIN_INTERVAL_SECONDS": "0", "ADDRESS_LIMIT_PER_DAY": "3"}, 10, 3),
        ({"ADDRESS_MIN_INTERVAL_SECONDS": "0", "ADDRESS_LIMIT_PER_DAY": "0"}, 10, 10),
        ({"ADDRESS_MIN_INTERVAL_SECONDS": "3600", "ADDRESS_LIMIT_PER_DAY": "0"}, 10, 4),
    ],
)
def test_limits_are_configurable(env: dict[str, str], posts: int, expected: int) -> None:
    # One post every 20 minutes.
    w = world(**env)
    assert _emails_after(w, posts, timedelta(minutes=20), "jane@example.com") == expected


def test_already_confirmed_address_gets_already_registered_mail_under_the_same_limits() -> None:
    w = world()
    token = _register_and_get_token(w)
    assert w.intake.confirm(token) is Outcome.CONFIRMED
    w.drain()  # owner notification
    sent_before = len(w.mailer.sent)

    w.clock.advance(seconds=61)
    assert w.intake.register("Jane again", "JANE@example.com") is CreateResult.CREATED
    assert w.intake.register("Jane again", "jane@example.com") is CreateResult.ADDRESS_LIMITED
    assert w.drain() == 1
    (msg,) = w.mailer.sent[sent_before:]
    assert msg.subject == "You are already registered"
    assert msg.to == "JANE@example.com"
    assert "confirm?token" not in msg.text and "/confirm" not in msg.html
    # its only link is the erasure link (issue 12), bound to the confirmed registration
    assert msg.text.count("http") == 1 and "/erase?token=" in msg.text
    assert msg.html.count("href") == 1

    # Still under the daily cap: 5 in 24 h counting the first verification mail.
    for _ in range(10):
        w.clock.advance(seconds=61)
        w.intake.register("Jane", "jane@example.com")
    assert w.drain() == 3


# --- per-client limit ------------------------------------------------------------------


def test_client_limit_raises_with_retry_after_and_expires() -> None:
    w = world(IP_LIMIT_PER_HOUR="3")
    for i in range(3):
        w.intake.register("Jane", f"jane{i}@example.com", client_key="198.51.100.7")
        w.clock.advance(minutes=1)
    before = w.snapshot()
    with pytest.raises(ClientRateLimited) as info:
        w.intake.register("Jane", "other@example.com", client_key="198.51.100.7")
    assert info.value.retry_after == 3600 - 180
    assert w.snapshot() == before  # a limited post writes nothing
    # Another client is not affected.
    w.intake.register("Jane", "other@example.com", client_key="198.51.100.8")
    # An hour after the first post the window is over.
    w.clock.now = START + timedelta(hours=1)
    w.intake.register("Jane", "late@example.com", client_key="198.51.100.7")
    assert w.drain() == 5


def test_client_limit_zero_turns_it_off() -> None:
    w = world(IP_LIMIT_PER_HOUR="0")
    for i in range(50):
        w.intake.register("Jane", f"jane{i}@example.com", client_key="198.51.100.7")
    assert w.drain() == 50


def test_no_client_key_means_no_client_limit() -> None:
    w = world(IP_LIMIT_PER_HOUR="1")
    for i in range(3):
        w.intake.register("Jane", f"jane{i}@example.com", client_key=None)
    assert w.drain() == 3


# --- confirm ----------------------------------------------------------------------------


def test_confirm_then_again_notifies_owner_once() -> None:
    w = world()
    token = _register_and_get_token(w)
    w.clock.advance(minutes=5)
    assert w.intake.confirm(token) is Outcome.CONFIRMED
    (reg,) = w.store.by_id.values()
    assert reg.status is Status.CONFIRMED
    assert reg.ttl is None
    assert reg.confirmed_at == START + timedelta(minutes=5)
    assert w.drain() == 1
    owner_mail = w.mailer.sent[-1]
    assert owner_mail.to == "owner@example.org"
    assert "jane@example.com" in owner_mail.text
    assert w.intake.confirm(token) is Outcome.ALREADY_CONFIRMED
    assert w.intake.confirm(" " + token + "\n") is Outcome.ALREADY_CONFIRMED
    assert w.drain() == 0
    assert [m.to for m in w.mailer.sent] == ["jane@example.com", "owner@example.org"]


@pytest.mark.parametrize("token", [None, "", "garbage", "A" * 64, 42, ["x"]])
def test_invalid_tokens_change_nothing(token: object) -> None:
    w = world()
    _register_and_get_token(w)
    before = w.snapshot()
    assert w.intake.confirm(token) is Outcome.INVALID
    assert w.snapshot() == before


def test_token_of_an_unknown_registration_is_invalid() -> None:
    w = world()
    forged = w.signer.issue("A" * 21 + "w", address_key("jane@example.com"))
    assert w.intake.confirm(forged) is Outcome.INVALID


def test_token_with_another_address_key_is_invalid() -> None:
    w = world()
    _register_and_get_token(w)
    (reg,) = w.store.by_id.values()
    forged = w.signer.issue(reg.id, address_key("mallory@example.com"))
    assert w.intake.confirm(forged) is Outcome.INVALID
    assert w.store.by_id[reg.id].status is Status.PENDING


def test_expired_registration_gets_no_mail_and_expired_outcome() -> None:
    w = world()
    w.intake.register("Jane", "jane@example.com")
    (reg,) = w.store.by_id.values()
    token = w.signer.issue(reg.id, reg.addr_key)
    assert w.drain() == 1
    w.clock.now = START + timedelta(hours=24)
    assert w.intake.confirm(token) is Outcome.EXPIRED
    assert w.store.by_id[reg.id].status is Status.PENDING
    assert w.drain() == 0


def test_a_mail_sent_late_carries_a_link_for_a_full_life() -> None:
    """Issue 21: expiry counts from when the verification mail goes out: a mail first sent
    a day after the post (the worker was down) is sent, and its link works a day more."""
    w = world()
    w.intake.register("Jane", "jane@example.com")
    (reg,) = w.store.by_id.values()
    token = w.signer.issue(reg.id, reg.addr_key)
    w.clock.now = START + timedelta(hours=24)
    assert w.drain() == 1
    w.clock.now = START + timedelta(hours=47)
    assert w.intake.confirm(token) is Outcome.CONFIRMED


def test_confirm_just_before_expiry_works() -> None:
    w = world()
    token = _register_and_get_token(w)
    w.clock.now = START + timedelta(hours=24) - timedelta(seconds=1)
    assert w.intake.confirm(token) is Outcome.CONFIRMED


def test_second_registration_of_a_confirmed_address_cannot_be_confirmed() -> None:
    w = world(ADDRESS_MIN_INTERVAL_SECONDS="0")
    first = _register_and_get_token(w)
    second = _register_and_get_token(w, "JANE@example.com")
    assert w.intake.confirm(first) is Outcome.CONFIRMED
    assert w.intake.confirm(second) is Outcome.ALREADY_CONFIRMED
    assert w.drain() == 1  # one owner notification
    assert sum(m.to == "owner@example.org" for m in w.mailer.sent) == 1


def test_pending_verification_mail_after_confirmation_of_another_is_already_registered() -> None:
    w = world(ADDRESS_MIN_INTERVAL_SECONDS="0")
    first = _register_and_get_token(w)
    w.intake.register("Jane", "jane@example.com")  # second mail owed, not yet delivered
    assert w.intake.confirm(first) is Outcome.CONFIRMED
    w.drain()
    subjects = [m.subject for m in w.mailer.sent if m.to == "jane@example.com"]
    assert subjects == ["Please verify your email address", "You are already registered"]


def test_concurrent_clicks_notify_owner_once() -> None:
    w = world()
    token = _register_and_get_token(w)
    outcomes: list[Outcome] = []
    barrier = threading.Barrier(10)

    def click() -> None:
        barrier.wait()
        outcomes.append(w.intake.confirm(token))

    threads = [threading.Thread(target=click) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == sorted([Outcome.CONFIRMED] + [Outcome.ALREADY_CONFIRMED] * 9)
    assert w.drain() == 1


def test_concurrent_posts_for_one_address_send_one_email() -> None:
    w = world()
    barrier = threading.Barrier(20)

    def post() -> None:
        barrier.wait()
        w.intake.register("Jane", "jane@example.com")

    threads = [threading.Thread(target=post) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert w.drain() == 1


# --- delivery ---------------------------------------------------------------------------


def test_delivery_failure_propagates_and_keeps_nothing_sent() -> None:
    w = world()
    w.intake.register("Jane", "jane@example.com")
    w.mailer.fail_with = DeliveryError("throttled", failure=FailureClass.TRANSIENT)
    entry = w.owed()[0]
    with pytest.raises(DeliveryError) as info:
        w.delivery.send(entry)
    assert info.value.transient
    w.mailer.fail_with = None
    assert w.delivery.send(entry) is True
    assert len(w.mailer.sent) == 1


def test_delivery_without_the_channel_refuses_to_send() -> None:
    from regflow.delivery import DeliveryService

    w = world()
    w.intake.register("Jane", "jane@example.com")
    bare = DeliveryService(
        store=w.store, settings=w.settings.mail, signer=w.signer, channels={}, clock=w.clock
    )
    with pytest.raises(RuntimeError, match="no email channel"):
        bare.send(w.owed()[0])


def test_logs_carry_no_token_and_no_full_address(caplog: pytest.LogCaptureFixture) -> None:
    w = world()
    with caplog.at_level(logging.INFO, logger="regflow"):
        token = _register_and_get_token(w, "jane.doe@example.com")
        w.intake.confirm(token)
        w.drain()
    assert caplog.records
    for record in caplog.records:
        rendered = record.getMessage() + " " + repr(vars(record))
        assert token not in rendered
        assert "jane.doe@example.com" not in rendered
