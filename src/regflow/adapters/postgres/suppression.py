"""`ports.SuppressionList` over PostgreSQL: the `suppressions` and `soft_bounces` tables, and
the marking of a bounced registration (reference: `adapters.memory`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from regflow.adapters.postgres.database import Cursor, Database
from regflow.adapters.postgres.outbox import owe
from regflow.domain import MessageKind, Status, Suppression, SuppressionReason
from regflow.domain.suppression import DIAGNOSTIC_MAX

_COLUMNS = "key, email, reason, diagnostic, since"


class PostgresSuppressions(Database):
    def suppression(self, key: str) -> Suppression | None:
        rows = self._read(
            f"SELECT {_COLUMNS} FROM suppressions WHERE key = %s",  # noqa: S608
            (key,),
        )
        return _entry(rows[0]) if rows else None

    def suppress(self, entry: Suppression) -> bool:
        def run(cur: Cursor) -> bool:
            row = cur.execute(
                "INSERT INTO suppressions (key, email, reason, diagnostic, since)"
                " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (key) DO NOTHING RETURNING key",
                (
                    entry.key,
                    entry.email,
                    entry.reason.value,
                    entry.diagnostic[:DIAGNOSTIC_MAX],
                    entry.since,
                ),
            ).fetchone()
            return row is not None

        return self._write(run)

    def lift(self, key: str) -> bool:
        def run(cur: Cursor) -> bool:
            cur.execute("DELETE FROM soft_bounces WHERE key = %s", (key,))
            row = cur.execute(
                "DELETE FROM suppressions WHERE key = %s RETURNING key", (key,)
            ).fetchone()
            return row is not None

        return self._write(run)

    def suppressions(self) -> list[Suppression]:
        rows = self._read(f"SELECT {_COLUMNS} FROM suppressions ORDER BY since, key")  # noqa: S608
        return [_entry(row) for row in rows]

    def count_soft_bounce(self, key: str, at: int, window_seconds: int) -> int:
        def run(cur: Cursor) -> int:
            cur.execute(
                "INSERT INTO soft_bounces (key, times, expires) VALUES (%s, '{}', 0)"
                " ON CONFLICT DO NOTHING",
                (key,),
            )
            row = cur.execute(
                "SELECT times FROM soft_bounces WHERE key = %s FOR UPDATE", (key,)
            ).fetchone()
            old = [int(t) for t in (row["times"] if row is not None else [])]
            times = [t for t in old if at - t < window_seconds] + [at]
            cur.execute(
                "UPDATE soft_bounces SET times = %s, expires = %s WHERE key = %s",
                (times, max(times) + window_seconds, key),
            )
            return len(times)

        return self._write(run)

    def mark_undeliverable(self, registration_id: str, status: Status, diagnostic: str) -> bool:
        def run(cur: Cursor) -> bool:
            row = cur.execute(
                "UPDATE registrations SET status = %s, delivery_failure = %s"
                " WHERE id = %s AND status = 'PENDING' RETURNING id",
                (status.value, diagnostic[:DIAGNOSTIC_MAX], registration_id),
            ).fetchone()
            return row is not None

        return self._write(run)

    def restore(self, key: str, registration_ids: Sequence[str], now: datetime) -> list[str]:
        def run(cur: Cursor) -> list[str]:
            cur.execute("DELETE FROM soft_bounces WHERE key = %s", (key,))
            cur.execute("DELETE FROM suppressions WHERE key = %s", (key,))
            return [rid for rid in registration_ids if _restore_one(cur, rid, now)]

        return self._write(run)


def _restore_one(cur: Cursor, registration_id: str, now: datetime) -> bool:
    """A BOUNCED registration PENDING again and, unless expired, its verification owed at once
    (its kept outbox row, if any, due now; else a new one). True when its mail is owed."""
    row = cur.execute(
        "UPDATE registrations SET status = 'PENDING', delivery_failure = NULL"
        " WHERE id = %s AND status = 'BOUNCED' RETURNING ttl",
        (registration_id,),
    ).fetchone()
    if row is None:
        return False
    if row["ttl"] is not None and int(row["ttl"]) <= int(now.timestamp()):
        return False
    kind = MessageKind.VERIFICATION
    kept = cur.execute(
        "UPDATE outbox SET next_attempt_at = 0, parked = false, claimed_at = NULL,"
        " claimed_by = NULL WHERE kind = %s AND registration_id = %s AND target = '' RETURNING id",
        (kind.value, registration_id),
    ).fetchall()
    if not kept:
        owe(cur, kind, registration_id, now)
    return True


def _entry(row: Mapping[str, Any]) -> Suppression:
    return Suppression(
        key=row["key"],
        email=row["email"],
        reason=SuppressionReason(row["reason"]),
        diagnostic=row["diagnostic"],
        since=row["since"].astimezone(UTC),
    )
