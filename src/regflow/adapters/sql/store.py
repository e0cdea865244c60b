"""`RegistrationStore` over SQL: registrations, the confirmed lock, the limit state, and the
messages each state change owes, written in one transaction with the change.

Exact across PostgreSQL replicas: `create_pending` locks the limit rows it judges
(`SELECT ... FOR UPDATE` after an `INSERT ... ON CONFLICT DO NOTHING` that makes sure they
exist), so two posts for one client or one address are judged one after the other on what the
other wrote. A confirmation locks the registration row, decides (`domain.transitions`) and
writes under the decision's guard; the address's lock row is taken with `INSERT ... ON
CONFLICT DO NOTHING` (its primary key is "one confirmed registration per address"). On SQLite
the write transaction is the lock.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

from regflow.adapters.decided import DecidedChanges
from regflow.adapters.snapshot import snapshot_of
from regflow.adapters.sql.dialect import SQLDatabase, Tx
from regflow.adapters.sql.outbox import owe
from regflow.adapters.sql.rows import (
    REGISTRATION_COLUMNS,
    consent_json,
    registration_of,
    registration_params,
)
from regflow.domain import (
    CreateResult,
    LimitState,
    Message,
    MessageKind,
    Outcome,
    Registration,
    SendLog,
    Status,
    count_client,
    count_send,
)
from regflow.domain.challenge import replayed
from regflow.domain.transitions import (
    UNKNOWN,
    ConfirmInputs,
    ConfirmState,
    CreateInputs,
    confirm_guard,
    decide_confirm,
)

_SELECT = f"SELECT {REGISTRATION_COLUMNS} FROM registrations"


class SQLRegistrations(DecidedChanges, SQLDatabase):
    """`ports.RegistrationStore` (reference: `adapters.memory`)."""

    def _create(self, registration: Registration, inputs: CreateInputs) -> CreateResult:
        address_limit, client_limit = inputs.address_limit, inputs.client_limit
        client_key, challenge = inputs.client_key, inputs.challenge
        now = int(registration.timestamp.timestamp())
        d = self.dialect

        def run(tx: Tx) -> CreateResult:
            if challenge is not None:
                # spent first (the key serialises concurrent replays); a refusal by the
                # client limit raises and rolls it back with the rest
                fresh = tx.execute(
                    "INSERT INTO spent_challenges (id, expires) VALUES (?, ?)"
                    " ON CONFLICT (id) DO UPDATE SET expires = excluded.expires"
                    " WHERE spent_challenges.expires <= ? RETURNING id",
                    (challenge.id, challenge.expires, now),
                ).fetchall()
                if not fresh:
                    raise replayed()
            client: tuple[str, LimitState] | None = None
            if client_key is not None and client_limit.enabled:
                key = f"client:{client_key}"
                client = (key, count_client(self._locked_counter(tx, key), client_limit, now))
            address: tuple[str, SendLog] | None = None
            limited = False
            if address_limit.enabled:
                key = f"address:{registration.limit_key}"
                after = count_send(self._locked_send_log(tx, key), address_limit, now)
                limited = after is None
                address = None if after is None else (key, after)
            if client is not None:
                # counted for a limited post too (no enumeration by counting); an upsert: a
                # purge of the (expired) row since the locked read must not lose the count
                key, new = client
                expires = max(
                    new.window_start + client_limit.window_seconds,
                    new.last_at + client_limit.min_interval_seconds,
                )
                tx.execute(
                    "INSERT INTO limit_counters (key, window_start, count, last_at, expires)"
                    " VALUES (?, ?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET"
                    " window_start = excluded.window_start, count = excluded.count,"
                    " last_at = excluded.last_at, expires = excluded.expires",
                    (key, new.window_start, new.count, new.last_at, expires),
                )
            if limited:
                return CreateResult.ADDRESS_LIMITED
            if address is not None:
                key, log = address
                tx.execute(
                    "INSERT INTO send_logs (key, times, expires) VALUES (?, ?, ?)"
                    " ON CONFLICT (key) DO UPDATE SET times = excluded.times,"
                    " expires = excluded.expires",
                    (key, d.ints(log.times), log.expires(address_limit) or now),
                )
            tx.execute(
                f"INSERT INTO registrations ({REGISTRATION_COLUMNS})"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                registration_params(registration, d),
            )
            owe(tx, d, MessageKind.VERIFICATION, registration.id, registration.timestamp)
            return CreateResult.CREATED

        return self._transact(run)

    def _locked_counter(self, tx: Tx, key: str) -> LimitState | None:
        """The client's counter, row-locked until the transaction ends (created empty first, so
        there is a row to lock; an empty one, count 0 at epoch 0, judges like no counter)."""
        tx.execute(
            "INSERT INTO limit_counters (key, window_start, count, last_at, expires)"
            " VALUES (?, 0, 0, 0, 0) ON CONFLICT (key) DO NOTHING",
            (key,),
        )
        rows = tx.execute(
            "SELECT window_start, count, last_at FROM limit_counters WHERE key = ?"
            + self.dialect.for_update,
            (key,),
        ).fetchall()
        if not rows or rows[0]["count"] == 0:
            return None
        row = rows[0]
        return LimitState(
            window_start=row["window_start"], count=row["count"], last_at=row["last_at"]
        )

    def _locked_send_log(self, tx: Tx, key: str) -> SendLog:
        """The address's send log, row-locked until the transaction ends (created empty first)."""
        d = self.dialect
        tx.execute(
            "INSERT INTO send_logs (key, times, expires) VALUES (?, ?, 0)"
            " ON CONFLICT (key) DO NOTHING",
            (key, d.ints(())),
        )
        rows = tx.execute("SELECT times FROM send_logs WHERE key = ?" + d.for_update, (key,))
        found = rows.fetchall()
        return SendLog() if not found else SendLog(tuple(d.from_ints(found[0]["times"])))

    # --- confirm, by link or by code (`domain.transitions.decide_confirm`) ---------------

    def _confirm(self, registration_id: str, now: datetime, inputs: ConfirmInputs) -> Outcome:
        """The locked read, the domain's decision, and its writes under its guard. The
        address lock is the guard's last part: taken by a conditional insert, and when another
        registration holds it the decision is made again on that."""
        d = self.dialect
        where, params = confirm_guard(now, inputs).sql()

        def run(tx: Tx) -> Outcome:
            rows = tx.execute(
                "SELECT addr_key, status, ttl, code_tries FROM registrations WHERE id = ?"
                + d.for_update,
                (registration_id,),
            ).fetchall()
            state = UNKNOWN
            if rows:
                row = rows[0]
                state = ConfirmState(
                    Status(row["status"]), row["addr_key"], row["ttl"], row["code_tries"]
                )
            decision = decide_confirm(state, now, inputs)
            if decision.write == "count-try":
                tx.execute(
                    "UPDATE registrations SET code_tries = code_tries + 1"
                    f" WHERE id = ? AND {where}",
                    (registration_id, *params),
                )
            elif inputs.code is not None and not inputs.code.matched:
                _count_in_vain(tx, registration_id, now)
            if decision.write != "confirm":
                return decision.outcome
            taken = tx.execute(
                "INSERT INTO confirmed_addresses (addr_key, registration_id) VALUES (?, ?)"
                " ON CONFLICT (addr_key) DO NOTHING RETURNING addr_key",
                (inputs.addr_key, registration_id),
            ).fetchall()
            if not taken:
                locked = dataclasses.replace(state, address_locked=True)
                return decide_confirm(locked, now, inputs).outcome
            tx.execute(
                "UPDATE registrations SET status = 'CONFIRMED', ttl = NULL,"
                f" confirmed_at = ?, confirm_consent = ? WHERE id = ? AND {where}",
                (d.moment(now), consent_json(inputs.consent), registration_id, *params),
            )
            for kind, target in decision.owes:
                owe(tx, d, kind, registration_id, now, target)
            return decision.outcome

        return self._transact(run)

    # --- self-service erasure, the owner digest (docs/erasure.md, docs/events.md) ----------

    def erase(self, registration_id: str, addr_key: str, now: datetime) -> Registration | None:
        """One transaction: what `delete_address(addr_key)` deletes (the send log aside), and
        the erasure's messages (owner notice, one event per target), with a snapshot."""
        d = self.dialect

        def run(tx: Tx) -> Registration | None:
            rows = tx.execute(
                _SELECT + " WHERE id = ? AND addr_key = ?" + d.for_update,
                (registration_id, addr_key),
            ).fetchall()
            if not rows:
                return None
            reg = registration_of(rows[0], d)
            _delete_address(tx, addr_key)
            snapshot = snapshot_of(reg)
            owe(tx, d, MessageKind.ERASURE_NOTICE, reg.id, now, "", snapshot)
            for target in self.event_targets:
                owe(tx, d, MessageKind.REGISTRATION_ERASED, reg.id, now, target, snapshot)
            return reg

        return self._transact(run)

    def owe_digest(self, message: Message) -> bool:
        """OWNER_DIGEST=daily: owe one day's digest, once ever (the day is remembered in the
        same transaction). False when that day's was owed already."""
        reg = message.registration

        def run(tx: Tx) -> bool:
            new = tx.execute(
                "INSERT INTO digests (day) VALUES (?) ON CONFLICT (day) DO NOTHING RETURNING day",
                (reg.id,),
            ).fetchall()
            if new:
                owe(tx, self.dialect, message.kind, reg.id, reg.timestamp, "", snapshot_of(reg))
            return bool(new)

        return self._transact(run)

    def get(self, registration_id: str) -> Registration | None:
        rows = self._read(_SELECT + " WHERE id = ?", (registration_id,))
        return registration_of(rows[0], self.dialect) if rows else None

    def confirmed_registration_id(self, addr_key: str) -> str | None:
        rows = self._read(
            "SELECT registration_id FROM confirmed_addresses WHERE addr_key = ?", (addr_key,)
        )
        return str(rows[0]["registration_id"]) if rows else None


def _delete_address(tx: Tx, addr_key: str) -> int:
    """Every registration of the address, its confirmed lock and the messages owed to or about
    it; how many registrations."""
    tx.execute(
        "DELETE FROM outbox WHERE registration_id IN"
        " (SELECT id FROM registrations WHERE addr_key = ?)",
        (addr_key,),
    )
    tx.execute("DELETE FROM confirmed_addresses WHERE addr_key = ?", (addr_key,))
    return tx.execute("DELETE FROM registrations WHERE addr_key = ?", (addr_key,)).rowcount


def _count_in_vain(tx: Tx, registration_id: str, now: datetime) -> None:
    """A wrong code with nothing to count (no such registration: a limited post's cookie; or
    one confirmed, expired, dead) still writes and commits one row, as counting a live
    registration's try does: the answer's time does not tell whether a post was stored
    (issue 27). The counter limits nothing; the purge deletes it a day later."""
    epoch = int(now.timestamp())
    tx.execute(
        "INSERT INTO limit_counters (key, window_start, count, last_at, expires)"
        " VALUES (?, ?, 1, ?, ?) ON CONFLICT (key) DO UPDATE SET"
        " count = limit_counters.count + 1, last_at = excluded.last_at",
        (f"code:{registration_id}", epoch, epoch, epoch + 86400),
    )
