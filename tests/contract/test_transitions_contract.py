"""The domain's decisions and their guards agree: over generated states, a store that writes
under the guard (SQL's WHERE clause, DynamoDB's ConditionExpression) writes exactly when
`decide` says to, so a store that decides on the guard's failure (DynamoDB's ALL_OLD item)
and one that decides first (SQL, memory) cannot drift apart."""

from __future__ import annotations

import dataclasses
import sqlite3
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from regflow.domain import (
    ClientRateLimited,
    CreateResult,
    Limit,
    LimitState,
    MessageKind,
    Outcome,
    Registration,
    SendLog,
    SpentChallenge,
    Status,
    ValidationError,
    address_key,
)
from regflow.domain.transitions import (
    UNKNOWN,
    CodeEntry,
    ConfirmInputs,
    ConfirmState,
    CreateDecision,
    CreateInputs,
    CreateState,
    DigestDecision,
    EraseInputs,
    ResendInputs,
    confirm_guard,
    decide_confirm,
    decide_create,
    decide_digest,
    decide_erase,
    decide_resend,
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


# --- create's limits ---------------------------------------------------------------------

LIMITS = st.builds(
    Limit,
    max_count=st.integers(0, 3),
    window_seconds=st.integers(1, 10),
    min_interval_seconds=st.integers(0, 4),
)
create_states = st.builds(
    CreateState,
    client=st.one_of(
        st.none(),
        st.builds(
            LimitState,
            window_start=st.integers(EPOCH - 12, EPOCH),
            count=st.integers(1, 4),
            last_at=st.integers(EPOCH - 6, EPOCH),
        ),
    ),
    address=st.builds(
        SendLog, st.lists(st.integers(EPOCH - 12, EPOCH), max_size=4).map(sorted).map(tuple)
    ),
    challenge_spent=st.booleans(),
)
create_inputs = st.builds(
    CreateInputs,
    address_limit=LIMITS,
    client_key=st.sampled_from([None, "client"]),
    client_limit=LIMITS,
    challenge=st.one_of(st.none(), st.just(SpentChallenge("c" * 64, EPOCH + 60))),
)


def _judged(state: CreateState, i: CreateInputs) -> CreateDecision | type[Exception]:
    try:
        return decide_create(state, EPOCH, i)
    except (ClientRateLimited, ValidationError) as exc:
        return type(exc)


@given(create_states, create_inputs)
def test_create_writes_exactly_what_its_limits_allow(state: CreateState, i: CreateInputs) -> None:
    """A replay and a limited client write nothing (raised); every other post counts its
    client and spends its challenge; it is CREATED, and owes its verification, exactly when
    the address's log allows one more send, and then the log holds it."""
    judged = _judged(state, i)
    if i.challenge is not None and state.challenge_spent:
        assert judged is ValidationError
        return
    counted = i.client_key is not None and i.client_limit.enabled
    client = state.client
    if counted and client is not None and not client.allows(i.client_limit, EPOCH):
        assert judged is ClientRateLimited
        return
    assert isinstance(judged, CreateDecision)
    assert (judged.client is not None) is counted and judged.spend is (i.challenge is not None)
    room = not i.address_limit.enabled or state.address.allows(i.address_limit, EPOCH)
    assert (judged.outcome is CreateResult.CREATED) is room
    assert judged.owes == (((MessageKind.VERIFICATION, ""),) if room else ())
    if judged.address is not None:
        assert EPOCH in judged.address.times and i.address_limit.enabled


@given(create_states, create_inputs)
def test_dynamodb_judges_a_failed_condition_as_decide_does(
    state: CreateState, i: CreateInputs
) -> None:
    """DynamoDB counts under conditions and, when one fails, re-plans from the ALL_OLD item:
    its re-plan refuses a client and an address exactly when `decide_create` does, and
    swaps in the log `decide_create` writes."""
    from regflow.adapters.dynamodb.keys import n, number_list
    from regflow.adapters.dynamodb.store import AddressSendLog, ClientWindow

    judged = _judged(dataclasses.replace(state, challenge_spent=False), i)
    if state.client is not None and i.client_key is not None and i.client_limit.enabled:
        c = state.client
        item = {"windowStart": n(c.window_start), "count": n(c.count), "lastAt": n(c.last_at)}
        window = ClientWindow("LIMIT#IP#x", i.client_limit)
        try:
            window.replan(item, EPOCH)
        except ClientRateLimited:
            assert judged is ClientRateLimited
            return
        assert judged is not ClientRateLimited
    if judged is ClientRateLimited or not i.address_limit.enabled:
        return
    assert isinstance(judged, CreateDecision)
    log = AddressSendLog("LIMIT#ADDR#x", i.address_limit)
    sends = state.address.times
    item = {"sends": number_list(sends), "lastAt": n(max(sends, default=0))}
    swapped = log.replan(item, EPOCH)
    assert (swapped is None) is (judged.outcome is CreateResult.ADDRESS_LIMITED)
    if swapped is not None:
        assert swapped.swap is not None and swapped.swap.new == judged.address


# --- erase, the digest, resend -----------------------------------------------------------


@given(states, st.sampled_from([(), ("eventbridge",), ("webhook:x", "eventbridge")]))
def test_an_erasure_writes_for_a_registration_of_its_address(
    state: ConfirmState, events: tuple[str, ...]
) -> None:
    decision = decide_erase(state, EraseInputs("a" * 32, events))
    erases = state.status is not None and state.addr_key == "a" * 32
    assert (decision.write == "erase") is erases
    erased = [(MessageKind.REGISTRATION_ERASED, target) for target in events]
    owes = ((MessageKind.ERASURE_NOTICE, ""), *erased)
    assert decision.owes == (owes if erases else ())


def test_a_days_digest_is_owed_the_first_time_only() -> None:
    assert decide_digest(False) == DigestDecision("owe", ((MessageKind.OWNER_DIGEST, ""),))
    assert decide_digest(True) == DigestDecision()


@given(
    st.one_of(
        st.none(),
        st.builds(
            Registration,
            id=st.just("old"),
            name=st.just("Ada"),
            email=st.sampled_from(["ada@example.com", "bob@example.com"]),
            status=st.sampled_from(Status),
            timestamp=st.just(NOW),
            ttl=st.one_of(st.none(), st.integers(EPOCH - 3, EPOCH + 3)),
            language=st.sampled_from(["en", "de"]),
        ),
    )
)
def test_resend_makes_a_fresh_registration_of_a_pending_one(state: Registration | None) -> None:
    ids: list[str] = []

    def new_id() -> str:
        ids.append(f"new{len(ids)}")
        return ids[-1]

    later = NOW + timedelta(hours=30)  # expired or not: a PENDING one can be resent
    inputs = ResendInputs(address_key("ada@example.com"), new_id, 24)
    fresh = decide_resend(state, later, inputs)
    resends = (
        state is not None and state.email == "ada@example.com" and state.status is Status.PENDING
    )
    assert (fresh is not None) is resends and len(ids) == int(resends)
    if fresh is not None and state is not None:
        assert (fresh.id, fresh.status, fresh.timestamp) == ("new0", Status.PENDING, later)
        assert (fresh.name, fresh.email, fresh.language) == (
            state.name,
            state.email,
            state.language,
        )
        assert fresh.ttl == int((later + timedelta(hours=24)).timestamp())
