"""What the site owner asks of the PostgreSQL store (`ports.OperatorQueries`: list, export,
stats, erase an address) and its housekeeping (`purge_expired`, run by every replica's worker:
the deletes are idempotent, so replicas purging at once do no harm)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

from regflow.adapters.postgres.database import Cursor, Database
from regflow.adapters.postgres.rows import REGISTRATION_COLUMNS, registration_of
from regflow.domain import Registration, Status
from regflow.ports import Stats

# Registrations read per query while streaming (keyset pagination, no long transaction).
PAGE_SIZE = 500

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class PostgresQueries(Database):
    def registrations(self, *, status: Status | None = None) -> Iterator[Registration]:
        wanted = None if status is None else status.value
        after: tuple[datetime, str] = (_EPOCH, "")
        first = True
        while True:
            rows = self._read(
                f"SELECT {REGISTRATION_COLUMNS} FROM registrations"  # noqa: S608
                " WHERE (%s::text IS NULL OR status = %s)"
                " AND (%s OR (timestamp, id) > (%s, %s)) ORDER BY timestamp, id LIMIT %s",
                (wanted, wanted, first, *after, PAGE_SIZE),
            )
            for row in rows:
                yield registration_of(row)
            if len(rows) < PAGE_SIZE:
                return
            first = False
            after = (rows[-1]["timestamp"], rows[-1]["id"])

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
        def run(cur: Cursor) -> int:
            cur.execute(
                "DELETE FROM outbox WHERE registration_id IN"
                " (SELECT id FROM registrations WHERE addr_key = %s)",
                (addr_key,),
            )
            cur.execute("DELETE FROM confirmed_addresses WHERE addr_key = %s", (addr_key,))
            if limit_key is not None:
                cur.execute("DELETE FROM send_logs WHERE key = %s", (f"address:{limit_key}",))
            return cur.execute(
                "DELETE FROM registrations WHERE addr_key = %s", (addr_key,)
            ).rowcount

        return self._write(run)

    def purge_expired(self, now: datetime, *, grace_seconds: int = 0) -> int:
        epoch = int(now.timestamp())
        cutoff = epoch - grace_seconds

        def run(cur: Cursor) -> int:
            cur.execute(
                "DELETE FROM outbox WHERE registration_id IN (SELECT id FROM registrations"
                " WHERE status = 'PENDING' AND ttl IS NOT NULL AND ttl <= %s)",
                (cutoff,),
            )
            deleted = cur.execute(
                "DELETE FROM registrations WHERE status = 'PENDING' AND ttl IS NOT NULL"
                " AND ttl <= %s",
                (cutoff,),
            ).rowcount
            cur.execute("DELETE FROM limit_counters WHERE expires <= %s", (epoch,))
            cur.execute("DELETE FROM send_logs WHERE expires <= %s", (epoch,))
            # deliverability: bounced/complained registrations go like the PENDING ones they
            # were (their inbox stays suppressed); soft-bounce counts that no longer count
            deleted += cur.execute(
                "DELETE FROM registrations WHERE status IN ('BOUNCED', 'COMPLAINED') AND ttl <= %s",
                (cutoff,),
            ).rowcount
            cur.execute("DELETE FROM soft_bounces WHERE expires <= %s", (epoch,))
            cur.execute("DELETE FROM spent_challenges WHERE expires <= %s", (epoch,))
            return deleted

        return self._write(run)
