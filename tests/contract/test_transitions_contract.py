"""The domain's decisions and their guards agree: over generated states, a store that writes
under the guard (SQL's WHERE clause, DynamoDB's ConditionExpression) writes exactly when
`decide` says to, so a store that decides on the guard's failure (DynamoDB's ALL_OLD item)
and one that decides first (SQL, memory) cannot drift apart."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from regflow.domain import MessageKind, Outcome, Status
from regflow.domain.transitions import (
    UNKNOWN,
    CodeEntry,
    ConfirmInputs,
    ConfirmState,
    confirm_guard,
    decide_confirm,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
EPOCH = int(NOW.timestamp())

states = st.one_of(
    st.just(UNKNOWN),
    st.builds(
        ConfirmState,
        status=st.sampled_from(Status),
        addr_key=st.sampled_from(["a" * 32, "b" * 32]),
        ttl=st.one_of(st.none(), st.integers(EPOCH - 3, EPOCH + 3)),
        code_tries=st.integers(0, 7),
        address_locked=st.booleans(),
    ),
)
inputs = st.builds(
    ConfirmInputs,
    addr_key=st.just("a" * 32),
    events=st.sampled_from([(), ("eventbridge",), ("webhook:x", "eventbridge")]),
    code=st.one_of(st.none(), st.builds(CodeEntry, st.booleans(), st.integers(1, 5))),
)


@given(states, inputs)
def test_the_guard_passes_exactly_when_decide_writes(state: ConfirmState, i: ConfirmInputs) -> None:
    decision = decide_confirm(state, NOW, i)
    assert confirm_guard(NOW, i).passes(state) is (decision.write is not None)
    assert (decision.write == "confirm") is (decision.outcome is Outcome.CONFIRMED)


@given(states, inputs)
def test_the_sql_where_clause_is_the_guard(state: ConfirmState, i: ConfirmInputs) -> None:
    """The guard's WHERE clause, run by SQLite on the state as a row, selects it exactly when
    the guard passes (the address lock is its own row: `address_free`)."""
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE r (addr_key TEXT, status TEXT, ttl INTEGER, code_tries INTEGER)")
    if state.status is not None:
        db.execute(
            "INSERT INTO r VALUES (?, ?, ?, ?)",
            (state.addr_key, state.status.value, state.ttl, state.code_tries),
        )
    guard = confirm_guard(NOW, i)
    where, params = guard.sql()
    hit = db.execute(f"SELECT count(*) FROM r WHERE {where}", params).fetchone()[0] == 1
    locked = guard.address_free and state.address_locked
    assert (hit and not locked) is guard.passes(state)


def test_a_confirmation_owes_the_owner_and_one_event_per_target() -> None:
    state = ConfirmState(Status.PENDING, "a" * 32, EPOCH + 60)
    decision = decide_confirm(
        state, NOW, ConfirmInputs("a" * 32, events=("webhook:x", "eventbridge"))
    )
    assert decision.owes == (
        (MessageKind.OWNER_NOTIFICATION, ""),
        (MessageKind.REGISTRATION_CONFIRMED, "webhook:x"),
        (MessageKind.REGISTRATION_CONFIRMED, "eventbridge"),
    )


def test_a_bounced_registration_is_invalid_by_link_and_by_code() -> None:
    state = ConfirmState(Status.BOUNCED, "a" * 32, EPOCH + 60)
    for code in (None, CodeEntry(True, 5)):
        decision = decide_confirm(state, NOW, ConfirmInputs("a" * 32, code=code))
        assert decision.outcome is Outcome.INVALID and decision.write is None
