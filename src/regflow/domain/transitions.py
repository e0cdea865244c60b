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

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from regflow.domain.challenge import SpentChallenge
from regflow.domain.consent import Consent
from regflow.domain.limits import Limit
from regflow.domain.messages import MessageKind
from regflow.domain.model import Outcome, Status

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


# --- confirm, by link or by code ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConfirmState:
    """What a confirmation reads. `status` None: no such registration."""

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
