"""Proof of consent in every store (memory, SQLite, DynamoDB, PostgreSQL): the sign-up's
record is stored with the registration, the confirmation's with the confirmation (by link or
by code), both come back in the operator's queries, and erasure takes them with the rest."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

from regflow.domain import Consent, Status
from regflow.ports import RegistrationStore
from tests.contract.test_store_contract import T0, create, reg

SIGNUP = Consent("198.51.100.0/24", "Mozilla/5.0 (X11) signup", "2026-11")
CONFIRM = Consent("2001:db8:1::/48", "Mozilla/5.0 (Android) confirm", "2026-11")


def test_both_consents_are_stored_and_read_back(store: Any) -> None:
    r = dataclasses.replace(reg(), signup_consent=SIGNUP)
    create(store, r)
    assert store.get(r.id).signup_consent == SIGNUP
    at = T0 + timedelta(minutes=1)
    assert store.confirm(r.id, r.addr_key, at, consent=CONFIRM).value == "confirmed"
    got = store.get(r.id)
    assert (got.signup_consent, got.confirm_consent, got.confirmed_at) == (SIGNUP, CONFIRM, at)
    (listed,) = list(store.registrations(status=Status.CONFIRMED))  # what export reads
    assert listed.signup_consent == SIGNUP and listed.confirm_consent == CONFIRM
    assert store.delete_address(r.addr_key, r.limit_key) == 1
    assert store.get(r.id) is None
    assert list(store.registrations()) == []


def test_the_code_records_the_confirmation_consent_too(store: RegistrationStore) -> None:
    r = dataclasses.replace(reg(), signup_consent=SIGNUP)
    create(store, r)
    at = T0 + timedelta(minutes=1)
    outcome = store.confirm_code(r.id, r.addr_key, at, matched=True, max_tries=5, consent=CONFIRM)
    assert outcome.value == "confirmed"
    got = store.get(r.id)
    assert got is not None and got.confirm_consent == CONFIRM


def test_without_consent_nothing_is_recorded(store: RegistrationStore) -> None:
    r = reg()
    create(store, r)
    store.confirm(r.id, r.addr_key, T0 + timedelta(minutes=1))
    got = store.get(r.id)
    assert got is not None and got.signup_consent is None and got.confirm_consent is None
