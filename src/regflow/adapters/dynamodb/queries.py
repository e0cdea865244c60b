"""`OperatorQueries` on the table: what the site owner asks (`regflow list|export|stats|delete`).

These read the table with paginated Scans (one page of up to 1 MB in memory at a time): they
run off the request path, by hand, and the table has no index to read instead yet.
"""

from __future__ import annotations

from collections.abc import Iterator

from regflow.adapters.dynamodb import keys
from regflow.adapters.dynamodb.expressions import Expression, all_of
from regflow.adapters.dynamodb.keys import s
from regflow.adapters.dynamodb.table import Table
from regflow.domain import Registration, Status
from regflow.ports import Stats


class QueriesMixin(Table):
    """`OperatorQueries` on the table (see the module docstring)."""

    def registrations(self, *, status: Status | None = None) -> Iterator[Registration]:
        """Registrations, oldest first *within each Scan page*, streamed page by page.

        A table whose registrations fit in one page (about 1 MB, a few thousand
        registrations) comes out wholly oldest first; a larger one comes out in pages, each
        oldest first, in the table's hash order. Sorting everything would hold the whole
        table in memory; `regflow export` reads the confirmed ones in order from the
        `ConfirmedRegistrations` index instead (`export.py`)."""
        e = Expression()
        clauses = [e.begins_with(keys.PK, "reg", keys.REG_PREFIX)]
        if status is not None:
            clauses.append(e.compare("status", "=", "status", s(status.value)))
        e.condition(all_of(*clauses))
        for page in self._scan(**e.params("FilterExpression")):
            registrations = [keys.registration_from_item(item) for item in page]
            registrations.sort(key=lambda r: (r.timestamp, r.id))
            yield from registrations

    def stats(self) -> Stats:
        """Counts from one Scan of the keys and statuses. `outbox_due` is 0: fresh messages
        are in the table's stream, not in the table."""
        pending = confirmed = parked = 0
        e = Expression()
        projection = f"{e.name(keys.PK)}, {e.name('status')}"
        for page in self._scan(ProjectionExpression=projection, **e.params()):
            for item in page:
                if keys.is_outbox(item):
                    parked += 1
                elif keys.is_registration(item):
                    status = keys.status_of(item)
                    pending += status == Status.PENDING.value
                    confirmed += status == Status.CONFIRMED.value
        return Stats(pending=pending, confirmed=confirmed, outbox_due=0, outbox_parked=parked)

    def delete_address(self, addr_key: str, limit_key: str | None = None) -> int:
        """Deletes the address's `REG#` items and the `OUTBOX#` items of its messages (both
        carry `addrKey`: one filtered Scan finds them), its `ADDR#` lock and, given its mailbox
        key, its `LIMIT#ADDR#` send log. Returns how many registrations were deleted."""
        e = Expression()
        e.condition(e.compare("addrKey", "=", "addr", s(addr_key)))
        deleted = 0
        for page in self._scan(
            ProjectionExpression=e.name(keys.PK), **e.params("FilterExpression")
        ):
            # messages before their registrations: an interrupted erasure leaves no message
            # whose registration is gone (and `claim_due` would drop one anyway)
            for item in sorted(page, key=keys.is_registration):
                self._call(self._client.delete_item, Key=keys.key(keys.pk_of(item)))
                deleted += keys.is_registration(item)
        self._call(self._client.delete_item, Key=keys.key(keys.addr_pk(addr_key)))
        if limit_key is not None:
            self._call(self._client.delete_item, Key=keys.key(keys.address_limit_pk(limit_key)))
        return deleted
