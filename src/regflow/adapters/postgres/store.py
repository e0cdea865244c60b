"""`RegistrationStore` over PostgreSQL: registrations, the confirmed lock, the limit state, and
the message each state change owes, written in one transaction with the change.

Exact across replicas: `create_pending` locks the limit rows it judges (`SELECT ... FOR UPDATE`
after an `INSERT ... ON CONFLICT DO NOTHING` that makes sure they exist), so two posts for one
client or one address, through any replicas, are judged one after the other on what the other
wrote, never on the same stale read. `confirm` locks the registration row and takes the address's
lock row with `INSERT ... ON CONFLICT DO NOTHING` (its primary key is "one confirmed
registration per address"): the second of two simultaneous clicks waits, then sees CONFIRMED.
"""

from __future__ import annotations

from datetime import datetime

from regflow.adapters.postgres.database import Cursor, Database
from regflow.adapters.postgres.outbox import owe
from regflow.adapters.postgres.rows import (
    REGISTRATION_COLUMNS,
    registration_of,
    registration_params,
)
from regflow.adapters.snapshot import snapshot_of
from regflow.domain import (
    Consent,
    CreateResult,
    Limit,
    LimitState,
    Message,
    MessageKind,
    Outcome,
    Registration,
    SendLog,
    SpentChallenge,
    Status,
    ValidationError,
    count_client,
    count_send,
)
from regflow.domain.challenge import FIELD as CHALLENGE_FIELD
from regflow.domain.challenge import REFUSED as CHALLENGE_REFUSED


class PostgresRegistrations(Database):
    """`ports.RegistrationStore` (reference: `adapters.memory`)."""

    # where each confirmation's event goes (`regflow.domain.events`: one owed message per
    # target, in the confirmation's transaction); the runtime sets it from its settings
    event_targets: tuple[str, ...] = ()

    def create_pending(
        self,
        registration: Registration,
        *,
        address_limit: Limit,
        client_key: str | None,
        client_limit: Limit,
        challenge: SpentChallenge | None = None,
    ) -> CreateResult:
        now = int(registration.timestamp.timestamp())

        def run(cur: Cursor) -> CreateResult:
            if challenge is not None:
                # spent first (the key serialises concurrent replays); a refusal by the
                # client limit raises and rolls it back with the rest
                fresh = cur.execute(
                    "INSERT INTO spent_challenges (id, expires) VALUES (%s, %s)"
                    " ON CONFLICT (id) DO UPDATE SET expires = EXCLUDED.expires"
                    " WHERE spent_challenges.expires <= %s RETURNING id",
                    (challenge.id, challenge.expires, now),
                ).fetchone()
                if fresh is None:
                    raise ValidationError(CHALLENGE_FIELD, CHALLENGE_REFUSED)
            client: tuple[str, LimitState] | None = None
            if client_key is not None and client_limit.enabled:
                key = f"client:{client_key}"
                client = (key, count_client(_locked_counter(cur, key), client_limit, now))
            address: tuple[str, SendLog] | None = None
            limited = False
            if address_limit.enabled:
                key = f"address:{registration.limit_key}"
                after = count_send(_locked_send_log(cur, key), address_limit, now)
                limited = after is None
                address = None if after is None else (key, after)
            if client is not None:
                # counted for a limited post too (no enumeration by counting)
                key, new = client
                # an upsert: a purge of the (expired) row between its insert-if-missing and
                # the locked read must not leave this post uncounted
                cur.execute(
                    "INSERT INTO limit_counters (key, window_start, count, last_at, expires)"
                    " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (key) DO UPDATE SET"
                    " window_start = EXCLUDED.window_start, count = EXCLUDED.count,"
                    " last_at = EXCLUDED.last_at, expires = EXCLUDED.expires",
                    (
                        key,
                        new.window_start,
                        new.count,
                        new.last_at,
                        _limit_expires(new, client_limit),
                    ),
                )
            if limited:
                return CreateResult.ADDRESS_LIMITED
            if address is not None:
                key, log = address
                cur.execute(
                    "INSERT INTO send_logs (key, times, expires) VALUES (%s, %s, %s)"
                    " ON CONFLICT (key) DO UPDATE SET times = EXCLUDED.times,"
                    " expires = EXCLUDED.expires",
                    (key, list(log.times), log.expires(address_limit) or now),
                )
            cur.execute(
                f"INSERT INTO registrations ({REGISTRATION_COLUMNS})"  # noqa: S608 (constant)
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)".encode(),
                registration_params(registration),
            )
            owe(cur, MessageKind.VERIFICATION, registration.id, registration.timestamp)
            return CreateResult.CREATED

        return self._write(run)

    def confirm(
        self,
        registration_id: str,
        addr_key: str,
        now: datetime,
        *,
        consent: Consent | None = None,
    ) -> Outcome:
        def run(cur: Cursor) -> Outcome:
            row = cur.execute(
                "SELECT addr_key, status, ttl FROM registrations WHERE id = %s FOR UPDATE",
                (registration_id,),
            ).fetchone()
            if row is None or row["addr_key"] != addr_key:
                return Outcome.INVALID
            if Status(row["status"]) is Status.CONFIRMED:
                return Outcome.ALREADY_CONFIRMED
            if Status(row["status"]) is not Status.PENDING:  # bounced, complained
                return Outcome.INVALID
            ttl = row["ttl"]
            if ttl is not None and ttl <= int(now.timestamp()):
                return Outcome.EXPIRED
            return self._lock_and_confirm(cur, registration_id, addr_key, now, consent)

        return self._write(run)

    def _lock_and_confirm(
        self,
        cur: Cursor,
        registration_id: str,
        addr_key: str,
        now: datetime,
        consent: Consent | None,
    ) -> Outcome:
        """The end of every way to confirm (link or code), in its caller's transaction: the
        address lock (another registration of this address may hold it), the registration
        CONFIRMED, and the messages that owes."""
        taken = cur.execute(
            "INSERT INTO confirmed_addresses (addr_key, registration_id) VALUES (%s, %s)"
            " ON CONFLICT (addr_key) DO NOTHING RETURNING addr_key",
            (addr_key, registration_id),
        ).fetchone()
        if taken is None:
            return Outcome.ALREADY_CONFIRMED
        cur.execute(
            "UPDATE registrations SET status = 'CONFIRMED', ttl = NULL, confirmed_at = %s,"
            " confirm_consent = %s WHERE id = %s",
            (now, None if consent is None else consent.to_json(), registration_id),
        )
        owe(cur, MessageKind.OWNER_NOTIFICATION, registration_id, now)
        for target in self.event_targets:
            owe(cur, MessageKind.REGISTRATION_CONFIRMED, registration_id, now, target)
        return Outcome.CONFIRMED

    def confirm_code(
        self,
        registration_id: str,
        addr_key: str,
        now: datetime,
        *,
        matched: bool,
        max_tries: int,
        consent: Consent | None = None,
    ) -> Outcome:
        def run(cur: Cursor) -> Outcome:
            row = cur.execute(
                "SELECT addr_key, status, ttl, code_tries FROM registrations WHERE id = %s"
                " FOR UPDATE",
                (registration_id,),
            ).fetchone()
            if row is None or row["addr_key"] != addr_key or row["code_tries"] >= max_tries:
                _count_in_vain(cur, registration_id, now)
                return Outcome.INVALID
            status, ttl = Status(row["status"]), row["ttl"]
            live = status is Status.PENDING and (ttl is None or ttl > int(now.timestamp()))
            if not matched:
                if live:
                    cur.execute(
                        "UPDATE registrations SET code_tries = code_tries + 1 WHERE id = %s",
                        (registration_id,),
                    )
                else:
                    _count_in_vain(cur, registration_id, now)
                return Outcome.INVALID
            if status is Status.CONFIRMED:
                return Outcome.ALREADY_CONFIRMED
            if not live:
                return Outcome.EXPIRED
            return self._lock_and_confirm(cur, registration_id, addr_key, now, consent)

        return self._write(run)

    # --- self-service erasure, the owner digest (docs/erasure.md, docs/events.md) ----------

    def erase(self, registration_id: str, addr_key: str, now: datetime) -> Registration | None:
        """One transaction: what `delete_address(addr_key)` deletes (the send log aside), and
        the erasure's messages (owner notice, one event per target), with a snapshot."""

        def run(cur: Cursor) -> Registration | None:
            rows = cur.execute(
                f"SELECT {REGISTRATION_COLUMNS} FROM registrations"  # noqa: S608
                " WHERE id = %s AND addr_key = %s FOR UPDATE",
                (registration_id, addr_key),
            ).fetchall()
            if not rows:
                return None
            reg = registration_of(rows[0])
            cur.execute(
                "DELETE FROM outbox WHERE registration_id IN"
                " (SELECT id FROM registrations WHERE addr_key = %s)",
                (addr_key,),
            )
            cur.execute("DELETE FROM confirmed_addresses WHERE addr_key = %s", (addr_key,))
            cur.execute("DELETE FROM registrations WHERE addr_key = %s", (addr_key,))
            snapshot = snapshot_of(reg)
            owe(cur, MessageKind.ERASURE_NOTICE, reg.id, now, "", snapshot)
            for target in self.event_targets:
                owe(cur, MessageKind.REGISTRATION_ERASED, reg.id, now, target, snapshot)
            return reg

        result: Registration | None = self._write(run)
        return result

    def owe_digest(self, message: Message) -> bool:
        """OWNER_DIGEST=daily: owe one day's digest, once ever (the day is remembered in the
        same transaction). False when that day's was owed already."""

        def run(cur: Cursor) -> bool:
            day = message.registration.id
            new = cur.execute(
                "INSERT INTO digests (day) VALUES (%s) ON CONFLICT (day) DO NOTHING RETURNING day",
                (day,),
            ).fetchone()
            if new is None:
                return False
            snapshot = snapshot_of(message.registration)
            owe(cur, message.kind, day, message.registration.timestamp, "", snapshot)
            return True

        owed: bool = self._write(run)
        return owed

    def get(self, registration_id: str) -> Registration | None:
        rows = self._read(
            f"SELECT {REGISTRATION_COLUMNS} FROM registrations WHERE id = %s",  # noqa: S608
            (registration_id,),
        )
        return registration_of(rows[0]) if rows else None

    def confirmed_registration_id(self, addr_key: str) -> str | None:
        rows = self._read(
            "SELECT registration_id FROM confirmed_addresses WHERE addr_key = %s", (addr_key,)
        )
        return str(rows[0]["registration_id"]) if rows else None


def _limit_expires(state: LimitState, limit: Limit) -> int:
    return max(
        state.window_start + limit.window_seconds, state.last_at + limit.min_interval_seconds
    )


def _locked_counter(cur: Cursor, key: str) -> LimitState | None:
    """The client's counter, row-locked until the transaction ends (created empty first, so
    there is a row to lock; an empty one, count 0 at epoch 0, judges like no counter)."""
    cur.execute(
        "INSERT INTO limit_counters (key, window_start, count, last_at, expires)"
        " VALUES (%s, 0, 0, 0, 0) ON CONFLICT (key) DO NOTHING",
        (key,),
    )
    row = cur.execute(
        "SELECT window_start, count, last_at FROM limit_counters WHERE key = %s FOR UPDATE",
        (key,),
    ).fetchone()
    if row is None or row["count"] == 0:
        return None
    return LimitState(window_start=row["window_start"], count=row["count"], last_at=row["last_at"])


def _locked_send_log(cur: Cursor, key: str) -> SendLog:
    """The address's send log, row-locked until the transaction ends (created empty first)."""
    cur.execute(
        "INSERT INTO send_logs (key, times, expires) VALUES (%s, '{}', 0)"
        " ON CONFLICT (key) DO NOTHING",
        (key,),
    )
    row = cur.execute("SELECT times FROM send_logs WHERE key = %s FOR UPDATE", (key,)).fetchone()
    return SendLog() if row is None else SendLog(tuple(int(t) for t in row["times"]))


def _count_in_vain(cur: Cursor, registration_id: str, now: datetime) -> None:
    """A wrong code where there is nothing to count still writes one row, as counting a live
    registration's try does: the time of the answer does not tell whether a post was stored
    (issue 27; the SQLite store's twin). The purge deletes the counter a day later."""
    epoch = int(now.timestamp())
    cur.execute(
        "INSERT INTO limit_counters (key, window_start, count, last_at, expires)"
        " VALUES (%s, %s, 1, %s, %s) ON CONFLICT (key) DO UPDATE SET"
        " count = limit_counters.count + 1, last_at = excluded.last_at",
        (f"code:{registration_id}", epoch, epoch, epoch + 86400),
    )
