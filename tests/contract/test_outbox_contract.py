"""One contract every Outbox adapter passes (memory, SQLite, DynamoDB).

Embedded stores hold every owed message in the outbox (`HOLDS_FRESH`); on AWS the table's
stream hands fresh messages to the sender and the table keeps only parked ones. Everything else
is the same on every store."""

from __future__ import annotations

import dataclasses
import math
from datetime import UTC, datetime, timedelta

import pytest

from regflow.domain import (
    ClaimedMessage,
    Limit,
    Message,
    MessageKind,
    Registration,
    Status,
    address_key,
    mailbox_key,
)
from regflow.ports import OperatorQueries, Outbox, RegistrationStore
from regflow.tokens import new_registration_id

T0 = datetime(2026, 11, 26, 12, 0, 0, 123456, tzinfo=UTC)
NOW = T0.timestamp()
NO_LIMIT = Limit(max_count=0, window_seconds=3600)
LEASE = 600.0


class Store(RegistrationStore, Outbox, OperatorQueries):
    """What the fixture yields: one adapter implementing every port."""


def reg(email: str = "jane@example.com", language: str = "en") -> Registration:
    return Registration(
        id=new_registration_id(),
        name="Jane Doe",
        email=email,
        status=Status.PENDING,
        timestamp=T0,
        ttl=int((T0 + timedelta(hours=24)).timestamp()),
        language=language,
    )


def stored(store: Store, email: str = "jane@example.com", language: str = "en") -> Registration:
    r = reg(email, language)
    store.create_pending(r, address_limit=NO_LIMIT, client_key=None, client_limit=NO_LIMIT)
    drain_fresh(store)
    return r


def drain_fresh(store: Store) -> None:
    """Settle every freshly owed message, as the first delivery would."""
    for claimed in store.claim_due(NOW, 100):
        store.complete(claimed)


def park(store: Store, r: Registration, *, at: float | None, attempts: int = 1) -> Message:
    message = Message(MessageKind.VERIFICATION, r)
    store.park(message, attempts=attempts, error="Throttling", at=at, now=NOW)
    return message


def only(claims: list[ClaimedMessage]) -> ClaimedMessage:
    assert len(claims) == 1, claims
    return claims[0]


def test_fresh_messages_are_owed_with_the_change(store: Store) -> None:
    if not getattr(store, "HOLDS_FRESH", False):
        pytest.skip("on AWS the table's stream delivers fresh messages")
    r = reg(language="de")
    store.create_pending(r, address_limit=NO_LIMIT, client_key=None, client_limit=NO_LIMIT)
    claimed = only(store.claim_due(NOW, 10))
    assert claimed.message == Message(MessageKind.VERIFICATION, r)
    assert claimed.attempts == 1
    assert claimed.first_failed_at is None
    store.complete(claimed)
    assert store.confirm(r.id, r.addr_key, T0) is not None
    owner = only(store.claim_due(NOW, 10))
    assert owner.message.kind is MessageKind.OWNER_NOTIFICATION
    assert owner.message.registration.status is Status.CONFIRMED
    assert owner.message.registration.language == "de"


def test_parked_message_is_kept_whole(store: Store) -> None:
    r = stored(store, language="fr")
    message = park(store, r, at=NOW + 60, attempts=2)
    [parked] = store.parked()
    # whole; its registration lives a link's life past the next attempt (domain.expiry)
    assert r.ttl is not None and r.ttl < NOW + 60 + 24 * 3600
    waiting = dataclasses.replace(r, ttl=math.ceil(NOW + 60) + 24 * 3600)
    assert parked.message == dataclasses.replace(message, registration=waiting)
    assert parked.attempts == 2
    assert parked.last_error == "Throttling"
    assert parked.parked_at == pytest.approx(NOW)
    assert parked.next_attempt_at == pytest.approx(NOW + 60)
    assert store.stats().outbox_parked == 1


def test_parked_message_is_due_at_its_time(store: Store) -> None:
    r = stored(store)
    park(store, r, at=NOW + 60, attempts=2)
    assert store.claim_due(NOW + 59, 10) == []
    claimed = only(store.claim_due(NOW + 60, 10))
    assert claimed.message.registration.id == r.id
    assert claimed.attempts == 3
    assert claimed.first_failed_at == pytest.approx(NOW)


def test_a_claim_is_handed_out_once_until_its_lease_runs_out(store: Store) -> None:
    r = stored(store)
    park(store, r, at=NOW)
    only(store.claim_due(NOW, 10))
    assert store.claim_due(NOW + 1, 10) == []
    again = only(store.claim_due(NOW + LEASE + 1, 10))
    assert again.message.registration.id == r.id


def test_complete_forgets_the_message(store: Store) -> None:
    r = stored(store)
    park(store, r, at=NOW)
    store.complete(only(store.claim_due(NOW, 10)))
    assert store.parked() == []
    assert store.claim_due(NOW + 10 * LEASE, 10) == []


def test_fail_makes_it_due_again_later(store: Store) -> None:
    r = stored(store)
    park(store, r, at=NOW)
    claimed = only(store.claim_due(NOW, 10))
    store.fail(claimed, at=NOW + 30, error="ServiceUnavailable")
    assert store.claim_due(NOW + 29, 10) == []
    again = only(store.claim_due(NOW + 30, 10))
    assert again.attempts == claimed.attempts + 1


def test_parking_a_claim_settles_it(store: Store) -> None:
    r = stored(store)
    message = park(store, r, at=NOW)
    claimed = only(store.claim_due(NOW, 10))
    store.park(
        message,
        attempts=claimed.attempts,
        error="AccessDenied",
        at=None,
        now=NOW + 5,
        claimed=claimed,
    )
    [parked] = store.parked()
    assert parked.last_error == "AccessDenied"
    assert parked.next_attempt_at is None
    assert parked.parked_at == pytest.approx(NOW)  # the first time it was parked
    assert store.claim_due(NOW + 100 * LEASE, 10) == []  # only an operator brings it back
    assert store.requeue_parked(NOW + 10) == 1
    requeued = only(store.claim_due(NOW + 10, 10))
    assert requeued.message == message
    assert requeued.first_failed_at is None  # the operator fixed it: a fresh retry window


def test_parking_again_keeps_one_copy(store: Store) -> None:
    r = stored(store)
    park(store, r, at=NOW + 10)
    park(store, r, at=NOW + 20, attempts=3)
    [parked] = store.parked()
    assert parked.attempts == 3
    assert parked.next_attempt_at == pytest.approx(NOW + 20)


def test_drop_records_the_failure_on_the_registration(store: Store) -> None:
    r = stored(store)
    message = park(store, r, at=NOW)
    claimed = only(store.claim_due(NOW, 10))
    store.drop(message, error="MailboxUnavailable", claimed=claimed)
    assert store.parked() == []
    assert store.claim_due(NOW + 100 * LEASE, 10) == []
    current = store.get(r.id)
    assert current is not None
    assert current.delivery_failure == "MailboxUnavailable"


def test_drop_of_a_fresh_message(store: Store) -> None:
    r = stored(store)
    store.drop(Message(MessageKind.VERIFICATION, r), error="MessageRejected")
    current = store.get(r.id)
    assert current is not None and current.delivery_failure == "MessageRejected"


def test_messages_of_an_erased_address_go_with_it(store: Store) -> None:
    r = stored(store)
    other = stored(store, "other@example.com")
    park(store, r, at=NOW)
    park(store, other, at=NOW)
    assert store.delete_address(address_key(r.email), mailbox_key(r.email)) == 1
    [left] = store.parked()
    assert left.message.registration.id == other.id
    assert only(store.claim_due(NOW, 10)).message.registration.id == other.id


def test_oldest_first_and_limit(store: Store) -> None:
    regs = [stored(store, f"u{i}@example.com") for i in range(3)]
    for i, r in enumerate(regs):
        store.park(Message(MessageKind.VERIFICATION, r), attempts=1, error="x", at=NOW, now=NOW + i)
    first = store.claim_due(NOW, 2)
    assert [c.message.registration.id for c in first] == [r.id for r in regs[:2]]
    assert [c.message.registration.id for c in store.claim_due(NOW, 2)] == [regs[2].id]
