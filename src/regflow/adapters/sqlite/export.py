"""`ExportQueries` on SQLite (`regflow export --since`, `regflow resend`, issue 12).

CONFIRMED registrations since a moment are read through the partial index
`registrations_confirmed (confirmed_at, id) WHERE status = 'CONFIRMED'` (schema version 4),
PENDING ones through `registrations_time (timestamp, id)`; both a page at a time with keyset
pagination, so memory stays flat and no read transaction stays open between pages.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from regflow.adapters.sqlite.database import Database
from regflow.adapters.sqlite.rows import iso, registration_of
from regflow.domain import Registration, Status

PAGE_SIZE = 500

# The status is a literal, not a parameter: SQLite uses a partial index only when the query's
# WHERE clause implies the index's own.
_SINCE = {
    Status.CONFIRMED: "SELECT * FROM registrations WHERE status = 'CONFIRMED'"
    " AND (confirmed_at, id) > (?, ?) ORDER BY confirmed_at, id LIMIT ?",
    Status.PENDING: "SELECT * FROM registrations WHERE status = 'PENDING'"
    " AND (timestamp, id) > (?, ?) ORDER BY timestamp, id LIMIT ?",
}


class SQLiteExport(Database):
    def registrations_since(
        self, status: Status, since: datetime | None = None
    ) -> Iterator[Registration]:
        column = "confirmed_at" if status is Status.CONFIRMED else "timestamp"
        # (since, "") sorts before every stored (since, id): the first page is inclusive
        after = (iso(since) if since is not None else "", "")
        while True:
            rows = self._read(_SINCE[status], (*after, PAGE_SIZE))
            for row in rows:
                yield registration_of(row)
            if len(rows) < PAGE_SIZE:
                return
            after = (rows[-1][column], rows[-1]["id"])

    def registrations_of(self, addr_key: str) -> list[Registration]:
        rows = self._read(
            "SELECT * FROM registrations WHERE addr_key = ? ORDER BY timestamp, id", (addr_key,)
        )
        return [registration_of(row) for row in rows]
