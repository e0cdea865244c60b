"""An in-memory store: the reference semantics of `RegistrationStore`, `Outbox` (with the
embedded worker's extras, `WorkerOutbox`) and `OperatorQueries`, used by unit tests and
benchmarks. It passes the same contract suites as the DynamoDB and SQLite adapters.

Like the SQLite store it holds every owed message in its outbox (`HOLDS_FRESH`): a state change
and the message it owes are written together, under one lock."""

from __future__ import annotations

import dataclasses
import itertools
import threading
from collections.abc import Iterator, Sequence
from datetime import datetime

from regflow.adapters.decided import DecidedChanges
from regflow.domain import (
    ClaimedMessage,
    CreateResult,
    LimitState,
    Message,
    MessageKind,
    Outcome,
    ParkedMessage,
    Registration,
    SendLog,
    Status,
    Suppression,
    count_client,
    count_send,
)
from regflow.domain.challenge import replayed
from regflow.domain.transitions import (
    UNKNOWN,
    ConfirmInputs,
    ConfirmState,
    CreateInputs,
    decide_confirm,
)
from regflow.ports import Stats

# A claim older than this is released (a delivery never takes that long).
CLAIM_LEASE_SECONDS = 600.0


@dataclasses.dataclass(slots=True)
class _Row:
    """One owed message and its delivery bookkeeping (the SQLite `outbox` row, in memory)."""

    id: int
    message: Message
    attempts: int = 0
    next_attempt_at: float | None = 0.0  # None: parked until an operator asks
    claimed_at: float | None = None
    last_error: str | None = None
    parked: bool = False
    parked_at: float | None = None
    first_failed_at: float | None = None


class MemoryStore(DecidedChanges):
    HOLDS_FRESH = True  # every owed message is an outbox row

    def __init__(self) -> None:
        self.event_targets: tuple[str, ...] = ()  # the runtime sets it from its settings
        self.digests: set[str] = set()  # the days whose owner digest was owed
        self._lock = threading.RLock()
        self.by_id: dict[str, Registration] = {}
        self.confirmed_by_address: dict[str, str] = {}
        # "client:<key>" -> LimitState (fixed hourly window); "address:<key>" -> SendLog
        self.limits: dict[str, LimitState | SendLog] = {}
        self._limit_expires: dict[str, int] = {}  # key -> epoch seconds it stops limiting
        self._rows: dict[int, _Row] = {}  # insertion order is id order: oldest first
        self._ids = itertools.count(1)
        self.suppressed: dict[str, Suppression] = {}  # mailbox_key -> entry
        self.soft_bounces: dict[str, list[int]] = {}  # mailbox_key -> epoch seconds
        self._soft_bounce_expires: dict[str, int] = {}
        self.code_tries: dict[str, int] = {}
        self.spent_challenges: dict[str, int] = {}  # challenge id -> expires (CHALLENGE=pow)

    # --- RegistrationStore ------------------------------------------------------------

    def _create(self, registration: Registration, inputs: CreateInputs) -> CreateResult:
        address_limit, client_limit = inputs.address_limit, inputs.client_limit
        client_key, challenge = inputs.client_key, inputs.challenge
        now = int(registration.timestamp.timestamp())
        with self._lock:
            if challenge is not None and self.spent_challenges.get(challenge.id, 0) > now:
                raise replayed()
            client: tuple[str, LimitState] | None = None
            if client_key is not None and client_limit.enabled:
                key = f"client:{client_key}"
                state = self.limits.get(key)
                assert state is None or isinstance(state, LimitState)
                client = (key, count_client(state, client_limit, now))
            address: tuple[str, SendLog] | None = None
            if address_limit.enabled:
                key = f"address:{registration.limit_key}"
                log = self.limits.get(key, SendLog())
                assert isinstance(log, SendLog)
                after = count_send(log, address_limit, now)
                address = None if after is None else (key, after)
            if client is not None:
                # counted for a limited post too: a limited post must spend the quota any
                # other post spends, or counting posts would reveal it
                key, new = client
                self.limits[key] = new
                self._limit_expires[key] = max(
                    new.window_start + client_limit.window_seconds,
                    new.last_at + client_limit.min_interval_seconds,
                )
            if challenge is not None:  # spent by a counted post, limited or not
                self.spent_challenges[challenge.id] = challenge.expires
            if address_limit.enabled and address is None:
                return CreateResult.ADDRESS_LIMITED
            if address is not None:
                key, log = address
                self.limits[key] = log
                self._limit_expires[key] = log.expires(address_limit) or now
            self.by_id[registration.id] = registration
            self._owe(Message(MessageKind.VERIFICATION, registration))
            return CreateResult.CREATED

    def _confirm(self, registration_id: str, now: datetime, inputs: ConfirmInputs) -> Outcome:
        with self._lock:
            reg = self.by_id.get(registration_id)
            state = UNKNOWN
            if reg is not None:
                state = ConfirmState(
                    reg.status,
                    reg.addr_key,
                    reg.ttl,
                    self.code_tries.get(registration_id, 0),
                    reg.addr_key in self.confirmed_by_address,
                )
            decision = decide_confirm(state, now, inputs)
            if reg is None or decision.write is None:
                return decision.outcome
            if decision.write == "count-try":
                self.code_tries[registration_id] = state.code_tries + 1
                return decision.outcome
            confirmed = dataclasses.replace(
                reg,
                status=Status.CONFIRMED,
                ttl=None,
                confirmed_at=now,
                confirm_consent=inputs.consent,
            )
            self.by_id[registration_id] = confirmed
            self.confirmed_by_address[reg.addr_key] = registration_id
            for kind, target in decision.owes:
                self._owe(Message(kind, confirmed, target))
            return decision.outcome

    def get(self, registration_id: str) -> Registration | None:
        with self._lock:
            return self.by_id.get(registration_id)

    def confirmed_registration_id(self, addr_key: str) -> str | None:
        with self._lock:
            return self.confirmed_by_address.get(addr_key)

    # --- Outbox -----------------------------------------------------------------------

    def _owe(self, message: Message) -> None:
        row_id = next(self._ids)
        self._rows[row_id] = _Row(row_id, message)

    def _row_of(self, message: Message, claimed: ClaimedMessage | None) -> _Row | None:
        """The row a claim or a message key names (one row per `Message.key`)."""
        if claimed is not None and (row := self._rows.get(int(claimed.claim))) is not None:
            return row
        return next((r for r in self._rows.values() if r.message.key == message.key), None)

    def owed(self) -> list[Message]:
        """Every message owed and not settled yet, oldest first (tests, benchmarks)."""
        with self._lock:
            return [row.message for row in self._rows.values()]

    def claim_due(
        self,
        now: float,
        limit: int = 10,
        *,
        lease_seconds: float = CLAIM_LEASE_SECONDS,
        events: bool | None = None,
    ) -> list[ClaimedMessage]:
        with self._lock:
            claimed: list[ClaimedMessage] = []
            for row in list(self._rows.values()):
                if len(claimed) >= limit:
                    break
                if events is not None and row.message.kind.is_event is not events:
                    continue
                if row.next_attempt_at is None or row.next_attempt_at > now:
                    continue
                if row.claimed_at is not None and row.claimed_at > now - lease_seconds:
                    continue
                gone = row.message.registration.id not in self.by_id
                if gone and not row.message.kind.outlives_registration:
                    del self._rows[row.id]  # purged or erased since: nothing is owed any more
                    continue
                row.claimed_at = now
                row.attempts += 1
                claimed.append(
                    ClaimedMessage(row.message, row.attempts, str(row.id), row.first_failed_at)
                )
            return claimed

    def complete(self, claimed: ClaimedMessage) -> None:
        with self._lock:
            self._rows.pop(int(claimed.claim), None)

    def fail(self, claimed: ClaimedMessage, *, at: float, error: str) -> None:
        with self._lock:
            row = self._rows.get(int(claimed.claim))
            if row is None:
                return
            if row.first_failed_at is None:
                row.first_failed_at = row.claimed_at
            row.claimed_at = None
            row.next_attempt_at = at
            row.last_error = error[:200]

    def park(
        self,
        message: Message,
        *,
        attempts: int,
        error: str,
        at: float | None,
        now: float,
        claimed: ClaimedMessage | None = None,
    ) -> None:
        with self._lock:
            row = self._row_of(message, claimed)
            if row is None:
                gone = message.registration.id not in self.by_id
                if gone and not message.kind.outlives_registration:
                    return  # erased meanwhile: nothing is owed any more
                row = _Row(next(self._ids), message)
                self._rows[row.id] = row
            row.message = message
            row.attempts = attempts
            row.last_error = error[:200]
            row.next_attempt_at = at
            row.claimed_at = None
            row.parked = True
            row.parked_at = now if row.parked_at is None else row.parked_at
            row.first_failed_at = now if row.first_failed_at is None else row.first_failed_at

    def drop(self, message: Message, *, error: str, claimed: ClaimedMessage | None = None) -> None:
        with self._lock:
            if claimed is not None:
                self._rows.pop(int(claimed.claim), None)
            for row in [r for r in self._rows.values() if r.message.key == message.key]:
                del self._rows[row.id]
            reg = self.by_id.get(message.registration.id)
            if reg is not None:
                self.by_id[reg.id] = dataclasses.replace(reg, delivery_failure=error[:200])

    def parked(self) -> list[ParkedMessage]:
        with self._lock:
            return [
                ParkedMessage(
                    message=r.message,
                    attempts=r.attempts,
                    last_error=r.last_error or "",
                    parked_at=r.parked_at or 0.0,
                    next_attempt_at=r.next_attempt_at,
                )
                for r in self._rows.values()
                if r.parked
                and (
                    r.message.registration.id in self.by_id or r.message.kind.outlives_registration
                )
            ]

    def requeue_parked(self, now: float) -> int:
        with self._lock:
            parked = [r for r in self._rows.values() if r.parked]
            for row in parked:
                row.next_attempt_at = now
                row.first_failed_at = None  # a fresh window of automatic retries
            return len(parked)

    # --- the embedded worker's extras (WorkerOutbox) ----------------------------------

    def recover_claims(self, now: float) -> int:
        with self._lock:
            released = 0
            for row in self._rows.values():
                if row.claimed_at is not None:
                    row.claimed_at = None
                    released += 1
                if not row.parked and row.next_attempt_at is not None and row.next_attempt_at > now:
                    row.next_attempt_at = now
            return released

    def next_due_at(self) -> float | None:
        with self._lock:
            due = [
                r.next_attempt_at
                for r in self._rows.values()
                if r.claimed_at is None and r.next_attempt_at is not None
            ]
            return min(due, default=None)

    def purge_expired(self, now: datetime, *, grace_seconds: int = 0) -> int:
        epoch = int(now.timestamp())
        cutoff = epoch - grace_seconds
        with self._lock:
            gone = {
                r.id
                for r in self.by_id.values()
                if r.status is not Status.CONFIRMED and r.ttl is not None and r.ttl <= cutoff
            }  # PENDING, and BOUNCED/COMPLAINED (deliverability) like the PENDING they were
            for key in [k for k, e in self._soft_bounce_expires.items() if e <= epoch]:
                del self._soft_bounce_expires[key]
                self.soft_bounces.pop(key, None)
            self._forget(gone)
            for spent in [c for c, exp in self.spent_challenges.items() if exp <= epoch]:
                del self.spent_challenges[spent]
            for key in [k for k, expires in self._limit_expires.items() if expires <= epoch]:
                del self._limit_expires[key]
                self.limits.pop(key, None)
            return len(gone)

    def _forget(self, registration_ids: set[str]) -> None:
        for row in [
            r
            for r in self._rows.values()
            if r.message.registration.id in registration_ids
            and not r.message.kind.outlives_registration
        ]:
            del self._rows[row.id]
        for registration_id in registration_ids:
            del self.by_id[registration_id]
            self.code_tries.pop(registration_id, None)

    # --- OperatorQueries --------------------------------------------------------------

    def registrations(self, *, status: Status | None = None) -> Iterator[Registration]:
        with self._lock:
            regs = sorted(self.by_id.values(), key=lambda r: (r.timestamp, r.id))
        return iter([r for r in regs if status is None or r.status is status])

    def stats(self) -> Stats:
        with self._lock:
            pending = sum(r.status is Status.PENDING for r in self.by_id.values())
            parked = sum(r.parked for r in self._rows.values())
            return Stats(
                pending=pending,
                confirmed=sum(r.status is Status.CONFIRMED for r in self.by_id.values()),
                outbox_due=len(self._rows) - parked,
                outbox_parked=parked,
            )

    # --- ExportQueries (issue 12) ------------------------------------------------------

    def registrations_since(
        self, status: Status, since: datetime | None = None
    ) -> Iterator[Registration]:
        def time_of(r: Registration) -> datetime:
            return r.confirmed_at or r.timestamp if status is Status.CONFIRMED else r.timestamp

        with self._lock:
            regs = [r for r in self.by_id.values() if r.status is status]
        regs = [r for r in regs if since is None or time_of(r) >= since]
        return iter(sorted(regs, key=lambda r: (time_of(r), r.id)))

    def registrations_of(self, addr_key: str) -> list[Registration]:
        with self._lock:
            regs = [r for r in self.by_id.values() if r.addr_key == addr_key]
        return sorted(regs, key=lambda r: (r.timestamp, r.id))

    def delete_address(self, addr_key: str, limit_key: str | None = None) -> int:
        with self._lock:
            gone = {r.id for r in self.by_id.values() if r.addr_key == addr_key}
            self._forget(gone)
            self.confirmed_by_address.pop(addr_key, None)
            if limit_key is not None:
                self.limits.pop(f"address:{limit_key}", None)
                self._limit_expires.pop(f"address:{limit_key}", None)
            return len(gone)

    # --- SuppressionList --------------------------------------------------------------

    def suppression(self, key: str) -> Suppression | None:
        with self._lock:
            return self.suppressed.get(key)

    def suppress(self, entry: Suppression) -> bool:
        with self._lock:
            if entry.key in self.suppressed:
                return False
            self.suppressed[entry.key] = entry
            return True

    def lift(self, key: str) -> bool:
        with self._lock:
            self.soft_bounces.pop(key, None)
            self._soft_bounce_expires.pop(key, None)
            return self.suppressed.pop(key, None) is not None

    def suppressions(self) -> list[Suppression]:
        with self._lock:
            return sorted(self.suppressed.values(), key=lambda e: (e.since, e.key))

    def count_soft_bounce(self, key: str, at: int, window_seconds: int) -> int:
        with self._lock:
            times = [t for t in self.soft_bounces.get(key, []) if at - t < window_seconds]
            times.append(at)
            self.soft_bounces[key] = times
            self._soft_bounce_expires[key] = max(times) + window_seconds
            return len(times)

    def mark_undeliverable(self, registration_id: str, status: Status, diagnostic: str) -> bool:
        with self._lock:
            reg = self.by_id.get(registration_id)
            if reg is None or reg.status is not Status.PENDING:
                return False
            self.by_id[registration_id] = dataclasses.replace(
                reg, status=status, delivery_failure=diagnostic[:200]
            )
            return True

    def restore(self, key: str, registration_ids: Sequence[str], now: datetime) -> list[str]:
        with self._lock:
            self.lift(key)
            owed = []
            for registration_id in registration_ids:
                reg = self.by_id.get(registration_id)
                if reg is None or reg.status is not Status.BOUNCED:
                    continue
                reg = dataclasses.replace(reg, status=Status.PENDING, delivery_failure=None)
                self.by_id[registration_id] = reg
                if reg.expired(now):
                    continue
                message = Message(MessageKind.VERIFICATION, reg)
                row = self._row_of(message, None)
                if row is None:
                    self._owe(message)
                else:  # a copy still kept: due at once, with this registration
                    row.message, row.next_attempt_at, row.parked = message, 0.0, False
                owed.append(registration_id)
            return owed

    # --- ErasureStore -------------------------------------------------------------------

    def erase(self, registration_id: str, addr_key: str, now: datetime) -> Registration | None:
        with self._lock:
            reg = self.by_id.get(registration_id)
            if reg is None or reg.addr_key != addr_key:
                return None
            self._forget({r.id for r in self.by_id.values() if r.addr_key == addr_key})
            self.confirmed_by_address.pop(addr_key, None)
            self._owe(Message(MessageKind.ERASURE_NOTICE, reg))
            for target in self.event_targets:
                self._owe(Message(MessageKind.REGISTRATION_ERASED, reg, target))
            return reg

    # --- the owner's daily digest (OWNER_DIGEST=daily) ----------------------------------

    def owe_digest(self, message: Message) -> bool:
        """Owe the digest of one day, once ever: False when that day's was owed already."""
        with self._lock:
            if message.registration.id in self.digests:
                return False
            self.digests.add(message.registration.id)
            self._owe(message)
            return True
