"""The outbox over SQL: `ports.Outbox` and the embedded worker's extras
(`ports.WorkerOutbox`: `recover_claims`, `next_due_at`).

One `outbox` row per owed message (its kind and registration; the message is rebuilt from the
registration row when it is claimed, or from its snapshot when it outlives the registration).
A row is claimed by setting `claimed_at` (the claim is the row id); a parked row keeps its
place and is claimable again at its `next_attempt_at`, or, when that is NULL, once an operator
calls `requeue_parked`. How rows are claimed is the database's own (`_claim_rows`,
`_release_claims`): SQLite's one writer claims with a plain `UPDATE`; PostgreSQL's replicas
with `FOR UPDATE SKIP LOCKED` and an advisory lock per live claimer (`postgres.claims`).
"""

from __future__ import annotations

from datetime import UTC, datetime

from regflow.adapters.snapshot import registration_of_snapshot
from regflow.adapters.sql.dialect import Dialect, Row, SQLDatabase, Tx
from regflow.adapters.sql.rows import REGISTRATION_COLUMNS, registration_of
from regflow.domain import ClaimedMessage, Message, MessageKind, ParkedMessage
from regflow.domain.messages import channel_of

# A claim older than this is released (a delivery never takes that long: SMTP and SES time out).
CLAIM_LEASE_SECONDS = 600.0
# `claim_due(events=)`: the kinds published rather than mailed (their own worker thread)
EVENT_KINDS = tuple(kind.value for kind in MessageKind if kind.is_event)
assert len(EVENT_KINDS) == 2  # the claims' `kind IN (?, ?)`

_ERROR_CHARS = 200


def owe(
    tx: Tx,
    dialect: Dialect,
    kind: MessageKind,
    registration_id: str,
    at: datetime,
    target: str = "",
    snapshot: str | None = None,
) -> None:
    """Owe a message, due at once, in the caller's transaction (the state change that owes it).
    `target`: an event's (regflow.domain.events); `snapshot`: the registration a message that
    outlives it (an erasure's, a digest) is sent from."""
    tx.execute(
        "INSERT INTO outbox (kind, channel, registration_id, created, next_attempt_at, target,"
        " snapshot) VALUES (?, ?, ?, ?, 0, ?, ?)",
        (
            kind.value,
            channel_of(kind, target).value,
            registration_id,
            dialect.moment(at),
            target,
            snapshot,
        ),
    )


def _seconds(value: float | None) -> float | None:
    """A REAL column read back (SQLite may hand an integral one over as int)."""
    return None if value is None else float(value)


class SQLOutbox(SQLDatabase):
    HOLDS_FRESH = True  # every owed message is an outbox row, written with its state change

    def _claim_rows(
        self, tx: Tx, now: float, stale: float, limit: int, events: bool | None = None
    ) -> list[Row]:
        """Claim up to `limit` due rows (oldest first): unclaimed ones and those whose claim is
        older than `stale`, of one sort when `events` is given (True only events, False only
        mail); their id, kind, registration_id, attempts, first_failed_at, target and
        snapshot."""
        sort = None if events is None else int(events)
        return list(
            tx.execute(
                "UPDATE outbox SET claimed_at = ?, attempts = attempts + 1"
                " WHERE id IN (SELECT id FROM outbox WHERE next_attempt_at <= ?"
                " AND (claimed_at IS NULL OR claimed_at <= ?)"
                " AND (? IS NULL OR (kind IN (?, ?)) = ?) ORDER BY id LIMIT ?)"
                " RETURNING id, kind, registration_id, attempts, first_failed_at, target, snapshot",
                (now, now, stale, sort, *EVENT_KINDS, sort, limit),
            ).fetchall()
        )

    def _release_claims(self, tx: Tx) -> int:
        """Release the claims of senders that are gone (start-up); how many."""
        return tx.execute(
            "UPDATE outbox SET claimed_at = NULL WHERE claimed_at IS NOT NULL"
        ).rowcount

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
        d = self.dialect

        def run(tx: Tx) -> list[ClaimedMessage]:
            rows = sorted(self._claim_rows(tx, now, now - lease_seconds, limit, events), key=_id)
            ids = list({r["registration_id"] for r in rows if r["snapshot"] is None})
            regs = {}
            if ids:
                marks = ", ".join("?" * len(ids))
                found = tx.execute(
                    f"SELECT {REGISTRATION_COLUMNS} FROM registrations WHERE id IN ({marks})",
                    ids,
                ).fetchall()
                regs = {r["id"]: registration_of(r, d) for r in found}
            claimed: list[ClaimedMessage] = []
            for row in rows:
                reg = regs.get(row["registration_id"])
                if row["snapshot"] is not None:  # an erasure's or a digest: outlives it
                    reg = registration_of_snapshot(row["snapshot"])
                if reg is None:  # purged or erased since: nothing is owed any more
                    tx.execute("DELETE FROM outbox WHERE id = ?", (row["id"],))
                    continue
                message = Message(MessageKind(row["kind"]), reg, row["target"] or "")
                failed = _seconds(row["first_failed_at"])
                claimed.append(ClaimedMessage(message, row["attempts"], str(row["id"]), failed))
            return claimed

        return self._transact(run)

    def complete(self, claimed: ClaimedMessage) -> None:
        self._transact(
            lambda tx: tx.execute("DELETE FROM outbox WHERE id = ?", (int(claimed.claim),))
        )

    def fail(self, claimed: ClaimedMessage, *, at: float, error: str) -> None:
        """Release the claim, due again at `at`; the attempt (made when it was claimed) is its
        first failure unless an earlier one was recorded."""
        self._transact(
            lambda tx: tx.execute(
                f"UPDATE outbox SET {self.dialect.unclaim}, next_attempt_at = ?,"
                " last_error = ?, first_failed_at = COALESCE(first_failed_at, claimed_at)"
                " WHERE id = ?",
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
        kind, registration_id, target = message.kind.value, message.registration.id, message.target
        claim = -1 if claimed is None else int(claimed.claim)
        error = error[:_ERROR_CHARS]

        def run(tx: Tx) -> None:
            updated = tx.execute(
                "UPDATE outbox SET attempts = ?, last_error = ?, next_attempt_at = ?,"
                f" {self.dialect.unclaim}, parked = true,"
                " parked_at = COALESCE(parked_at, ?), first_failed_at = COALESCE(first_failed_at,"
                " ?) WHERE id = ? OR (registration_id = ? AND kind = ? AND target = ?)",
                (attempts, error, at, now, now, claim, registration_id, kind, target),
            ).rowcount
            if updated == 0:  # not owed here yet (a fresh message on AWS, say): keep it now
                created = self.dialect.moment(datetime.fromtimestamp(now, UTC))
                tx.execute(
                    "INSERT INTO outbox (kind, channel, registration_id, created, attempts,"
                    " next_attempt_at, last_error, parked, parked_at, first_failed_at, target)"
                    " SELECT ?, ?, id, ?, ?, ?, ?, true, ?, ?, ? FROM registrations WHERE id = ?",
                    (
                        kind,
                        message.channel.value,
                        created,
                        attempts,
                        at,
                        error,
                        now,
                        now,
                        target,
                        registration_id,
                    ),
                )

        self._transact(run)

    def drop(self, message: Message, *, error: str, claimed: ClaimedMessage | None = None) -> None:
        claim = -1 if claimed is None else int(claimed.claim)
        reg, kind = message.registration, message.kind.value

        def run(tx: Tx) -> None:
            tx.execute(
                "DELETE FROM outbox WHERE id = ?"
                " OR (registration_id = ? AND kind = ? AND target = ?)",
                (claim, reg.id, kind, message.target),
            )
            tx.execute(
                "UPDATE registrations SET delivery_failure = ? WHERE id = ?",
                (error[:_ERROR_CHARS], reg.id),
            )

        self._transact(run)

    def parked(self) -> list[ParkedMessage]:
        rows = self._read(
            "SELECT o.kind AS o_kind, o.target AS o_target, o.attempts AS o_attempts,"
            " o.last_error AS o_last_error, o.snapshot AS o_snapshot,"
            " o.parked_at AS o_parked_at, o.next_attempt_at AS o_next_attempt_at, r.*"
            " FROM outbox o LEFT JOIN registrations r ON r.id = o.registration_id"
            " WHERE o.parked AND (r.id IS NOT NULL OR o.snapshot IS NOT NULL) ORDER BY o.id"
        )
        return [
            ParkedMessage(
                message=Message(
                    MessageKind(row["o_kind"]),
                    registration_of_snapshot(row["o_snapshot"])
                    if row["o_snapshot"] is not None
                    else registration_of(row, self.dialect),
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
        return self._transact(
            lambda tx: (
                tx.execute(
                    "UPDATE outbox SET next_attempt_at = ?, first_failed_at = NULL WHERE parked",
                    (now,),
                ).rowcount
            )
        )

    # --- the embedded worker's extras ---------------------------------------------------

    def recover_claims(self, now: float) -> int:
        """Start-up (before this process's senders run): release the rows a sender that is
        gone had claimed, and make every unclaimed row that is not parked due at `now` (the
        restart may have fixed what failed). A released row's message may or may not have gone
        out before the crash: it is sent again (at-least-once; only the messages in flight can
        repeat). Returns how many claimed rows were released."""

        def run(tx: Tx) -> int:
            released = self._release_claims(tx)
            tx.execute(
                "UPDATE outbox SET next_attempt_at = ? WHERE NOT parked AND claimed_at IS NULL"
                " AND next_attempt_at > ?",
                (now, now),
            )
            return released

        return self._transact(run)

    def next_due_at(self) -> float | None:
        """The earliest automatic attempt of an unclaimed row (parked rows with a
        `next_attempt_at` included), or None."""
        rows = self._read("SELECT MIN(next_attempt_at) AS due FROM outbox WHERE claimed_at IS NULL")
        return _seconds(rows[0]["due"]) if rows else None


def _id(row: Row) -> int:
    return int(row["id"])
