"""`ports.SuppressionList` over SQL: the `suppressions` and `soft_bounces` tables, and the
marking of a bounced registration (reference: `adapters.memory`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from regflow.adapters.sql.dialect import Dialect, Row, SQLDatabase, Tx
from regflow.adapters.sql.outbox import owe
from regflow.domain import MessageKind, Status, Suppression, SuppressionReason
from regflow.domain.suppression import DIAGNOSTIC_MAX

_SELECT = "SELECT key, email, reason, diagnostic, since FROM suppressions"


class SQLSuppressions(SQLDatabase):
    def suppression(self, key: str) -> Suppression | None:
        rows = self._read(_SELECT + " WHERE key = ?", (key,))
        return self._entry(rows[0]) if rows else None

    def suppress(self, entry: Suppression) -> bool:
        params = (
            entry.key,
            entry.email,
            entry.reason.value,
            entry.diagnostic[:DIAGNOSTIC_MAX],
            self.dialect.moment(entry.since),
        )
        return self._changed(
            "INSERT INTO suppressions (key, email, reason, diagnostic, since)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING RETURNING key",
            params,
        )

    def lift(self, key: str) -> bool:
        def run(tx: Tx) -> bool:
            tx.execute("DELETE FROM soft_bounces WHERE key = ?", (key,))
            return bool(
                tx.execute(
                    "DELETE FROM suppressions WHERE key = ? RETURNING key", (key,)
                ).fetchall()
            )

        return self._transact(run)

    def suppressions(self) -> list[Suppression]:
        return [self._entry(row) for row in self._read(_SELECT + " ORDER BY since, key")]

    def count_soft_bounce(self, key: str, at: int, window_seconds: int) -> int:
        d = self.dialect

        def run(tx: Tx) -> int:
            tx.execute(
                "INSERT INTO soft_bounces (key, times, expires) VALUES (?, ?, 0)"
                " ON CONFLICT DO NOTHING",
                (key, d.ints(())),
            )
            rows = tx.execute(
                "SELECT times FROM soft_bounces WHERE key = ?" + d.for_update, (key,)
            ).fetchall()
            old = d.from_ints(rows[0]["times"]) if rows else []
            times = [t for t in old if at - t < window_seconds] + [at]
            tx.execute(
                "UPDATE soft_bounces SET times = ?, expires = ? WHERE key = ?",
                (d.ints(times), max(times) + window_seconds, key),
            )
            return len(times)

        return self._transact(run)

    def mark_undeliverable(self, registration_id: str, status: Status, diagnostic: str) -> bool:
        return self._changed(
            "UPDATE registrations SET status = ?, delivery_failure = ?"
            " WHERE id = ? AND status = 'PENDING' RETURNING id",
            (status.value, diagnostic[:DIAGNOSTIC_MAX], registration_id),
        )

    def restore(self, key: str, registration_ids: Sequence[str], now: datetime) -> list[str]:
        def run(tx: Tx) -> list[str]:
            tx.execute("DELETE FROM soft_bounces WHERE key = ?", (key,))
            tx.execute("DELETE FROM suppressions WHERE key = ?", (key,))
            return [rid for rid in registration_ids if _restore_one(tx, self.dialect, rid, now)]

        return self._transact(run)

    def _changed(self, sql: str, params: tuple[object, ...]) -> bool:
        """One statement with `RETURNING`, in a transaction of its own: whether it hit a row."""
        return self._transact(lambda tx: bool(tx.execute(sql, params).fetchall()))

    def _entry(self, row: Row) -> Suppression:
        return Suppression(
            key=row["key"],
            email=row["email"],
            reason=SuppressionReason(row["reason"]),
            diagnostic=row["diagnostic"],
            since=self.dialect.from_moment(row["since"]),
        )


def _restore_one(tx: Tx, dialect: Dialect, registration_id: str, now: datetime) -> bool:
    """A BOUNCED registration PENDING again and, unless expired, its verification owed at once
    (its kept outbox row, if any, due now; else a new one). True when its mail is owed."""
    rows = tx.execute(
        "UPDATE registrations SET status = 'PENDING', delivery_failure = NULL"
        " WHERE id = ? AND status = 'BOUNCED' RETURNING ttl",
        (registration_id,),
    ).fetchall()
    if not rows:
        return False
    ttl = rows[0]["ttl"]
    if ttl is not None and int(ttl) <= int(now.timestamp()):
        return False
    kind = MessageKind.VERIFICATION
    kept = tx.execute(
        f"UPDATE outbox SET next_attempt_at = 0, parked = false, {dialect.unclaim}"
        " WHERE kind = ? AND registration_id = ? AND target = '' RETURNING id",
        (kind.value, registration_id),
    ).fetchall()
    if not kept:
        owe(tx, dialect, kind, registration_id, now)
    return True
