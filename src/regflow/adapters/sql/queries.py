"""What the site owner asks of an SQL store (`ports.OperatorQueries`: list, stats, erase an
address; `ports.ExportQueries`: `regflow export --since`, `regflow resend`) and its
housekeeping (`purge_expired`, run by the embedded worker, by every PostgreSQL replica's: the
deletes are idempotent).

Registrations are streamed a page at a time with keyset pagination, so memory stays flat and
no read transaction stays open between pages. CONFIRMED ones since a moment are read through
the partial index `registrations_confirmed (confirmed_at, id) WHERE status = 'CONFIRMED'`,
PENDING ones through `registrations_time ("timestamp", id)`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from regflow.adapters.sql.dialect import SQLDatabase, Tx
from regflow.adapters.sql.rows import REGISTRATION_COLUMNS, registration_of
from regflow.adapters.sql.store import _delete_address
from regflow.domain import Registration, Status
from regflow.ports import Stats

PAGE_SIZE = 500

# sorts before every stored (moment, id): the first page
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_SELECT = f"SELECT {REGISTRATION_COLUMNS} FROM registrations"

# The status is a literal, not a parameter: SQLite and PostgreSQL use a partial index only when
# the query's own WHERE clause implies the index's.
SINCE = {
    Status.CONFIRMED: _SELECT + " WHERE status = 'CONFIRMED' AND (confirmed_at, id) > (?, ?)"
    " ORDER BY confirmed_at, id LIMIT ?",
    Status.PENDING: _SELECT + " WHERE status = 'PENDING' AND (\"timestamp\", id) > (?, ?)"
    ' ORDER BY "timestamp", id LIMIT ?',
}


class SQLQueries(SQLDatabase):
    def _pages(
        self, sql: str, params: Sequence[Any], after: datetime | None, column: str
    ) -> Iterator[Registration]:
        """Every row of `sql` (its last three placeholders: the keyset and the page size)."""
        d = self.dialect
        key: tuple[Any, str] = (d.moment(after or _EPOCH), "")
        while True:
            rows = self._read(sql, (*params, *key, PAGE_SIZE))
            for row in rows:
                yield registration_of(row, d)
            if len(rows) < PAGE_SIZE:
                return
            key = (rows[-1][column], rows[-1]["id"])

    def registrations(self, *, status: Status | None = None) -> Iterator[Registration]:
        """Every registration (optionally of one status), oldest first."""
        wanted = None if status is None else status.value
        return self._pages(
            _SELECT + " WHERE (CAST(? AS TEXT) IS NULL OR status = ?)"
            ' AND ("timestamp", id) > (?, ?) ORDER BY "timestamp", id LIMIT ?',
            (wanted, wanted),
            None,
            "timestamp",
        )

    def registrations_since(
        self, status: Status, since: datetime | None = None
    ) -> Iterator[Registration]:
        column = "confirmed_at" if status is Status.CONFIRMED else "timestamp"
        return self._pages(SINCE[status], (), since, column)

    def registrations_of(self, addr_key: str) -> list[Registration]:
        rows = self._read(_SELECT + ' WHERE addr_key = ? ORDER BY "timestamp", id', (addr_key,))
        return [registration_of(row, self.dialect) for row in rows]

    def stats(self) -> Stats:
        [regs] = self._read(
            "SELECT count(*) FILTER (WHERE status = 'PENDING') AS pending,"
            " count(*) FILTER (WHERE status = 'CONFIRMED') AS confirmed FROM registrations"
        )
        [outbox] = self._read(
            "SELECT count(*) FILTER (WHERE NOT parked) AS due,"
            " count(*) FILTER (WHERE parked) AS parked FROM outbox"
        )
        return Stats(
            pending=regs["pending"],
            confirmed=regs["confirmed"],
            outbox_due=outbox["due"],
            outbox_parked=outbox["parked"],
        )

    def delete_address(self, addr_key: str, limit_key: str | None = None) -> int:
        """Erase every registration of an address (GDPR), its confirmed lock, the messages
        still owed to or about it (parked ones too) and, given its `mailbox_key`, its send
        log. Returns registrations deleted."""

        def run(tx: Tx) -> int:
            if limit_key is not None:
                tx.execute("DELETE FROM send_logs WHERE key = ?", (f"address:{limit_key}",))
            return _delete_address(tx, addr_key)

        return self._transact(run)

    def purge_expired(self, now: datetime, *, grace_seconds: int = 0) -> int:
        """Delete PENDING registrations whose ttl passed more than `grace_seconds` ago (and
        every message they owe, parked ones too), BOUNCED and COMPLAINED ones likewise, and
        limit state that no longer limits anything. Returns registrations deleted. (Until a
        registration is purged, its link answers `expired` rather than `invalid`.)"""
        epoch = int(now.timestamp())
        cutoff = epoch - grace_seconds

        def run(tx: Tx) -> int:
            tx.execute(
                "DELETE FROM outbox WHERE registration_id IN (SELECT id FROM registrations"
                " WHERE status = 'PENDING' AND ttl IS NOT NULL AND ttl <= ?)",
                (cutoff,),
            )
            deleted = tx.execute(
                "DELETE FROM registrations WHERE status = 'PENDING' AND ttl IS NOT NULL"
                " AND ttl <= ?",
                (cutoff,),
            ).rowcount
            # deliverability: bounced/complained registrations go like the PENDING ones they
            # were (their inbox stays suppressed)
            deleted += tx.execute(
                "DELETE FROM registrations WHERE status IN ('BOUNCED', 'COMPLAINED') AND ttl <= ?",
                (cutoff,),
            ).rowcount
            for table in ("limit_counters", "send_logs", "soft_bounces", "spent_challenges"):
                tx.execute(f"DELETE FROM {table} WHERE expires <= ?", (epoch,))
            return deleted

        return self._transact(run)
