"""`RegistrationStore` over SQLite: registrations, the confirmed lock, the limit state, and the
message each state change owes, written in one transaction with the change."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime

from regflow.adapters.snapshot import snapshot_of
from regflow.adapters.sqlite.database import Database
from regflow.adapters.sqlite.outbox import owe
from regflow.adapters.sqlite.rows import consent_json, iso, registration_of
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


class SQLiteRegistrations(Database):
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
        with self._write() as db:
            if challenge is not None:
                spent = db.execute(
                    "SELECT 1 FROM spent_challenges WHERE id = ? AND expires > ?",
                    (challenge.id, now),
                ).fetchone()
                if spent is not None:
                    raise ValidationError(CHALLENGE_FIELD, CHALLENGE_REFUSED)
            client: tuple[str, LimitState] | None = None
            if client_key is not None and client_limit.enabled:
                key = f"client:{client_key}"
                client = (key, count_client(_counter(db, key), client_limit, now))
            address: tuple[str, SendLog] | None = None
            limited = False
            if address_limit.enabled:
                key = f"address:{registration.limit_key}"
                after = count_send(_send_log(db, key), address_limit, now)
                limited = after is None
                address = None if after is None else (key, after)
            if client is not None:
                # counted for a limited post too, in the same transaction: a limited post
                # spends the quota any other post spends (no enumeration by counting)
                key, new = client
                db.execute(
                    "INSERT INTO limit_counters (key, window_start, count, last_at, expires)"
                    " VALUES (?, ?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET"
                    " window_start = excluded.window_start, count = excluded.count,"
                    " last_at = excluded.last_at, expires = excluded.expires",
                    (
                        key,
                        new.window_start,
                        new.count,
                        new.last_at,
                        _limit_expires(new, client_limit),
                    ),
                )
            if challenge is not None:  # spent by a counted post, limited or not
                db.execute(
                    "INSERT INTO spent_challenges (id, expires) VALUES (?, ?) ON CONFLICT (id)"
                    " DO UPDATE SET expires = excluded.expires",
                    (challenge.id, challenge.expires),
                )
            if limited:
                return CreateResult.ADDRESS_LIMITED
            if address is not None:
                key, log = address
                _put_send_log(db, key, log, log.expires(address_limit) or now)
            r = registration
            db.execute(
                "INSERT INTO registrations (id, addr_key, name, email, status, timestamp, ttl,"
                " confirmed_at, language, delivery_failure, signup_consent)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    r.id,
                    r.addr_key,
                    r.name,
                    r.email,
                    r.status.value,
                    iso(r.timestamp),
                    r.ttl,
                    None if r.confirmed_at is None else iso(r.confirmed_at),
                    r.language,
                    r.delivery_failure,
                    consent_json(r.signup_consent),
                ),
            )
            owe(db, MessageKind.VERIFICATION, r.id, r.timestamp)
            return CreateResult.CREATED

    def confirm(
        self,
        registration_id: str,
        addr_key: str,
        now: datetime,
        *,
        consent: Consent | None = None,
    ) -> Outcome:
        with self._write() as db:
            row = db.execute(
                "SELECT addr_key, status, ttl FROM registrations WHERE id = ?",
                (registration_id,),
            ).fetchone()
            if row is None or row[0] != addr_key:
                return Outcome.INVALID
            status, ttl = Status(row[1]), row[2]
            if status is Status.CONFIRMED:
                return Outcome.ALREADY_CONFIRMED
            if status is not Status.PENDING:  # bounced, complained: never confirmable
                return Outcome.INVALID
            if ttl is not None and ttl <= int(now.timestamp()):
                return Outcome.EXPIRED
            return self._lock_and_confirm(db, registration_id, addr_key, now, consent)

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
        with self._write() as db:
            row = db.execute(
                "SELECT addr_key, status, ttl, code_tries FROM registrations WHERE id = ?",
                (registration_id,),
            ).fetchone()
            if row is None or row[0] != addr_key or row[3] >= max_tries:
                _count_in_vain(db, registration_id, now)
                return Outcome.INVALID
            status, ttl = Status(row[1]), row[2]
            live = status is Status.PENDING and (ttl is None or ttl > int(now.timestamp()))
            if not matched:
                if live:
                    db.execute(
                        "UPDATE registrations SET code_tries = code_tries + 1 WHERE id = ?",
                        (registration_id,),
                    )
                else:
                    _count_in_vain(db, registration_id, now)
                return Outcome.INVALID
            if status is Status.CONFIRMED:
                return Outcome.ALREADY_CONFIRMED
            if not live:
                return Outcome.EXPIRED
            return self._lock_and_confirm(db, registration_id, addr_key, now, consent)

    def _lock_and_confirm(
        self,
        db: sqlite3.Connection,
        registration_id: str,
        addr_key: str,
        now: datetime,
        consent: Consent | None,
    ) -> Outcome:
        """The end of every way to confirm (link or code), in its caller's transaction: the
        address lock, the registration CONFIRMED, and the messages that owes."""
        taken = db.execute(
            "SELECT 1 FROM confirmed_addresses WHERE addr_key = ?", (addr_key,)
        ).fetchone()
        if taken is not None:
            return Outcome.ALREADY_CONFIRMED
        db.execute(
            "UPDATE registrations SET status = 'CONFIRMED', ttl = NULL, confirmed_at = ?,"
            " confirm_consent = ? WHERE id = ? AND status = 'PENDING'",
            (iso(now), consent_json(consent), registration_id),
        )
        db.execute(
            "INSERT INTO confirmed_addresses (addr_key, registration_id) VALUES (?, ?)",
            (addr_key, registration_id),
        )
        owe(db, MessageKind.OWNER_NOTIFICATION, registration_id, now)
        for target in self.event_targets:
            owe(db, MessageKind.REGISTRATION_CONFIRMED, registration_id, now, target)
        return Outcome.CONFIRMED

    # --- ErasureStore (docs/erasure.md) ---------------------------------------------------

    def erase(self, registration_id: str, addr_key: str, now: datetime) -> Registration | None:
        """One transaction: what `delete_address(addr_key)` deletes, and the erasure's
        messages (owner notice, one event per target), which carry a snapshot."""
        with self._write() as db:
            cur = db.execute(
                "SELECT * FROM registrations WHERE id = ? AND addr_key = ?",
                (registration_id, addr_key),
            )
            cur.row_factory = sqlite3.Row
            row = cur.fetchone()
            if row is None:
                return None
            reg = registration_of(row)
            db.execute(
                "DELETE FROM outbox WHERE registration_id IN"
                " (SELECT id FROM registrations WHERE addr_key = ?)",
                (addr_key,),
            )
            db.execute("DELETE FROM confirmed_addresses WHERE addr_key = ?", (addr_key,))
            db.execute("DELETE FROM registrations WHERE addr_key = ?", (addr_key,))
            snapshot = snapshot_of(reg)
            owe(db, MessageKind.ERASURE_NOTICE, reg.id, now, snapshot=snapshot)
            for target in self.event_targets:
                owe(db, MessageKind.REGISTRATION_ERASED, reg.id, now, target, snapshot)
            return reg

    def owe_digest(self, message: Message) -> bool:
        """OWNER_DIGEST=daily: owe the digest of one day, once ever (the day is remembered in
        the same transaction). False when that day's digest was owed already."""
        with self._write() as db:
            day = message.registration.id
            if db.execute("SELECT 1 FROM digests WHERE day = ?", (day,)).fetchone():
                return False
            db.execute("INSERT INTO digests (day) VALUES (?)", (day,))
            owe(
                db,
                message.kind,
                day,
                message.registration.timestamp,
                "",
                snapshot_of(message.registration),
            )
            return True

    def get(self, registration_id: str) -> Registration | None:
        rows = self._read("SELECT * FROM registrations WHERE id = ?", (registration_id,))
        return registration_of(rows[0]) if rows else None

    def confirmed_registration_id(self, addr_key: str) -> str | None:
        rows = self._read(
            "SELECT registration_id FROM confirmed_addresses WHERE addr_key = ?", (addr_key,)
        )
        return str(rows[0][0]) if rows else None


def _limit_expires(state: LimitState, limit: Limit) -> int:
    return max(
        state.window_start + limit.window_seconds, state.last_at + limit.min_interval_seconds
    )


def _counter(db: sqlite3.Connection, key: str) -> LimitState | None:
    row = db.execute(
        "SELECT window_start, count, last_at FROM limit_counters WHERE key = ?", (key,)
    ).fetchone()
    return None if row is None else LimitState(window_start=row[0], count=row[1], last_at=row[2])


def _send_log(db: sqlite3.Connection, key: str) -> SendLog:
    row = db.execute("SELECT times FROM send_logs WHERE key = ?", (key,)).fetchone()
    return SendLog() if row is None else SendLog(tuple(int(t) for t in json.loads(row[0])))


def _put_send_log(db: sqlite3.Connection, key: str, log: SendLog, expires: int) -> None:
    db.execute(
        "INSERT INTO send_logs (key, times, expires) VALUES (?, ?, ?) ON CONFLICT (key)"
        " DO UPDATE SET times = excluded.times, expires = excluded.expires",
        (key, json.dumps(list(log.times)), expires),
    )


def _count_in_vain(db: sqlite3.Connection, registration_id: str, now: datetime) -> None:
    """A wrong code where there is nothing to count (no such registration: a limited post's
    cookie; confirmed, expired, dead) still writes one row, as counting a live registration's
    try does: the two answers take as long, so the time does not tell whether a post was
    stored (issue 27). The counter limits nothing; the purge deletes it a day later."""
    epoch = int(now.timestamp())
    db.execute(
        "INSERT INTO limit_counters (key, window_start, count, last_at, expires)"
        " VALUES (?, ?, 1, ?, ?) ON CONFLICT (key) DO UPDATE SET count = count + 1,"
        " last_at = excluded.last_at",
        (f"code:{registration_id}", epoch, epoch, epoch + 86400),
    )
