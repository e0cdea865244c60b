"""`ExportQueries` on the table (`regflow export --since`, `regflow resend`, issue 12).

CONFIRMED registrations since a moment never Scan the table: they are read from the sparse
`ConfirmedRegistrations` index (`keys.py`), one Query per shard (`CONFIRMED#0..15`) from
`since` on, each in confirmation order, merged into one stream in order (`heapq.merge`: one
page per shard in memory at a time). The index is read eventually consistently: a
confirmation of the last second may not be in it yet (an incremental export overlaps its
`--since` a little and keys on `id`; see docs/registrations.md).

PENDING registrations are read with a filtered Scan. They live at most `TOKEN_TTL_HOURS`
(TTL and the purge remove them), so there are few of them, and listing them is rare and by
hand; an index of them would add an index write to every registration on the request path
(and another to remove it on confirmation) to save an occasional Scan.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from datetime import datetime

from botocore.exceptions import ClientError

from regflow.adapters.dynamodb import keys
from regflow.adapters.dynamodb.expressions import Expression, all_of
from regflow.adapters.dynamodb.keys import s
from regflow.adapters.dynamodb.table import Table, is_check_failed
from regflow.domain import Registration, Status

QUERY_PAGE = 200  # items per index page: 16 shards x 200 items in memory at most


def _confirmed_order(registration: Registration) -> tuple[datetime, str]:
    assert registration.confirmed_at is not None
    return (registration.confirmed_at, registration.id)


class ExportMixin(Table):
    """`ExportQueries` on the table (see the module docstring)."""

    def _confirmed_in_shard(self, shard: str, since: datetime | None) -> Iterator[Registration]:
        e = Expression()
        clauses = [e.compare(keys.CONFIRMED_SHARD, "=", "shard", s(shard))]
        if since is not None:
            clauses.append(e.compare(keys.CONFIRMED_AT, ">=", "since", s(keys.iso(since))))
        for page in self._query(
            IndexName=keys.CONFIRMED_INDEX,
            KeyConditionExpression=all_of(*clauses),
            ScanIndexForward=True,
            Limit=QUERY_PAGE,
            **e.params(),
        ):
            for item in page:
                registration = keys.registration_from_item(item)
                if registration.status is Status.CONFIRMED:  # never otherwise; cheap to check
                    yield registration

    def registrations_since(
        self, status: Status, since: datetime | None = None
    ) -> Iterator[Registration]:
        if status is Status.CONFIRMED:
            shards = [self._confirmed_in_shard(shard, since) for shard in keys.confirmed_shards()]
            yield from heapq.merge(*shards, key=_confirmed_order)
            return
        e = Expression()
        clauses = [
            e.begins_with(keys.PK, "reg", keys.REG_PREFIX),
            e.compare("status", "=", "status", s(status.value)),
        ]
        if since is not None:
            clauses.append(e.compare("timestamp", ">=", "since", s(keys.iso(since))))
        e.condition(all_of(*clauses))
        for page in self._scan(**e.params("FilterExpression")):
            registrations = [keys.registration_from_item(item) for item in page]
            registrations.sort(key=lambda r: (r.timestamp, r.id))
            yield from registrations

    def registrations_of(self, addr_key: str) -> list[Registration]:
        """A filtered Scan (as `delete_address`): by hand, rarely."""
        e = Expression()
        e.condition(
            all_of(
                e.begins_with(keys.PK, "reg", keys.REG_PREFIX),
                e.compare("addrKey", "=", "addr", s(addr_key)),
            )
        )
        found = [
            keys.registration_from_item(item)
            for page in self._scan(**e.params("FilterExpression"))
            for item in page
        ]
        return sorted(found, key=lambda r: (r.timestamp, r.id))

    def index_confirmed(self) -> int:
        """Puts the CONFIRMED registrations confirmed before the `ConfirmedRegistrations`
        index existed into it (`regflow reindex --stack`, once after upgrading): a filtered
        Scan for those without `confirmedShard`, and one conditional UpdateItem each (on an
        item still CONFIRMED: an erasure meanwhile is not undone). Returns how many."""
        e = Expression()
        e.condition(
            all_of(
                e.begins_with(keys.PK, "reg", keys.REG_PREFIX),
                e.compare("status", "=", "status", s(Status.CONFIRMED.value)),
                e.not_exists(keys.CONFIRMED_SHARD),
            )
        )
        added = 0
        for page in self._scan(
            ProjectionExpression=f"{e.name(keys.PK)}, {e.name('id')}",
            **e.params("FilterExpression"),
        ):
            for item in page:
                registration_id = str(item["id"]["S"])
                update = Expression()
                update.set_value(
                    keys.CONFIRMED_SHARD, "shard", s(keys.confirmed_shard(registration_id))
                )
                update.condition(update.compare("status", "=", "status", s(Status.CONFIRMED.value)))
                try:
                    self._call(
                        self._client.update_item,
                        Key=keys.key(keys.pk_of(item)),
                        **update.params(),
                    )
                except ClientError as exc:
                    if not is_check_failed(exc):
                        raise
                    continue
                added += 1
        return added
