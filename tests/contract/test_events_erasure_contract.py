"""Issue 12's store contract, on every store: a confirmation owes one event message per target
with it; an erasure removes what `delete_address` removes and owes the owner's notice and one
erased event per target, which outlive the registration (claimable, parkable). Embedded stores
also owe a day's digest once. (DynamoDB owes its messages through the stream instead: its
erasure is covered by tests/integration/test_dynamodb_erasure.py.)"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from regflow.domain import MessageKind, Outcome, Status, address_key
from regflow.domain.digest import digest_message
from tests.contract.test_operator_contract import T0, Store, add


@pytest.fixture
def embedded(store: Any) -> Any:  # a Store that is also an ErasureStore
    if not getattr(store, "HOLDS_FRESH", False):
        pytest.skip("on AWS the table's stream owes fresh messages (tests/integration)")
    store.event_targets = ("webhook:aaaa", "eventbridge")
    return store


def owed(store: Store) -> list[tuple[str, str, str]]:
    claims = store.claim_due(T0.timestamp() + 10**6, 100)
    for claimed in claims:
        store.complete(claimed)
    return [(c.message.kind.value, c.message.target, c.message.registration.id) for c in claims]


def test_a_confirmation_owes_one_event_per_target(embedded: Any) -> None:
    r = add(embedded, "ada@example.com")
    owed(embedded)
    assert embedded.confirm(r.id, r.addr_key, T0 + timedelta(minutes=1)) is Outcome.CONFIRMED
    assert owed(embedded) == [
        ("owner-notification", "", r.id),
        ("registration-confirmed", "webhook:aaaa", r.id),
        ("registration-confirmed", "eventbridge", r.id),
    ]


@pytest.mark.parametrize("by", ["link", "code"])
def test_every_way_to_confirm_owes_the_same_messages(embedded: Any, by: str) -> None:
    """By the link or by the code beside it (CONFIRM_CODE): one confirmation, one set of
    messages owed with it."""
    r = add(embedded, "ada@example.com")
    owed(embedded)
    at = T0 + timedelta(minutes=1)
    if by == "link":
        outcome = embedded.confirm(r.id, r.addr_key, at)
    else:
        outcome = embedded.confirm_code(r.id, r.addr_key, at, matched=True, max_tries=5)
    assert outcome is Outcome.CONFIRMED
    assert owed(embedded) == [
        ("owner-notification", "", r.id),
        ("registration-confirmed", "webhook:aaaa", r.id),
        ("registration-confirmed", "eventbridge", r.id),
    ]


def test_erasure_removes_the_address_and_owes_outliving_messages(embedded: Any) -> None:
    r = add(embedded, "ada@example.com")
    other = add(embedded, "ADA@example.com", minutes=2)  # the same address, another attempt
    keep = add(embedded, "bob@example.com")
    embedded.confirm(r.id, r.addr_key, T0 + timedelta(minutes=1))
    assert embedded.erase(r.id, address_key("bob@example.com"), T0) is None  # wrong address
    erased = embedded.erase(r.id, r.addr_key, T0 + timedelta(minutes=5))
    assert erased is not None and erased.id == r.id and erased.status is Status.CONFIRMED
    assert embedded.get(r.id) is None and embedded.get(other.id) is None
    assert embedded.confirmed_registration_id(r.addr_key) is None
    assert embedded.get(keep.id) is not None
    assert [x.id for x in embedded.registrations()] == [keep.id]
    claims = embedded.claim_due(T0.timestamp() + 10**6, 100)
    erasure = [c for c in claims if c.message.kind.outlives_registration]
    assert [(c.message.kind, c.message.target) for c in erasure] == [
        (MessageKind.ERASURE_NOTICE, ""),
        (MessageKind.REGISTRATION_ERASED, "webhook:aaaa"),
        (MessageKind.REGISTRATION_ERASED, "eventbridge"),
    ]
    assert all(c.message.registration.email == "ada@example.com" for c in erasure)
    # parked, they are still kept and listed although the registration is gone
    notice = erasure[0]
    embedded.park(notice.message, attempts=1, error="x", at=None, now=0.0, claimed=notice)
    assert [p.message.kind for p in embedded.parked()] == [MessageKind.ERASURE_NOTICE]
    assert embedded.erase(r.id, r.addr_key, T0) is None  # nothing left


def test_a_days_digest_is_owed_once(embedded: Any) -> None:
    owe = embedded.owe_digest
    assert owe(digest_message("2026-11-25")) is True
    assert owe(digest_message("2026-11-25")) is False
    [claimed] = embedded.claim_due(T0.timestamp() + 10**6, 100)
    assert claimed.message == digest_message("2026-11-25")


def test_events_and_mail_are_claimed_apart(embedded: Any) -> None:
    """Issue 27: the embedded worker sends mail and events in threads of their own, each
    claiming only its sort (a slow webhook receiver never holds a verification mail)."""
    r = add(embedded, "ada@example.com")
    embedded.confirm(r.id, r.addr_key, T0 + timedelta(minutes=1))
    later = T0.timestamp() + 10**6
    events = embedded.claim_due(later, 100, events=True)
    assert sorted((c.message.kind, c.message.target) for c in events) == [
        (MessageKind.REGISTRATION_CONFIRMED, "eventbridge"),
        (MessageKind.REGISTRATION_CONFIRMED, "webhook:aaaa"),
    ]
    assert embedded.claim_due(later, 100, events=True) == []  # claimed: not handed out again
    mail = embedded.claim_due(later, 100, events=False)
    assert sorted(c.message.kind for c in mail) == [
        MessageKind.OWNER_NOTIFICATION,
        MessageKind.VERIFICATION,
    ]
    assert embedded.claim_due(later, 100) == []
