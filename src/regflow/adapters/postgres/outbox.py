"""The outbox over PostgreSQL: `ports.Outbox` and the embedded worker's extras
(`ports.WorkerOutbox`), safe with any number of workers on one database.

A worker claims rows with `SELECT ... FOR UPDATE SKIP LOCKED` inside an `UPDATE`: two workers
never claim the same row (each skips the rows the other is claiming), and a claim is a lease
(`claimed_at`, `claimed_by`). A claim is handed out again when its lease runs out
(`CLAIM_LEASE_SECONDS`) or as soon as the process that holds it is gone: every process that
claims holds a session advisory lock on its own id (`claimed_by`) on a connection of its own,
which PostgreSQL releases when that process dies, so a surviving replica takes over a killed
replica's claims at its next poll instead of after the lease.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import psycopg

from regflow.adapters.postgres.database import Cursor, Database
from regflow.adapters.postgres.rows import REGISTRATION_COLUMNS, registration_of
from regflow.adapters.snapshot import registration_of_snapshot
from regflow.domain import ClaimedMessage, Message, MessageKind, ParkedMessage, StoreUnavailable
from regflow.domain.messages import channel_of

# A claim older than this is released (a delivery never takes that long: SMTP and SES time out).
CLAIM_LEASE_SECONDS = 600.0
EVENT_KINDS = tuple(kind.value for kind in MessageKind if kind.is_event)  # claim_due(events=)

# The advisory lock namespace of "this process is alive and holds outbox claims" (the second
# key is the process's `claimed_by` id).
OWNER_LOCK_NAMESPACE = 0x6F62_6F78  # "obox"

_ERROR_CHARS = 200


def owe(
    cur: Cursor,
    kind: MessageKind,
    registration_id: str,
    at: datetime,
    target: str = "",
    snapshot: str | None = None,
) -> None:
    """Owe a message, due at once, in the caller's transaction (the state change that owes it).
    `target`: an event's (regflow.domain.events); `snapshot`: the registration a message that
    outlives it (an erasure's, a digest) is sent from."""
    cur.execute(
        "INSERT INTO outbox (kind, channel, registration_id, created, next_attempt_at, target,"
        " snapshot) VALUES (%s, %s, %s, %s, 0, %s, %s)",
        (kind.value, channel_of(kind, target).value, registration_id, at, target, snapshot),
    )


class PostgresOutbox(Database):
    HOLDS_FRESH = True  # every owed message is an outbox row, written with its state change

    def _alive(self) -> int:
        """This process's claim id, with its advisory lock held on a connection of its own
        (taken again if that connection was lost)."""
        with self._owner_lock:
            conn = self._owner_conn
            if conn is not None and not (conn.closed or conn.broken):
                # psycopg notices a dropped connection only when it is used: a server restart
                # or an idle cut-off releases the lock, and the other replicas would take this
                # one's claims while it still sends them. Ask, and take the lock again if so.
                try:
                    conn.execute("SELECT 1")
                except psycopg.Error:
                    conn.close()
            if conn is None or conn.closed or conn.broken:
                try:
                    conn = psycopg.connect(self.url, autocommit=True)
                    conn.execute(
                        "SELECT pg_advisory_lock(%s::int4, %s::int4)",
                        (OWNER_LOCK_NAMESPACE, self._owner),
                    )
                except psycopg.Error as exc:
                    raise StoreUnavailable(retry_after=1) from exc
                self._owner_conn = conn
            return self._owner

    def claim_due(
        self,
        now: float,
        limit: int = 10,
        *,
        lease_seconds: float = CLAIM_LEASE_SECONDS,
        events: bool | None = None,
    ) -> list[ClaimedMessage]:
        """Claim up to `limit` due rows (oldest first): rows nobody holds, rows whose lease ran
        out, and rows of a process that is gone (its advisory lock released)."""
        me = self._alive()

        def run(cur: Cursor) -> list[ClaimedMessage]:
            rows = cur.execute(
                "WITH due AS ("
                " SELECT id FROM outbox WHERE next_attempt_at <= %(now)s"
                " AND (claimed_at IS NULL OR claimed_at <= %(stale)s"
                "  OR (claimed_by <> %(me)s AND claimed_by NOT IN (SELECT objid::bigint"
                "   FROM pg_locks WHERE locktype = 'advisory' AND classid::bigint = %(ns)s"
                "   AND objsubid = 2 AND granted)))"
                " AND (%(events)s::boolean IS NULL OR (kind = ANY(%(kinds)s)) = %(events)s)"
                " ORDER BY id LIMIT %(limit)s FOR UPDATE SKIP LOCKED)"
                " UPDATE outbox o SET claimed_at = %(now)s, claimed_by = %(me)s,"
                " attempts = o.attempts + 1 FROM due WHERE o.id = due.id"
                " RETURNING o.id, o.kind, o.registration_id, o.attempts, o.first_failed_at,"
                " o.target, o.snapshot",
                {
                    "now": now,
                    "stale": now - lease_seconds,
                    "me": me,
                    "ns": OWNER_LOCK_NAMESPACE,
                    "limit": limit,
                    "kinds": list(EVENT_KINDS),
                    "events": events,  # None both sorts, True only events, False only mail
                },
            ).fetchall()
            if not rows:
                return []
            regs = {
                r["id"]: registration_of(r)
                for r in cur.execute(
                    f"SELECT {REGISTRATION_COLUMNS} FROM registrations"  # noqa: S608
                    " WHERE id = ANY(%s)".encode(),
                    ([row["registration_id"] for row in rows],),
                ).fetchall()
            }
            claimed: list[ClaimedMessage] = []
            gone: list[int] = []
            for row in sorted(rows, key=lambda r: int(r["id"])):
                reg = regs.get(row["registration_id"])
                if row["snapshot"] is not None:  # an erasure's or a digest: outlives it
                    reg = registration_of_snapshot(row["snapshot"])
                if reg is None:  # purged or erased since: nothing is owed any more
                    gone.append(row["id"])
                    continue
                message = Message(MessageKind(row["kind"]), reg, row["target"] or "")
                failed = row["first_failed_at"]
                claimed.append(
                    ClaimedMessage(
                        message, row["attempts"], str(row["id"]), None if failed is None else failed
                    )
                )
            if gone:
                cur.execute("DELETE FROM outbox WHERE id = ANY(%s)", (gone,))
            return claimed

        return self._write(run)

    def complete(self, claimed: ClaimedMessage) -> None:
        self._write(
            lambda cur: cur.execute("DELETE FROM outbox WHERE id = %s", (int(claimed.claim),))
        )

    def fail(self, claimed: ClaimedMessage, *, at: float, error: str) -> None:
        """Release the claim, due again at `at` (its first failure is this attempt unless an
        earlier one was recorded)."""
        self._write(
            lambda cur: cur.execute(
                "UPDATE outbox SET claimed_at = NULL, claimed_by = NULL, next_attempt_at = %s,"
                " last_error = %s, first_failed_at = COALESCE(first_failed_at, claimed_at)"
                " WHERE id = %s",
                (at, error[:_ERROR_CHARS], int(claimed.claim)),
            )
        )

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
        kind, registration_id = message.kind.value, message.registration.id
        target = message.target
        claim = -1 if claimed is None else int(claimed.claim)

        def run(cur: Cursor) -> None:
            updated = cur.execute(
                "UPDATE outbox SET attempts = %s, last_error = %s, next_attempt_at = %s,"
                " claimed_at = NULL, claimed_by = NULL, parked = true,"
                " parked_at = COALESCE(parked_at, %s), first_failed_at = COALESCE(first_failed_at,"
                " %s) WHERE id = %s OR (registration_id = %s AND kind = %s AND target = %s)",
                (
                    attempts,
                    error[:_ERROR_CHARS],
                    at,
                    now,
                    now,
                    claim,
                    registration_id,
                    kind,
                    target,
                ),
            ).rowcount
            if updated == 0:  # not owed here yet (a fresh message on AWS, say): keep it now
                cur.execute(
                    "INSERT INTO outbox (kind, channel, registration_id, created, attempts,"
                    " next_attempt_at, last_error, parked, parked_at, first_failed_at, target)"
                    " SELECT %s, %s, id, %s, %s, %s, %s, true, %s, %s, %s FROM registrations"
                    " WHERE id = %s",
                    (
                        kind,
                        message.channel.value,
                        datetime.fromtimestamp(now, UTC),
                        attempts,
                        at,
                        error[:_ERROR_CHARS],
                        now,
                        now,
                        target,
                        registration_id,
                    ),
                )

        self._write(run)

    def drop(self, message: Message, *, error: str, claimed: ClaimedMessage | None = None) -> None:
        claim = -1 if claimed is None else int(claimed.claim)

        def run(cur: Cursor) -> None:
            cur.execute(
                "DELETE FROM outbox WHERE id = %s"
                " OR (registration_id = %s AND kind = %s AND target = %s)",
                (claim, message.registration.id, message.kind.value, message.target),
            )
            cur.execute(
                "UPDATE registrations SET delivery_failure = %s WHERE id = %s",
                (error[:_ERROR_CHARS], message.registration.id),
            )

        self._write(run)

    def parked(self) -> list[ParkedMessage]:
        rows = self._read(
            "SELECT o.kind AS o_kind, o.attempts AS o_attempts, o.last_error AS o_last_error,"
            " o.parked_at AS o_parked_at, o.next_attempt_at AS o_next_attempt_at,"
            " o.target AS o_target, o.snapshot AS o_snapshot, r.*"
            " FROM outbox o LEFT JOIN registrations r ON r.id = o.registration_id"
            " WHERE o.parked AND (r.id IS NOT NULL OR o.snapshot IS NOT NULL) ORDER BY o.id"
        )
        return [
            ParkedMessage(
                message=Message(
                    MessageKind(row["o_kind"]),
                    registration_of_snapshot(row["o_snapshot"])
                    if row["o_snapshot"] is not None
                    else registration_of(row),
                    row["o_target"] or "",
                ),
                attempts=row["o_attempts"],
                last_error=row["o_last_error"] or "",
                parked_at=row["o_parked_at"] or 0.0,
                next_attempt_at=row["o_next_attempt_at"],
            )
            for row in rows
        ]

    def requeue_parked(self, now: float) -> int:
        """Every parked row due at `now` (it stays parked until delivered); its first failure
        is forgotten, so automatic retries get a fresh window."""
        return self._write(
            lambda cur: (
                cur.execute(
                    "UPDATE outbox SET next_attempt_at = %s, first_failed_at = NULL WHERE parked",
                    (now,),
                ).rowcount
            )
        )

    # --- the embedded worker's extras ---------------------------------------------------

    def recover_claims(self, now: float) -> int:
        """Start-up: release the claims of processes that are gone (never a live replica's),
        and make every unclaimed row that is not parked due at `now`. Returns how many claims
        were released (their messages are sent again: at-least-once)."""
        me = self._alive()

        def run(cur: Cursor) -> int:
            released = cur.execute(
                "UPDATE outbox SET claimed_at = NULL, claimed_by = NULL"
                " WHERE claimed_at IS NOT NULL AND (claimed_by IS NULL OR (claimed_by <> %(me)s"
                " AND claimed_by NOT IN (SELECT objid::bigint FROM pg_locks"
                " WHERE locktype = 'advisory' AND classid::bigint = %(ns)s AND objsubid = 2"
                " AND granted)))",
                {"me": me, "ns": OWNER_LOCK_NAMESPACE},
            ).rowcount
            cur.execute(
                "UPDATE outbox SET next_attempt_at = %s WHERE NOT parked AND claimed_at IS NULL"
                " AND next_attempt_at > %s",
                (now, now),
            )
            return released

        return self._write(run)

    def next_due_at(self) -> float | None:
        """The earliest automatic attempt of an unclaimed row (parked rows with a
        `next_attempt_at` included), or None."""
        rows = self._read("SELECT MIN(next_attempt_at) AS due FROM outbox WHERE claimed_at IS NULL")
        value: Any = rows[0]["due"] if rows else None
        return None if value is None else float(value)
