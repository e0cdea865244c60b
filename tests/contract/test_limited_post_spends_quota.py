"""Issue 9: a post the address limit refuses spends the client's quota like any other post,
on every store (memory, SQLite, DynamoDB), inside the same atomic step. Otherwise counting how
many posts fit before the 429 tells whether an address registered recently."""

from __future__ import annotations

from datetime import timedelta

import pytest

from regflow.domain import ClientRateLimited, CreateResult, Limit
from regflow.ports import RegistrationStore
from tests.contract.test_store_contract import ADDRESS, T0, create, reg

TWO = Limit(max_count=2, window_seconds=3600)


def test_address_limited_post_counts_for_client(store: RegistrationStore) -> None:
    first = reg("a@example.com")
    assert create(store, first, address=ADDRESS, client="c", client_limit=TWO) is (
        CreateResult.CREATED
    )
    limited = reg("a@example.com", at=T0 + timedelta(seconds=1))
    assert create(store, limited, address=ADDRESS, client="c", client_limit=TWO) is (
        CreateResult.ADDRESS_LIMITED
    )
    assert store.get(limited.id) is None  # the registration itself is not stored
    with pytest.raises(ClientRateLimited):
        create(
            store,
            reg("b@example.com", at=T0 + timedelta(seconds=2)),
            address=ADDRESS,
            client="c",
            client_limit=TWO,
        )


def test_quota_is_the_same_whatever_the_address_state(store: RegistrationStore) -> None:
    """The number of posts one client gets before the 429 does not depend on whether the
    addresses it posts are fresh or limited."""

    def posts_until_429(client: str, emails: list[str]) -> int:
        for i, email in enumerate(emails):
            r = reg(email, at=T0 + timedelta(seconds=i))
            try:
                create(store, r, address=ADDRESS, client=client, client_limit=TWO)
            except ClientRateLimited:
                return i
        return len(emails)

    create(store, reg("seen@example.com"), address=ADDRESS)  # now limited for 60 s
    fresh = posts_until_429("c1", ["x1@example.com", "x2@example.com", "x3@example.com"])
    limited = posts_until_429("c2", ["seen@example.com"] * 3)
    assert fresh == limited == 2


def test_window_restart_is_counted_for_a_limited_post(store: RegistrationStore) -> None:
    create(store, reg("a@example.com"), address=ADDRESS, client="c", client_limit=TWO)
    create(
        store,
        reg("b@example.com", at=T0 + timedelta(seconds=1)),
        address=ADDRESS,
        client="c",
        client_limit=TWO,
    )
    # an hour later the client's window restarts; the post is for a limited address
    # (a fresh send 1 s before): it still opens the new window with count 1
    later = T0 + timedelta(hours=1, seconds=5)
    create(store, reg("z@example.com", at=later - timedelta(seconds=1)), address=ADDRESS)
    assert create(
        store, reg("z@example.com", at=later), address=ADDRESS, client="c", client_limit=TWO
    ) is (CreateResult.ADDRESS_LIMITED)
    assert create(
        store,
        reg("y@example.com", at=later + timedelta(seconds=1)),
        address=ADDRESS,
        client="c",
        client_limit=TWO,
    ) is (CreateResult.CREATED)
    with pytest.raises(ClientRateLimited):
        create(
            store,
            reg("w@example.com", at=later + timedelta(seconds=2)),
            address=ADDRESS,
            client="c",
            client_limit=TWO,
        )
