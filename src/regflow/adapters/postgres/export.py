"""`ExportQueries` on PostgreSQL (`regflow export --since`, `regflow resend`, issue 12).

CONFIRMED registrations since a moment are read through the partial index
`registrations_confirmed (confirmed_at, id) WHERE status = 'CONFIRMED'` (migration
`0002_operator_export`), PENDING ones through `registrations_time ("timestamp", id)`; a page
at a time with keyset pagination (flat memory, no long transaction).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

from regflow.adapters.postgres.database import Database
from regflow.adapters.postgres.rows import REGISTRATION_COLUMNS, registration_of
from regflow.domain import Registration, Status

PAGE_SIZE = 500

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# literal statuses: the planner matches a partial index against the query's own predicate
_SINCE = {
    Status.CONFIRMED: f"SELECT {REGISTRATION_COLUMNS} FROM registrations"  # noqa: S608
    " WHERE status = 'CONFIRMED' AND (confirmed_at, id) > (%s, %s)"
    " ORDER BY confirmed_at, id LIMIT %s",
    Status.PENDING: f"SELECT {REGISTRATION_COLUMNS} FROM registrations"  # noqa: S608
    " WHERE status = 'PENDING' AND (\"timestamp\", id) > (%s, %s)"
    ' ORDER BY "timestamp", id LIMIT %s',
}


class PostgresExport(Database):
    def registrations_since(
        self, status: Status, since: datetime | None = None
    ) -> Iterator[Registration]:
        column = "confirmed_at" if status is Status.CONFIRMED else "timestamp"
        # (since, "") sorts before every stored (since, id): the first page is inclusive
        after: tuple[datetime, str] = (since if since is not None else _EPOCH, "")
        while True:
            rows = self._read(_SINCE[status], (*after, PAGE_SIZE))
            for row in rows:
                yield registration_of(row)
            if len(rows) < PAGE_SIZE:
                return
            after = (rows[-1][column], rows[-1]["id"])

    def registrations_of(self, addr_key: str) -> list[Registration]:
        rows = self._read(
            f"SELECT {REGISTRATION_COLUMNS} FROM registrations"  # noqa: S608
            ' WHERE addr_key = %s ORDER BY "timestamp", id',
            (addr_key,),
        )
        return [registration_of(row) for row in rows]
