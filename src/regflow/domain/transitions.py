"""The state changes, decided once: each is a pure `decide(state, now, inputs) -> Decision`
(the outcome, the write, the messages it owes) plus a declarative `Guard`, the condition under
which the write is right. The stores only read, lock and write atomically:

- an SQL store reads the row under its lock (`FOR UPDATE`; SQLite: in its write transaction),
  calls `decide`, and writes with the guard as the `WHERE` clause (`Guard.sql`);
- DynamoDB writes at once under the guard as its `ConditionExpression`, and when the
  condition fails calls `decide` on the `ALL_OLD` item the cancellation returned;
- the memory store calls `decide` under its lock.

`tests/unit/test_transitions.py` checks over generated states that the guard passes exactly
when `decide` writes, so no store can judge differently from the others.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from regflow.domain.challenge import SpentChallenge, replayed
from regflow.domain.consent import Consent
from regflow.domain.limits import Limit, LimitState, SendLog, count_client, count_send
from regflow.domain.messages import MessageKind
from regflow.domain.model import CreateResult, Outcome, Registration, Status

# --- the guard: what must hold of the stored record for a write to be right ---------------

Field = Literal["addr_key", "status", "ttl", "code_tries"]
"""A registration's fields a guard can check (the SQL column names; DynamoDB maps them)."""


@dataclass(frozen=True, slots=True)
class Check:
    """`field op value`; `missing_passes`: a record without the field passes (a PENDING
    registration has a ttl; DynamoDB has no `codeTries` before the first wrong code)."""

    field: Field
    op: Literal["=", "<", ">"]
    value: str | int
    missing_passes: bool = False

    def passes(self, actual: str | int | None) -> bool:
        if actual is None:
            return self.missing_passes
        if self.op == "=":
            return actual == self.value
        assert isinstance(actual, int) and isinstance(self.value, int)
        return actual < self.value if self.op == "<" else actual > self.value


@dataclass(frozen=True, slots=True)
class Guard:
    """The checks on the registration record, and whether the address must be unlocked (no
    confirmed registration yet: the `confirmed_addresses` row, DynamoDB's `ADDR#` item)."""

    checks: tuple[Check, ...]
    address_free: bool = False

    def passes(self, state: ConfirmState) -> bool:
        if state.status is None:
            return False
        values = {
            "addr_key": state.addr_key,
            "status": state.status.value,
            "ttl": state.ttl,
            "code_tries": state.code_tries,
        }
        if self.address_free and state.address_locked:
            return False
        return all(c.passes(values[c.field]) for c in self.checks)

    def sql(self, placeholder: str = "?") -> tuple[str, tuple[str | int, ...]]:
        """The checks as a `WHERE` clause (without the word) and its parameters."""
        clauses = []
        for c in self.checks:
            clause = f"{c.field} {c.op} {placeholder}"
            clauses.append(f"({c.field} IS NULL OR {clause})" if c.missing_passes else clause)
        return " AND ".join(clauses), tuple(c.value for c in self.checks)


# --- create --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CreateInputs:
    """What a post brings besides its registration (`ports.RegistrationStore.create_pending`)."""

    address_limit: Limit
    client_key: str | None
    client_limit: Limit
    challenge: SpentChallenge | None = None


EMPTY_LOG = SendLog()


@dataclass(frozen=True, slots=True)
class CreateState:
    """What a post reads, locked: its client's counter (None: none, or an empty one), its
    address's send log, and whether its challenge was spent already (and is still live)."""

    client: LimitState | None = None
    address: SendLog = EMPTY_LOG
    challenge_spent: bool = False


@dataclass(frozen=True, slots=True)
class CreateDecision:
    outcome: CreateResult
    client: LimitState | None = None  # the client's counter to write (None: not counted)
    address: SendLog | None = None  # the address's send log to write (None: unchanged)
    spend: bool = False  # record the challenge spent
    owes: tuple[Owed, ...] = ()  # CREATED: the registration is written and owes these


def decide_create(state: CreateState, now: int, inputs: CreateInputs) -> CreateDecision:
    """A spent challenge is refused (`replayed()`, nothing written); a client over its limit
    too (`ClientRateLimited`). Otherwise the client is counted and the challenge spent, also
    for a post the address limit refuses (ADDRESS_LIMITED, answered like any other: a limited
    post spends the quota any other post spends, or counting posts would reveal it); a post
    within it is CREATED, counted in the address's send log, and owes its verification."""
    if inputs.challenge is not None and state.challenge_spent:
        raise replayed()
    client = None
    if inputs.client_key is not None and inputs.client_limit.enabled:
        client = count_client(state.client, inputs.client_limit, now)  # raises when limited
    spend = inputs.challenge is not None
    address = None
    if inputs.address_limit.enabled:
        address = count_send(state.address, inputs.address_limit, now)
        if address is None:
            return CreateDecision(CreateResult.ADDRESS_LIMITED, client, None, spend)
    owes = ((MessageKind.VERIFICATION, ""),)
    return CreateDecision(CreateResult.CREATED, client, address, spend, owes)


# --- resend: "send me a new link" from an expired page -------------------------------------


@dataclass(frozen=True, slots=True)
class ResendInputs:
    addr_key: str  # the address the (genuine) link token names
    new_id: Callable[[], str]  # called once, for the fresh registration only
    ttl_hours: int
    consent: Consent | None = None


def decide_resend(
    state: Registration | None, now: datetime, inputs: ResendInputs
) -> Registration | None:
    """A fresh PENDING registration (new id, new link, new code, a full ttl) with the name,
    address and language of the one the token names, if that one is still PENDING (expired
    or not); None: nothing to resend. Its creation is then `decide_create`'s, under the
    limits of any post."""
    if state is None or state.addr_key != inputs.addr_key or state.status is not Status.PENDING:
        return None
    return Registration(
        id=inputs.new_id(),
        name=state.name,
        email=state.email,
        status=Status.PENDING,
        timestamp=now,
        ttl=int((now + timedelta(hours=inputs.ttl_hours)).timestamp()),
        language=state.language,
        signup_consent=inputs.consent,
    )


# --- confirm, by link or by code ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConfirmState:
    """What a confirmation (or an erasure) reads of a registration. `status` None: no such
    registration."""

    status: Status | None
    addr_key: str = ""
    ttl: int | None = None
    code_tries: int = 0
    address_locked: bool = False  # the address has a confirmed registration (this or another)


UNKNOWN = ConfirmState(status=None)


@dataclass(frozen=True, slots=True)
class CodeEntry:
    """CONFIRM_CODE: a code was entered; `matched`: it was the right one."""

    matched: bool
    max_tries: int


@dataclass(frozen=True, slots=True)
class ConfirmInputs:
    addr_key: str  # the address the token names
    consent: Consent | None = None
    events: tuple[str, ...] = ()  # the event targets (`regflow.domain.events`)
    code: CodeEntry | None = None  # None: confirmed by link


Owed = tuple[MessageKind, str]
"""A message a change owes: its kind and target ("" but for events)."""


@dataclass(frozen=True, slots=True)
class ConfirmDecision:
    outcome: Outcome
    # "confirm": CONFIRMED (ttl removed, confirmed_at = now, consent recorded, the address
    # locked to it); "count-try": one more wrong code; None: nothing changes
    write: Literal["confirm", "count-try"] | None = None
    owes: tuple[Owed, ...] = ()


def confirm_guard(now: datetime, inputs: ConfirmInputs) -> Guard:
    """What must hold for the write `inputs` call for (the confirmation, or counting a wrong
    code) to be right."""
    checks = [
        Check("addr_key", "=", inputs.addr_key),
        Check("status", "=", Status.PENDING.value),
        Check("ttl", ">", int(now.timestamp()), missing_passes=True),
    ]
    if inputs.code is not None:
        checks.append(Check("code_tries", "<", inputs.code.max_tries, missing_passes=True))
    counting = inputs.code is not None and not inputs.code.matched
    return Guard(tuple(checks), address_free=not counting)


def decide_confirm(state: ConfirmState, now: datetime, inputs: ConfirmInputs) -> ConfirmDecision:
    """A PENDING, unexpired registration of this address, for an address with no confirmed
    registration yet, becomes CONFIRMED and owes the owner's notification and one event per
    target. A code: a wrong one counts a try on a live registration (INVALID); one entered
    after `max_tries` wrong ones is INVALID (the link still works); the right one confirms
    like the link. Otherwise nothing changes and the outcome says why."""
    if state.status is None or state.addr_key != inputs.addr_key:
        return ConfirmDecision(Outcome.INVALID)
    code = inputs.code
    if code is not None and state.code_tries >= code.max_tries:
        return ConfirmDecision(Outcome.INVALID)  # the code is dead
    live = state.status is Status.PENDING and (
        state.ttl is None or state.ttl > int(now.timestamp())
    )
    if code is not None and not code.matched:
        return ConfirmDecision(Outcome.INVALID, "count-try" if live else None)
    if state.status is Status.CONFIRMED:
        return ConfirmDecision(Outcome.ALREADY_CONFIRMED)
    if state.status is not Status.PENDING:  # bounced, complained: never confirmable
        return ConfirmDecision(Outcome.INVALID)
    if not live:
        return ConfirmDecision(Outcome.EXPIRED)
    if state.address_locked:  # another registration of the address was confirmed
        return ConfirmDecision(Outcome.ALREADY_CONFIRMED)
    events = [(MessageKind.REGISTRATION_CONFIRMED, target) for target in inputs.events]
    owes = ((MessageKind.OWNER_NOTIFICATION, ""), *events)
    return ConfirmDecision(Outcome.CONFIRMED, "confirm", owes)


# --- self-service erasure (docs/erasure.md) -------------------------------------------------


@dataclass(frozen=True, slots=True)
class EraseInputs:
    addr_key: str  # the address the erasure token names
    events: tuple[str, ...] = ()  # the event targets (`regflow.domain.events`)


@dataclass(frozen=True, slots=True)
class EraseDecision:
    # "erase": every registration of the address, its confirmed lock and the messages owed
    # to or about them go, and the erasure owes `owes` (sent from a snapshot of the one the
    # token named); None: nothing changes
    write: Literal["erase"] | None = None
    owes: tuple[Owed, ...] = ()


def decide_erase(state: ConfirmState, inputs: EraseInputs) -> EraseDecision:
    """A registration of the address the token names, whatever its status, is erased with
    every other one of the address, and owes the owner's erasure notice and one erased event
    per target. A registration gone, or of another address: nothing changes. No guard: the
    stores read the registration locked (SQL, memory) or consistently (DynamoDB's documented
    sequence of idempotent steps, docs/erasure.md)."""
    if state.status is None or state.addr_key != inputs.addr_key:
        return EraseDecision()
    events = [(MessageKind.REGISTRATION_ERASED, target) for target in inputs.events]
    return EraseDecision("erase", ((MessageKind.ERASURE_NOTICE, ""), *events))


# --- the owner's daily digest (OWNER_DIGEST=daily) ------------------------------------------


@dataclass(frozen=True, slots=True)
class DigestDecision:
    write: Literal["owe"] | None = None  # "owe": remember the day, owe its digest
    owes: tuple[Owed, ...] = ()


def decide_digest(owed_already: bool) -> DigestDecision:
    """A day's digest is owed once ever: the first time its day is asked for. Its guard is
    the day's key (SQL's primary key, the memory store's set): it passes when it is new."""
    if owed_already:
        return DigestDecision()
    return DigestDecision("owe", ((MessageKind.OWNER_DIGEST, ""),))
