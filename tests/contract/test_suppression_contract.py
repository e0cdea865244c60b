"""The suppression list, soft-bounce counts and bounce marking: one contract for every store
(memory, SQLite, PostgreSQL, DynamoDB)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import cast

import pytest

from regflow.domain import (
    Outcome,
    Status,
    Suppression,
    SuppressionReason,
    mailbox_key,
)
from regflow.ports import RegistrationStore, SuppressionList
from tests.contract.test_store_contract import NO_LIMIT, T0, reg

DAY = 86400


def entry(
    email: str, at: datetime = T0, reason: SuppressionReason = SuppressionReason.BOUNCE
) -> Suppression:
    return Suppression(
        key=mailbox_key(email),
        email=email,
        reason=reason,
        diagnostic="smtp; 550 5.1.1 user unknown",
        since=at,
    )


def test_suppress_round_trips_and_keys_one_inbox(store: RegistrationStore) -> None:
    s = cast(SuppressionList, store)
    assert s.suppression(mailbox_key("jane@example.com")) is None
    assert s.suppress(entry("jane+news@example.com")) is True
    got = s.suppression(mailbox_key("Jane+other@Example.com"))
    assert got == entry("jane+news@example.com")
    assert s.suppressions() == [got]


def test_suppress_again_keeps_the_first_entry(store: RegistrationStore) -> None:
    s = cast(SuppressionList, store)
    first = entry("j.ane@gmail.com")
    assert s.suppress(first)
    later = entry("jane@gmail.com", T0 + timedelta(hours=1), SuppressionReason.COMPLAINT)
    assert s.suppress(later) is False
    assert s.suppression(mailbox_key("jane@gmail.com")) == first


def test_list_is_oldest_first_and_lift_removes(store: RegistrationStore) -> None:
    s = cast(SuppressionList, store)
    b = entry("b@example.com", T0 + timedelta(minutes=5))
    a = entry("a@example.com", T0, SuppressionReason.OPERATOR)
    s.suppress(b)
    s.suppress(a)
    assert s.suppressions() == [a, b]
    assert s.lift(a.key) is True
    assert s.lift(a.key) is False
    assert s.suppressions() == [b]
    assert s.suppression(a.key) is None


def test_soft_bounces_count_inside_the_window(store: RegistrationStore) -> None:
    s = cast(SuppressionList, store)
    key = mailbox_key("full@example.com")
    t = int(T0.timestamp())
    assert s.count_soft_bounce(key, t, 7 * DAY) == 1
    assert s.count_soft_bounce(key, t + DAY, 7 * DAY) == 2
    assert s.count_soft_bounce(key, t + 7 * DAY, 7 * DAY) == 2  # the first slid out
    assert s.count_soft_bounce(mailbox_key("other@example.com"), t, 7 * DAY) == 1
    s.lift(key)
    assert s.count_soft_bounce(key, t + 8 * DAY, 7 * DAY) == 1


def test_bounced_registration_is_marked_and_never_confirmable(store: RegistrationStore) -> None:
    s = cast(SuppressionList, store)
    r = reg()
    store.create_pending(r, address_limit=NO_LIMIT, client_key=None, client_limit=NO_LIMIT)
    assert s.mark_undeliverable(r.id, Status.BOUNCED, "smtp; 550 5.1.1 user unknown") is True
    got = store.get(r.id)
    assert got is not None
    assert (got.status, got.delivery_failure) == (Status.BOUNCED, "smtp; 550 5.1.1 user unknown")
    assert s.mark_undeliverable(r.id, Status.COMPLAINED, "abuse") is False  # marked once
    assert store.confirm(r.id, r.addr_key, T0 + timedelta(minutes=1)) is Outcome.INVALID
    assert store.confirmed_registration_id(r.addr_key) is None


def test_bounced_registration_is_invalid_by_code_too(store: RegistrationStore) -> None:
    """The code beside the link judges a bounced registration as the link does: INVALID (SQL
    stores answered EXPIRED), and a wrong code on it counts nothing."""
    s = cast(SuppressionList, store)
    r = reg()
    store.create_pending(r, address_limit=NO_LIMIT, client_key=None, client_limit=NO_LIMIT)
    assert s.mark_undeliverable(r.id, Status.BOUNCED, "smtp; 550 5.1.1 user unknown") is True
    later = T0 + timedelta(minutes=1)
    for matched in (True, False, True):
        outcome = store.confirm_code(r.id, r.addr_key, later, matched=matched, max_tries=1)
        assert outcome is Outcome.INVALID
    got = store.get(r.id)
    assert got is not None and got.status is Status.BOUNCED
    assert store.confirmed_registration_id(r.addr_key) is None


def test_confirmed_or_unknown_registrations_are_not_marked(store: RegistrationStore) -> None:
    s = cast(SuppressionList, store)
    r = reg()
    store.create_pending(r, address_limit=NO_LIMIT, client_key=None, client_limit=NO_LIMIT)
    assert store.confirm(r.id, r.addr_key, T0) is Outcome.CONFIRMED
    assert s.mark_undeliverable(r.id, Status.COMPLAINED, "abuse") is False
    got = store.get(r.id)
    assert got is not None and got.status is Status.CONFIRMED
    assert s.mark_undeliverable("no-such-id", Status.BOUNCED, "x") is False


def test_diagnostic_is_cut_to_200(store: RegistrationStore) -> None:
    s = cast(SuppressionList, store)
    r = reg(email="long@example.com", at=datetime(2026, 11, 26, 13, tzinfo=UTC))
    store.create_pending(r, address_limit=NO_LIMIT, client_key=None, client_limit=NO_LIMIT)
    s.mark_undeliverable(r.id, Status.BOUNCED, "x" * 500)
    got = store.get(r.id)
    assert got is not None and got.delivery_failure == "x" * 200


def test_bounced_registrations_and_old_soft_bounces_are_purged(store: RegistrationStore) -> None:
    """Embedded stores purge a BOUNCED registration like the PENDING one it was (on DynamoDB,
    TTL removes it: its `ttl` stays); the inbox stays suppressed."""
    purge = getattr(store, "purge_expired", None)
    if purge is None:
        pytest.skip("on AWS, TTL deletes expired items (ttl and SOFTBOUNCE# ttl are kept)")
    s = cast(SuppressionList, store)
    bounced, pending = reg("gone@example.com"), reg("live@example.com", hours=72)
    for r in (bounced, pending):
        store.create_pending(r, address_limit=NO_LIMIT, client_key=None, client_limit=NO_LIMIT)
    s.mark_undeliverable(bounced.id, Status.BOUNCED, "smtp; 550")
    s.suppress(entry("gone@example.com"))
    key = mailbox_key("full@example.com")
    s.count_soft_bounce(key, int(T0.timestamp()), DAY)
    assert purge(T0 + timedelta(hours=25)) == 1
    assert store.get(bounced.id) is None
    assert store.get(pending.id) is not None
    assert s.suppression(mailbox_key("gone@example.com")) is not None
    # the soft bounce a day old no longer counts, and its row is gone
    assert s.count_soft_bounce(key, int(T0.timestamp()) + 25 * 3600, DAY) == 1


def test_restore_lifts_the_inbox_and_owes_the_bounced_mail_again(store: RegistrationStore) -> None:
    """The undo of a suppression (`regflow suppression lift`, the mail breaker): the inbox
    off the list, its BOUNCED registration PENDING again with its verification owed at once;
    a confirmed, an expired or an unknown registration is not mailed."""
    from regflow.domain import MessageKind
    from regflow.ports import Outbox
    from tests.contract.test_outbox_contract import drain_fresh

    s = cast(SuppressionList, store)
    outbox = cast(Outbox, store)
    bounced = reg("gone+x@example.com")
    old = reg("gone@example.com", at=T0 - timedelta(hours=30))  # expired since
    done = reg("done@example.com")
    for r in (bounced, old, done):
        store.create_pending(r, address_limit=NO_LIMIT, client_key=None, client_limit=NO_LIMIT)
    drain_fresh(store)  # type: ignore[arg-type]
    assert store.confirm(done.id, done.addr_key, T0) is Outcome.CONFIRMED
    drain_fresh(store)  # type: ignore[arg-type]
    for r in (bounced, old):
        assert s.mark_undeliverable(r.id, Status.BOUNCED, "SMTP550")
    s.suppress(entry("gone+x@example.com", reason=SuppressionReason.REFUSED))
    key = mailbox_key("gone@example.com")
    s.count_soft_bounce(key, int(T0.timestamp()), DAY)
    now = T0 + timedelta(minutes=10)

    owed = s.restore(key, [bounced.id, old.id, done.id, "no-such-id"], now)

    assert owed == [bounced.id]
    assert s.suppression(key) is None
    assert s.count_soft_bounce(key, int(now.timestamp()), DAY) == 1  # its count forgotten
    got = store.get(bounced.id)
    assert got is not None and (got.status, got.delivery_failure) == (Status.PENDING, None)
    expired = store.get(old.id)
    assert expired is not None and expired.status is Status.PENDING  # purged as usual
    confirmed = store.get(done.id)
    assert confirmed is not None and confirmed.status is Status.CONFIRMED
    [claimed] = outbox.claim_due(now.timestamp() + 1, 10)
    assert claimed.message.kind is MessageKind.VERIFICATION
    assert claimed.message.registration.id == bounced.id
    assert claimed.message.registration.status is Status.PENDING
    assert store.confirm(bounced.id, bounced.addr_key, now) is Outcome.CONFIRMED
    # done again: nothing left to restore
    assert s.restore(key, [bounced.id], now) == []
