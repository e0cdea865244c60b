"""What the site owner asks of the SQLite store (`ports.OperatorQueries`: list, export, stats,
erase an address) and its housekeeping (`purge_expired`, run by the embedded worker)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from regflow.adapters.sqlite.database import Database
from regflow.adapters.sqlite.rows import registration_of
from regflow.domain import Registration, Status
from regflow.ports import Stats

# Registrations read per query while streaming: memory stays flat, and no read transaction is
# held open while the caller works through them.
PAGE_SIZE = 500


class SQLiteQueries(Database):
    def registrations(self, *, status: Status | None = None) -> Iterator[Registration]:
        """Every registration (optionally of one status), oldest first, a page at a time
        (keyset pagination on `(timestamp, id)`)."""
        wanted = None if status is None else status.value
        after = ("", "")  # every stored (timestamp, id) sorts after it
        while True:
            rows = self._read(
                "SELECT * FROM registrations WHERE (? IS NULL OR status = ?)"
                " AND (timestamp, id) > (?, ?) ORDER BY timestamp, id LIMIT ?",
                (wanted, wanted, *after, PAGE_SIZE),
            )
            for row in rows:
                yield registration_of(row)
            if len(rows) < PAGE_SIZE:
                return
            after = (rows[-1]["timestamp"], rows[-1]["id"])

    def stats(self) -> Stats:
        [(pending, confirmed)] = self._read(
            "SELECT SUM(status = 'PENDING'), SUM(status = 'CONFIRMED') FROM registrations"
        )
        [(due, parked)] = self._read("SELECT SUM(parked = 0), SUM(parked = 1) FROM outbox")
        return Stats(
            pending=pending or 0,
            confirmed=confirmed or 0,
            outbox_due=due or 0,
            outbox_parked=parked or 0,
        )

    def delete_address(self, addr_key: str, limit_key: str | None = None) -> int:
        """Erase every registration of an address (GDPR), its confirmed lock, the messages
        still owed to or about it (parked ones too) and, given its `mailbox_key`, its send
        log. Returns registrations deleted."""
        with self._write() as db:
            db.execute(
                "DELETE FROM outbox WHERE registration_id IN"
                " (SELECT id FROM registrations WHERE addr_key = ?)",
                (addr_key,),
            )
            db.execute("DELETE FROM confirmed_addresses WHERE addr_key = ?", (addr_key,))
            if limit_key is not None:
                db.execute("DELETE FROM send_logs WHERE key = ?", (f"address:{limit_key}",))
            deleted: int = db.execute(
                "DELETE FROM registrations WHERE addr_key = ?", (addr_key,)
            ).rowcount
            return deleted

    def purge_expired(self, now: datetime, *, grace_seconds: int = 0) -> int:
        """Delete PENDING registrations whose ttl passed more than `grace_seconds` ago (and
        every message they owe, parked ones too), BOUNCED and COMPLAINED ones likewise, and
        limit state that no longer limits anything. Returns registrations deleted. (Until a
        registration is purged, its link answers `expired` rather than `invalid`.)"""
        epoch = int(now.timestamp())
        cutoff = epoch - grace_seconds
        with self._write() as db:
            db.execute(
                "DELETE FROM outbox WHERE registration_id IN (SELECT id FROM registrations"
                " WHERE status = 'PENDING' AND ttl IS NOT NULL AND ttl <= ?)",
                (cutoff,),
            )
            deleted: int = db.execute(
                "DELETE FROM registrations WHERE status = 'PENDING' AND ttl IS NOT NULL"
                " AND ttl <= ?",
                (cutoff,),
            ).rowcount
            db.execute("DELETE FROM limit_counters WHERE expires <= ?", (epoch,))
            db.execute("DELETE FROM send_logs WHERE expires <= ?", (epoch,))
            # deliverability: bounced/complained registrations go like the PENDING ones they
            # were (their inbox stays suppressed); soft-bounce counts that no longer count
            deleted += db.execute(
                "DELETE FROM registrations WHERE status IN ('BOUNCED', 'COMPLAINED') AND ttl <= ?",
                (cutoff,),
            ).rowcount
            db.execute("DELETE FROM soft_bounces WHERE expires <= ?", (epoch,))
            db.execute("DELETE FROM spent_challenges WHERE expires <= ?", (epoch,))
            return deleted
