"""CONFIRM_CODE in every store: the code's wrong tries are counted in one atomic step, the
code dies after `max_tries` wrong ones, and the right code confirms exactly as the link does
(memory, SQLite, DynamoDB, PostgreSQL)."""

from __future__ import annotations

from datetime import datetime, timedelta

from regflow.domain import CreateResult, Outcome, Status, address_key
from regflow.ports import RegistrationStore
from regflow.tokens import new_registration_id
from tests.contract.test_store_contract import T0, create, reg

LATER = T0 + timedelta(minutes=5)


def code(
    store: RegistrationStore, rid: str, addr: str, matched: bool, at: datetime = LATER
) -> Outcome:
    return store.confirm_code(rid, addr, at, matched=matched, max_tries=5)


def test_the_right_code_confirms_once(store: RegistrationStore) -> None:
    r = reg()
    assert create(store, r) is CreateResult.CREATED
    assert code(store, r.id, r.addr_key, True) is Outcome.CONFIRMED
    got = store.get(r.id)
    assert got is not None and got.status is Status.CONFIRMED and got.confirmed_at == LATER
    assert store.confirmed_registration_id(r.addr_key) == r.id
    # replayed: the registration is done
    assert code(store, r.id, r.addr_key, True) is Outcome.ALREADY_CONFIRMED
    assert code(store, r.id, r.addr_key, False) is Outcome.INVALID


def test_a_wrong_code_changes_nothing_but_the_count(store: RegistrationStore) -> None:
    r = reg()
    create(store, r)
    assert code(store, r.id, r.addr_key, False) is Outcome.INVALID
    assert store.get(r.id) == r  # still PENDING, as it was
    assert code(store, r.id, r.addr_key, True) is Outcome.CONFIRMED


def test_the_sixth_try_is_dead_and_the_link_still_works(store: RegistrationStore) -> None:
    r = reg()
    create(store, r)
    for _ in range(5):
        assert code(store, r.id, r.addr_key, False) is Outcome.INVALID
    assert code(store, r.id, r.addr_key, True) is Outcome.INVALID  # dead, even the right one
    assert store.get(r.id) == r
    assert store.confirm(r.id, r.addr_key, LATER) is Outcome.CONFIRMED  # the link


def test_four_wrong_then_the_right_one_confirms(store: RegistrationStore) -> None:
    r = reg()
    create(store, r)
    for _ in range(4):
        code(store, r.id, r.addr_key, False)
    assert code(store, r.id, r.addr_key, True) is Outcome.CONFIRMED


def test_an_expired_registration(store: RegistrationStore) -> None:
    r = reg(hours=1)
    create(store, r)
    late = T0 + timedelta(hours=2)
    assert code(store, r.id, r.addr_key, False, at=late) is Outcome.INVALID
    assert code(store, r.id, r.addr_key, True, at=late) is Outcome.EXPIRED
    assert store.get(r.id) == r


def test_unknown_registration_or_address_is_invalid(store: RegistrationStore) -> None:
    r = reg()
    create(store, r)
    other = address_key("mallory@example.com")
    assert code(store, r.id, other, True) is Outcome.INVALID
    assert code(store, new_registration_id(), r.addr_key, True) is Outcome.INVALID
    assert code(store, new_registration_id(), r.addr_key, False) is Outcome.INVALID
    assert store.get(r.id) == r


def test_another_registration_of_the_address_confirmed_first(store: RegistrationStore) -> None:
    first, second = reg(), reg(at=T0 + timedelta(seconds=1))
    create(store, first)
    create(store, second)
    assert store.confirm(first.id, first.addr_key, LATER) is Outcome.CONFIRMED
    assert code(store, second.id, second.addr_key, True) is Outcome.ALREADY_CONFIRMED
