"""How PostgreSQL's replicas claim outbox rows (the shared outbox: `adapters.sql.outbox`), safe
with any number of workers on one database.

A worker claims rows with `SELECT ... FOR UPDATE SKIP LOCKED` inside an `UPDATE`: two workers
never claim the same row (each skips the rows the other is claiming), and a claim is a lease
(`claimed_at`, `claimed_by`). A claim is handed out again when its lease runs out
(`CLAIM_LEASE_SECONDS`) or as soon as the process that holds it is gone: every process that
claims holds a session advisory lock on its own id (`claimed_by`) on a connection of its own,
which PostgreSQL releases when that process dies, so a surviving replica takes over a killed
replica's claims at its next poll instead of after the lease.
"""

from __future__ import annotations

import psycopg

from regflow.adapters.postgres.database import Database
from regflow.adapters.sql.dialect import Row, Tx
from regflow.adapters.sql.outbox import EVENT_KINDS
from regflow.domain import StoreUnavailable

# The advisory lock namespace of "this process is alive and holds outbox claims" (the second
# key is the process's `claimed_by` id).
OWNER_LOCK_NAMESPACE = 0x6F62_6F78  # "obox"

# the claimers whose advisory lock is held: the live processes
_LIVE = (
    "SELECT objid::bigint FROM pg_locks WHERE locktype = 'advisory'"
    " AND classid::bigint = %(ns)s AND objsubid = 2 AND granted"
)


class PostgresClaims(Database):
    def _alive(self) -> int:
        """This process's claim id, with its advisory lock held on a connection of its own
        (taken again if that connection was lost)."""
        with self._owner_lock:
            conn = self._owner_conn
            if conn is not None and not (conn.closed or conn.broken):
                # psycopg notices a dropped connection only when it is used: a server restart
                # or an idle cut-off releases the lock, and the other replicas would take this
                # one's claims while it still sends them. Ask, and take the lock again if so.
                try:
                    conn.execute("SELECT 1")
                except psycopg.Error:
                    conn.close()
            if conn is None or conn.closed or conn.broken:
                try:
                    conn = psycopg.connect(self.url, autocommit=True)
                    conn.execute(
                        "SELECT pg_advisory_lock(%s::int4, %s::int4)",
                        (OWNER_LOCK_NAMESPACE, self._owner),
                    )
                except psycopg.Error as exc:
                    raise StoreUnavailable(retry_after=1) from exc
                self._owner_conn = conn
            return self._owner

    def _claim_rows(
        self, tx: Tx, now: float, stale: float, limit: int, events: bool | None = None
    ) -> list[Row]:
        """Rows nobody holds, rows whose lease ran out, and rows of a process that is gone
        (its advisory lock released); of one sort when `events` is given."""
        me = self._alive()
        return list(
            tx.execute(
                "WITH due AS ("
                " SELECT id FROM outbox WHERE next_attempt_at <= %(now)s"
                " AND (claimed_at IS NULL OR claimed_at <= %(stale)s"
                f"  OR (claimed_by <> %(me)s AND claimed_by NOT IN ({_LIVE})))"
                " AND (%(events)s::boolean IS NULL OR (kind = ANY(%(kinds)s)) = %(events)s)"
                " ORDER BY id LIMIT %(limit)s FOR UPDATE SKIP LOCKED)"
                " UPDATE outbox o SET claimed_at = %(now)s, claimed_by = %(me)s,"
                " attempts = o.attempts + 1 FROM due WHERE o.id = due.id"
                " RETURNING o.id, o.kind, o.registration_id, o.attempts, o.first_failed_at,"
                " o.target, o.snapshot",
                {
                    "now": now,
                    "stale": stale,
                    "me": me,
                    "ns": OWNER_LOCK_NAMESPACE,
                    "limit": limit,
                    "kinds": list(EVENT_KINDS),
                    "events": events,  # None both sorts, True only events, False only mail
                },
            ).fetchall()
        )

    def _release_claims(self, tx: Tx) -> int:
        """The claims of processes that are gone, never a live replica's."""
        me = self._alive()
        return tx.execute(
            "UPDATE outbox SET claimed_at = NULL, claimed_by = NULL"
            " WHERE claimed_at IS NOT NULL AND (claimed_by IS NULL"
            f" OR (claimed_by <> %(me)s AND claimed_by NOT IN ({_LIVE})))",
            {"me": me, "ns": OWNER_LOCK_NAMESPACE},
        ).rowcount
