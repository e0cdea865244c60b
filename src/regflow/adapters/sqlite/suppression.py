"""`ports.SuppressionList` over SQLite: the `suppressions` and `soft_bounces` tables, and the
marking of a bounced registration (reference: `adapters.memory`)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime

from regflow.adapters.sqlite.database import Database
from regflow.adapters.sqlite.outbox import owe
from regflow.adapters.sqlite.rows import iso
from regflow.domain import MessageKind, Status, Suppression, SuppressionReason
from regflow.domain.suppression import DIAGNOSTIC_MAX


class SQLiteSuppressions(Database):
    def suppression(self, key: str) -> Suppression | None:
        rows = self._read(
            "SELECT key, email, reason, diagnostic, since FROM suppressions WHERE key = ?", (key,)
        )
        return _entry(tuple(rows[0])) if rows else None

    def suppress(self, entry: Suppression) -> bool:
        with self._write() as db:
            cursor = db.execute(
                "INSERT INTO suppressions (key, email, reason, diagnostic, since)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING",
                (
                    entry.key,
                    entry.email,
                    entry.reason.value,
                    entry.diagnostic[:DIAGNOSTIC_MAX],
                    iso(entry.since),
                ),
            )
            return cursor.rowcount == 1

    def lift(self, key: str) -> bool:
        with self._write() as db:
            db.execute("DELETE FROM soft_bounces WHERE key = ?", (key,))
            return db.execute("DELETE FROM suppressions WHERE key = ?", (key,)).rowcount == 1

    def suppressions(self) -> list[Suppression]:
        rows = self._read(
            "SELECT key, email, reason, diagnostic, since FROM suppressions ORDER BY since, key"
        )
        return [_entry(tuple(row)) for row in rows]

    def count_soft_bounce(self, key: str, at: int, window_seconds: int) -> int:
        with self._write() as db:
            row = db.execute("SELECT times FROM soft_bounces WHERE key = ?", (key,)).fetchone()
            old = [] if row is None else [int(t) for t in json.loads(row[0])]
            times = [t for t in old if at - t < window_seconds] + [at]
            db.execute(
                "INSERT INTO soft_bounces (key, times, expires) VALUES (?, ?, ?)"
                " ON CONFLICT (key) DO UPDATE SET times = excluded.times,"
                " expires = excluded.expires",
                (key, json.dumps(times), max(times) + window_seconds),
            )
            return len(times)

    def mark_undeliverable(self, registration_id: str, status: Status, diagnostic: str) -> bool:
        with self._write() as db:
            cursor = db.execute(
                "UPDATE registrations SET status = ?, delivery_failure = ?"
                " WHERE id = ? AND status = 'PENDING'",
                (status.value, diagnostic[:DIAGNOSTIC_MAX], registration_id),
            )
            return cursor.rowcount == 1

    def restore(self, key: str, registration_ids: Sequence[str], now: datetime) -> list[str]:
        with self._write() as db:
            db.execute("DELETE FROM soft_bounces WHERE key = ?", (key,))
            db.execute("DELETE FROM suppressions WHERE key = ?", (key,))
            return [rid for rid in registration_ids if _restore_one(db, rid, now)]


def _restore_one(db: sqlite3.Connection, registration_id: str, now: datetime) -> bool:
    """A BOUNCED registration PENDING again and, unless expired, its verification owed at once
    (its kept outbox row, if any, due now; else a new one). True when its mail is owed."""
    row = db.execute(
        "SELECT ttl FROM registrations WHERE id = ? AND status = 'BOUNCED'", (registration_id,)
    ).fetchone()
    if row is None:
        return False
    db.execute(
        "UPDATE registrations SET status = 'PENDING', delivery_failure = NULL WHERE id = ?",
        (registration_id,),
    )
    if row[0] is not None and int(row[0]) <= int(now.timestamp()):
        return False
    kind = MessageKind.VERIFICATION
    kept = db.execute(
        "UPDATE outbox SET next_attempt_at = 0, parked = 0, claimed_at = NULL"
        " WHERE kind = ? AND registration_id = ? AND target = ''",
        (kind.value, registration_id),
    ).rowcount
    if not kept:
        owe(db, kind, registration_id, now)
    return True


def _entry(row: tuple[object, ...]) -> Suppression:
    key, email, reason, diagnostic, since = row
    return Suppression(
        key=str(key),
        email=str(email),
        reason=SuppressionReason(str(reason)),
        diagnostic=str(diagnostic),
        since=datetime.fromisoformat(str(since)).astimezone(UTC),
    )
