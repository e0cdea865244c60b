"""CHALLENGE=pow in every store (memory, SQLite, DynamoDB, PostgreSQL): a solution is spent
in the registration's own atomic write, created or address-limited, and a second use is
refused like a bad field with nothing written."""

from __future__ import annotations

from datetime import timedelta

import pytest

from regflow.domain import ClientRateLimited, CreateResult, Limit, SpentChallenge, ValidationError
from regflow.ports import RegistrationStore
from tests.contract.test_store_contract import NO_LIMIT, T0, create, reg

EXPIRES = int((T0 + timedelta(minutes=5)).timestamp())
ONE_A_DAY = Limit(max_count=1, window_seconds=86400)


def spend(
    store: RegistrationStore, email: str, challenge: str, address: Limit = NO_LIMIT, **kw: object
) -> CreateResult:
    return store.create_pending(
        reg(email),
        address_limit=address,
        client_key=kw.get("client"),  # type: ignore[arg-type]
        client_limit=kw.get("client_limit", NO_LIMIT),  # type: ignore[arg-type]
        challenge=SpentChallenge(challenge, EXPIRES),
    )


def test_a_solution_registers_once(store: RegistrationStore) -> None:
    assert spend(store, "jane@example.com", "a" * 64) is CreateResult.CREATED
    with pytest.raises(ValidationError) as refused:
        spend(store, "john@example.com", "a" * 64)
    assert refused.value.field == "challenge"
    assert spend(store, "john@example.com", "b" * 64) is CreateResult.CREATED


def test_an_address_limited_post_spends_it_too(store: RegistrationStore) -> None:
    assert create(store, reg("jane@example.com"), address=ONE_A_DAY) is CreateResult.CREATED
    limited = spend(store, "jane@example.com", "c" * 64, address=ONE_A_DAY)
    assert limited is CreateResult.ADDRESS_LIMITED
    with pytest.raises(ValidationError):
        spend(store, "john@example.com", "c" * 64)


def test_a_client_limited_post_does_not(store: RegistrationStore) -> None:
    one = Limit(max_count=1, window_seconds=3600)
    spend(store, "a@example.com", "d" * 64, client="198.51.100.1", client_limit=one)
    with pytest.raises(ClientRateLimited):
        spend(store, "b@example.com", "e" * 64, client="198.51.100.1", client_limit=one)
    assert spend(store, "b@example.com", "e" * 64) is CreateResult.CREATED  # unspent
