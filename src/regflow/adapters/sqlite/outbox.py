"""The outbox over SQLite: `ports.Outbox` and the embedded worker's extras
(`ports.WorkerOutbox`: `recover_claims`, `next_due_at`).

One `outbox` row per owed message (its kind and registration; the message is rebuilt from the
registration row when it is claimed). A row is claimed by setting `claimed_at` (the claim is
the row id); a parked row keeps its place and is claimable again at its `next_attempt_at`, or,
when that is NULL, once an operator calls `requeue_parked`.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

from regflow.adapters.snapshot import registration_of_snapshot
from regflow.adapters.sqlite.database import Database
from regflow.adapters.sqlite.rows import iso, registration_of
from regflow.domain import ClaimedMessage, Message, MessageKind, ParkedMessage
from regflow.domain.messages import channel_of

# A claim older than this is released (a delivery never takes that long: SMTP and SES time out).
CLAIM_LEASE_SECONDS = 600.0
EVENT_KINDS = tuple(kind.value for kind in MessageKind if kind.is_event)  # claim_due(events=)
assert len(EVENT_KINDS) == 2  # the claim's `kind IN (?, ?)`


_ERROR_CHARS = 200


def owe(
    db: sqlite3.Connection,
    kind: MessageKind,
    registration_id: str,
    at: datetime,
    target: str = "",
    snapshot: str | None = None,
) -> None:
    """Owe a message, due at once, in the caller's transaction (the state change that owes it).
    `snapshot`: the registration it is sent from, for a message that outlives it (erasure)."""
    channel = channel_of(kind, target)
    db.execute(
        "INSERT INTO outbox (kind, channel, registration_id, created, next_attempt_at, target,"
        " snapshot) VALUES (?, ?, ?, ?, 0, ?, ?)",
        (kind.value, channel.value, registration_id, iso(at), target, snapshot),
    )


class SQLiteOutbox(Database):
    HOLDS_FRESH = True  # every owed message is an outbox row, written with its state change

    def claim_due(
        self,
        now: float,
        limit: int = 10,
        *,
        lease_seconds: float = CLAIM_LEASE_SECONDS,
        events: bool | None = None,
    ) -> list[ClaimedMessage]:
        """Claim up to `limit` due rows (oldest first). A claimed row is not handed out again
        until it is settled or `recover_claims` releases it, or its claim is older than
        `lease_seconds` (its sender could not record the outcome, say the disk was full then):
        then it is due again, so no message stays stuck."""
        # `events`: None both sorts, True only events, False only mail
        sort = None if events is None else int(events)
        with self._write() as db:
            rows = db.execute(
                "UPDATE outbox SET claimed_at = ?, attempts = attempts + 1"
                " WHERE id IN (SELECT id FROM outbox WHERE next_attempt_at <= ?"
                " AND (claimed_at IS NULL OR claimed_at <= ?)"
                " AND (? IS NULL OR (kind IN (?, ?)) = ?) ORDER BY id LIMIT ?)"
                " RETURNING id, kind, registration_id, attempts, first_failed_at, target, snapshot",
                (now, now, now - lease_seconds, sort, *EVENT_KINDS, sort, limit),
            ).fetchall()
            claimed: list[ClaimedMessage] = []
            for row_id, kind, registration_id, attempts, failed_at, target, snapshot in sorted(
                rows
            ):
                if snapshot is not None:  # an erasure message: its registration is gone
                    message = Message(
                        MessageKind(kind), registration_of_snapshot(snapshot), target or ""
                    )
                    failed = None if failed_at is None else float(failed_at)
                    claimed.append(ClaimedMessage(message, attempts, str(row_id), failed))
                    continue
                cur = db.execute("SELECT * FROM registrations WHERE id = ?", (registration_id,))
                cur.row_factory = sqlite3.Row
                reg = cur.fetchone()
                if reg is None:  # purged or erased since: nothing is owed any more
                    db.execute("DELETE FROM outbox WHERE id = ?", (row_id,))
                    continue
                message = Message(MessageKind(kind), registration_of(reg), target or "")
                failed = None if failed_at is None else float(failed_at)
                claimed.append(ClaimedMessage(message, attempts, str(row_id), failed))
            return claimed

    def complete(self, claimed: ClaimedMessage) -> None:
        with self._write() as db:
            db.execute("DELETE FROM outbox WHERE id = ?", (int(claimed.claim),))

    def fail(self, claimed: ClaimedMessage, *, at: float, error: str) -> None:
        """Release the claim, due again at `at`; the attempt (made when it was claimed) is its
        first failure unless an earlier one was recorded."""
        with self._write() as db:
            db.execute(
                "UPDATE outbox SET claimed_at = NULL, next_attempt_at = ?, last_error = ?,"
                " first_failed_at = COALESCE(first_failed_at, claimed_at) WHERE id = ?",
                (at, error[:_ERROR_CHARS], int(claimed.claim)),
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
        match = (registration_id, kind, target)
        claim = -1 if claimed is None else int(claimed.claim)
        with self._write() as db:
            updated = db.execute(
                "UPDATE outbox SET attempts = ?, last_error = ?, next_attempt_at = ?,"
                " claimed_at = NULL, parked = 1, parked_at = COALESCE(parked_at, ?),"
                " first_failed_at = COALESCE(first_failed_at, ?)"
                " WHERE id = ? OR (registration_id = ? AND kind = ? AND target = ?)",
                (attempts, error[:_ERROR_CHARS], at, now, now, claim, *match),
            ).rowcount
            if updated == 0:  # not owed here yet (a fresh message on AWS, say): keep it now
                db.execute(
                    "INSERT INTO outbox (kind, channel, registration_id, created, attempts,"
                    " next_attempt_at, last_error, parked, parked_at, first_failed_at, target)"
                    " SELECT ?, ?, id, ?, ?, ?, ?, 1, ?, ?, ? FROM registrations WHERE id = ?",
                    (
                        kind,
                        message.channel.value,
                        iso(datetime.fromtimestamp(now, UTC)),
                        attempts,
                        at,
                        error[:_ERROR_CHARS],
                        now,
                        now,
                        target,
                        registration_id,
                    ),
                )

    def drop(self, message: Message, *, error: str, claimed: ClaimedMessage | None = None) -> None:
        claim = -1 if claimed is None else int(claimed.claim)
        with self._write() as db:
            db.execute(
                "DELETE FROM outbox WHERE id = ?"
                " OR (registration_id = ? AND kind = ? AND target = ?)",
                (claim, message.registration.id, message.kind.value, message.target),
            )
            db.execute(
                "UPDATE registrations SET delivery_failure = ? WHERE id = ?",
                (error[:_ERROR_CHARS], message.registration.id),
            )

    def parked(self) -> list[ParkedMessage]:
        rows = self._read(
            "SELECT o.kind AS o_kind, o.target AS o_target, o.attempts AS o_attempts,"
            " o.last_error AS o_last_error, o.snapshot AS o_snapshot,"
            " o.parked_at AS o_parked_at, o.next_attempt_at AS o_next_attempt_at, r.*"
            " FROM outbox o LEFT JOIN registrations r ON r.id = o.registration_id"
            " WHERE o.parked = 1 AND (r.id IS NOT NULL OR o.snapshot IS NOT NULL) ORDER BY o.id"
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
                parked_at=_seconds(row["o_parked_at"]) or 0.0,
                next_attempt_at=_seconds(row["o_next_attempt_at"]),
            )
            for row in rows
        ]

    def requeue_parked(self, now: float) -> int:
        """Every parked row due at `now` (it stays parked, with its attempts, until it is
        delivered); its first failure is forgotten, so automatic retries get a fresh window."""
        with self._write() as db:
            return db.execute(
                "UPDATE outbox SET next_attempt_at = ?, first_failed_at = NULL WHERE parked = 1",
                (now,),
            ).rowcount

    # --- the embedded worker's extras ---------------------------------------------------

    def recover_claims(self, now: float) -> int:
        """Start-up (before any worker runs): release rows a sender had claimed when the
        process died, and make every row that is not parked due at `now` (the restart may
        have fixed what failed). A released row's message may or may not have gone out
        before the crash: it is sent again (at-least-once; only the one message in flight can
        repeat). Returns how many claimed rows were released."""
        with self._write() as db:
            released = db.execute(
                "UPDATE outbox SET claimed_at = NULL WHERE claimed_at IS NOT NULL"
            ).rowcount
            db.execute(
                "UPDATE outbox SET next_attempt_at = ? WHERE parked = 0 AND next_attempt_at > ?",
                (now, now),
            )
            return released

    def next_due_at(self) -> float | None:
        """The earliest automatic attempt of an unclaimed row (parked rows with a
        `next_attempt_at` included), or None."""
        rows = self._read("SELECT MIN(next_attempt_at) FROM outbox WHERE claimed_at IS NULL")
        value = rows[0][0] if rows else None
        return None if value is None else float(value)


def _seconds(value: float | None) -> float | None:
    """A REAL column read back (SQLite may hand an integral one over as int)."""
    return None if value is None else float(value)
