"""Expiry counts from when the verification mail goes out (issue 21, `domain.expiry`), on
every store (memory, SQLite, PostgreSQL, DynamoDB): while the mail is owed the registration
neither expires nor is purged, and the link it finally carries works a full life from the
send; a mail given up leaves the registration to expire as it stands."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import cast

import pytest

from regflow.domain import Message, MessageKind, Outcome, Status
from regflow.ports import WorkerOutbox
from tests.contract.test_outbox_contract import NOW, Store, only, park, stored

DAY = 24 * 3600


def at(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def test_an_outage_longer_than_the_link_s_life_keeps_the_registration(store: Store) -> None:
    """SES refuses for three days (the mail parks, retried hourly); then it works: the
    registration was never expired, and the link it goes out with lives a full day."""
    r = stored(store)
    assert r.ttl is not None
    t = NOW
    for _ in range(3 * 24):  # an attempt an hour, each parking it again
        park(store, r, at=t + 3600, attempts=2)
        t += 3600
        got = store.get(r.id)
        assert got is not None and got.ttl is not None and got.ttl >= t + DAY, t
        assert not got.expired(at(t))
    fixed = t + 120  # the worker comes round a little late
    claimed = only(store.claim_due(fixed, 10))
    sent = claimed.message.registration
    assert sent.ttl is not None and sent.ttl >= fixed + DAY  # a full life from the send
    assert sent.ttl > r.ttl + 3 * DAY
    stored_reg = store.get(r.id)
    assert stored_reg is not None and stored_reg.ttl == sent.ttl
    store.complete(claimed)
    # the link still works nearly a day after the send, not after the original expiry
    assert store.confirm(r.id, r.addr_key, at(fixed + DAY - 60)) is Outcome.CONFIRMED


def test_a_quick_retry_keeps_the_registration_alive(store: Store) -> None:
    r = stored(store)
    assert r.ttl is not None
    park(store, r, at=NOW)  # due at once: its ttl stays
    assert store.get(r.id) == r
    claimed = only(store.claim_due(NOW, 10))
    store.fail(claimed, at=r.ttl + 30, error="Throttling")  # retried after the old expiry
    got = store.get(r.id)
    assert got is not None and got.ttl is not None and got.ttl >= r.ttl + 30 + DAY - 1


def test_a_mail_given_up_leaves_the_expiry_as_it_stands(store: Store) -> None:
    r = stored(store)
    park(store, r, at=None, attempts=40)  # waits for an operator: no automatic attempt
    assert store.get(r.id) == r


def test_other_messages_and_confirmed_registrations_are_not_pushed(store: Store) -> None:
    r = stored(store)
    assert store.confirm(r.id, r.addr_key, at(NOW)) is Outcome.CONFIRMED
    for claimed in store.claim_due(NOW, 10):
        store.complete(claimed)
    confirmed = store.get(r.id)
    assert confirmed is not None and confirmed.status is Status.CONFIRMED
    store.park(
        Message(MessageKind.OWNER_NOTIFICATION, confirmed),
        attempts=1,
        error="Throttling",
        at=NOW + 5 * DAY,
        now=NOW,
    )
    park(store, confirmed, at=NOW + 5 * DAY)
    assert store.get(r.id) == confirmed


def test_an_owed_verification_is_not_purged(store: Store) -> None:
    """Embedded: the purge leaves a registration whose verification mail is still owed
    automatically, however late (the worker was down); once given up, it goes as before.
    (DynamoDB: TTL, which the pushed ttl keeps off: the tests above.)"""
    purge = getattr(store, "purge_expired", None)
    if purge is None:
        pytest.skip("DynamoDB: TTL deletes, and the pushed ttl keeps it off (the tests above)")
    outbox = cast(WorkerOutbox, store)
    owed, given_up = stored(store, "owed@example.com"), stored(store, "gone@example.com")
    park(store, owed, at=NOW + 60)
    park(store, given_up, at=None)
    assert purge(at(NOW + 10 * DAY)) == 1
    assert store.get(given_up.id) is None
    assert store.get(owed.id) is not None
    claimed = only(outbox.claim_due(NOW + 10 * DAY, 10))
    assert claimed.message.registration.ttl is not None
    assert claimed.message.registration.ttl >= NOW + 11 * DAY
