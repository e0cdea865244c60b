"""`Outbox` on the table: the messages that must wait.

On AWS the table's stream hands every fresh message to the mail sender once (`stream.py`);
only a message the sender could not deliver yet is written to the table, parked as one
`OUTBOX#<kind>#<registration id>` item (layout in `keys.py`). `claim_due` hands out the parked
messages that are due; the sender settles each claim with `complete`, `fail`, `park` or `drop`.

`claim_due` runs every few minutes (the scheduled recovery), so it never reads the whole table:
it Queries the sparse `ParkedMessages` index (`keys.py`), which holds only the parked items an
automatic retry may claim, one Query per shard (`PARKED#0..7`). Every `OUTBOX#` item carries
`parkedShard`; only those with `nextAttemptAt` are in the index. The operator's commands
(`parked`, `requeue_parked`) still Scan: they run by hand, rarely, and must also see the
messages that wait for an operator (no `nextAttemptAt`, so not in the index).

A claim is a lease: a conditional UpdateItem sets `claimedUntil` (now + `CLAIM_LEASE_SECONDS`)
and a fresh `claimId`, and counts the attempt. Only one sender wins it; a sender that dies lets
the lease run out and the message becomes claimable again. `complete` and `fail` are
conditioned on the claim id, so a sender whose lease ran out does not settle another's claim.
The index is read eventually consistently, so it may still show a message just claimed,
settled or rescheduled: the claim's condition (on the item itself) is what decides.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from botocore.exceptions import ClientError

from regflow.adapters.dynamodb import keys
from regflow.adapters.dynamodb.expressions import Expression, all_of, any_of
from regflow.adapters.dynamodb.keys import n, s
from regflow.adapters.dynamodb.table import Table, is_check_failed
from regflow.domain import ClaimedMessage, Message, MessageKind, ParkedMessage

CLAIM_LEASE_SECONDS = 600.0
QUERY_PAGE = 100  # items read per Query page at most (before the lease filter)
DUE_TIES = 100  # candidates read per shard beyond `limit` when they are due at the same time


def _message_pk(message: Message) -> str:
    return keys.outbox_pk(message.kind, message.registration.id, message.target)


def _oldest_first(item: keys.Item) -> tuple[float, str]:
    return (keys.parked_at_of(item), keys.pk_of(item))


def _set_shard(e: Expression, pk: str) -> None:
    """Every parked item carries its `ParkedMessages` shard (set again on each write that
    makes it due, so that an item parked before the index existed joins it)."""
    e.set_value(keys.PARKED_SHARD, "shard", s(keys.parked_shard(pk)))


def park_expression(
    message: Message, *, attempts: int, error: str, at: float | None, now: float
) -> tuple[str, Expression]:
    """The parked item of `message` (its key, and the update that creates or refreshes it),
    for `park` and for a transaction that owes a message again (`suppression.restore`)."""
    pk = _message_pk(message)
    e = Expression()
    for name, value in keys.message_attributes(message).items():
        e.set_value(name, name, value)
    e.set_value(keys.ATTEMPTS, "attempts", n(attempts))
    e.set_value(keys.LAST_ERROR, "error", s(error))
    now_value = e.value("now", n(now))
    e.set(keys.PARKED_AT, e.if_not_exists(keys.PARKED_AT, now_value))
    e.set(keys.FIRST_FAILED_AT, e.if_not_exists(keys.FIRST_FAILED_AT, now_value))
    _set_shard(e, pk)
    if at is not None:
        e.set_value(keys.NEXT_ATTEMPT_AT, "at", n(at))
    else:
        e.remove(keys.NEXT_ATTEMPT_AT)
    return pk, e


class OutboxMixin(Table):
    """`Outbox` on the table (see the module docstring). Fresh messages are not held here:
    the stream delivers them."""

    HOLDS_FRESH = False

    def _conditional(self, operation: Any, pk: str, expression: Expression, **extra: Any) -> Any:
        """A conditional single-item write; None when its condition failed."""
        try:
            return self._call(operation, Key=keys.key(pk), **expression.params(), **extra)
        except ClientError as exc:
            if is_check_failed(exc):
                return None
            raise

    def _parked_items(self) -> list[keys.Item]:
        """Every parked item (due or not, and those waiting for an operator), oldest first.

        A Scan with a filter: it serves only the operator's commands (`parked`,
        `requeue_parked`), run by hand and rarely; the index cannot serve them because it
        leaves out the messages waiting for an operator. The scheduled sweep Queries the
        index (`_due_items`)."""
        e = Expression()
        e.condition(e.begins_with(keys.PK, "outbox", keys.OUTBOX_PREFIX))
        items = [item for page in self._scan(**e.params("FilterExpression")) for item in page]
        items.sort(key=_oldest_first)
        return items

    def _due_in_shard(self, shard: str, now: float, want: int) -> tuple[list[keys.Item], bool]:
        """The due, unclaimed items of one `ParkedMessages` shard, earliest due first: the
        first `want`, and after them those due at the same time as the last (so that ties
        are ordered by `_oldest_first`, not by the index), at most `want + DUE_TIES`.
        Also whether the shard may hold more due items than were read."""
        e = Expression()
        key_condition = all_of(
            e.compare(keys.PARKED_SHARD, "=", "shard", s(shard)),
            e.compare(keys.NEXT_ATTEMPT_AT, "<=", "now", n(now)),
        )
        e.condition(
            any_of(
                e.not_exists(keys.CLAIMED_UNTIL),
                e.compare(keys.CLAIMED_UNTIL, "<=", "now", n(now)),
            )
        )
        pages = self._query(
            IndexName=keys.PARKED_INDEX,
            KeyConditionExpression=key_condition,
            ScanIndexForward=True,
            Limit=min(want + 1, QUERY_PAGE),
            **e.params("FilterExpression"),
        )
        items: list[keys.Item] = []
        last_due: float | None = None  # the due time of the `want`-th item, once read
        for page in pages:
            for item in page:
                due = keys.next_attempt_at_of(item)
                if len(items) >= want + DUE_TIES or (last_due is not None and due != last_due):
                    return items, True
                items.append(item)
                if len(items) == want:
                    last_due = due
        return items, False

    def _due_items(self, now: float, limit: int) -> tuple[list[keys.Item], bool]:
        """Candidates for `claim_due`: the due, unclaimed items of every shard (`_due_in_shard`,
        `limit` each), oldest first; and whether any shard may hold more.

        Oldest first is by when a message was first parked, then its key, as `parked` orders
        them. It is exact whenever each shard holds at most `limit` due messages (plus ties);
        with a larger backlog, the earliest due of each shard are the candidates, so that a
        call keeps at most `PARKED_SHARDS * (limit + DUE_TIES)` items however large the
        backlog (and reads about that many, plus the leased ones the filter skips), and a
        message that keeps failing moves back (its next attempt is later)."""
        items: list[keys.Item] = []
        more = False
        for shard in keys.parked_shards():
            found, truncated = self._due_in_shard(shard, now, limit)
            items += found
            more = more or truncated
        items.sort(key=_oldest_first)
        return items, more

    # --- Outbox -------------------------------------------------------------------------------

    def claim_due(self, now: float, limit: int) -> list[ClaimedMessage]:
        """Up to `limit` due parked messages, claimed, oldest first (`_due_items`).

        A candidate whose registration is gone is deleted, not returned; when that left the
        batch short and a shard holds more, the index is read again (each round deletes at
        least one item, so this ends)."""
        claimed: list[ClaimedMessage] = []
        while len(claimed) < limit:
            candidates, more = self._due_items(now, limit - len(claimed))
            deleted = 0
            for item in candidates:
                if len(claimed) >= limit:
                    break
                pk = keys.pk_of(item)
                registration_id = keys.parked_registration_id(item)
                outlives = MessageKind(item["kind"]["S"]).outlives_registration  # an erasure's
                if not outlives and (
                    self._get(keys.reg_pk(registration_id), projection=keys.PK) is None
                ):
                    # erased or purged: the message is no longer owed
                    deleted += self._delete_if_exists(pk)
                    continue
                claim = self._claim(pk, now)
                if claim is not None:
                    claimed.append(claim)
            if not (more and deleted):
                break
        return claimed

    def _delete_if_exists(self, pk: str) -> bool:
        """Deletes the item; False when it was already gone (the index lags the table)."""
        e = Expression()
        e.condition(e.exists(keys.PK))
        return self._conditional(self._client.delete_item, pk, e) is not None

    def _claim(self, pk: str, now: float) -> ClaimedMessage | None:
        """The conditional UpdateItem of a claim; None when the item is not claimable (another
        sender claimed, settled or rescheduled it first: the index showed it stale)."""
        claim = uuid.uuid4().hex
        e = Expression()
        e.add(keys.ATTEMPTS, e.value("one", n(1)))
        e.set_value(keys.CLAIMED_UNTIL, "lease", n(now + CLAIM_LEASE_SECONDS))
        e.set_value(keys.CLAIM_ID, "claim", s(claim))
        e.condition(
            all_of(
                e.exists(keys.PK),
                e.compare(keys.NEXT_ATTEMPT_AT, "<=", "now", n(now)),
                any_of(
                    e.not_exists(keys.CLAIMED_UNTIL),
                    e.compare(keys.CLAIMED_UNTIL, "<=", "now", n(now)),
                ),
            )
        )
        response = self._conditional(self._client.update_item, pk, e, ReturnValues="ALL_NEW")
        if response is None:
            return None
        new = response["Attributes"]
        return ClaimedMessage(
            message=keys.message_from_item(new),
            attempts=keys.attempts_of(new),
            claim=claim,
            first_failed_at=keys.first_failed_at_of(new),
        )

    def _settle(self, claimed: ClaimedMessage) -> Expression:
        e = Expression()
        e.condition(e.compare(keys.CLAIM_ID, "=", "claim", s(claimed.claim)))
        return e

    def complete(self, claimed: ClaimedMessage) -> None:
        # A failed condition: the lease ran out and another sender holds it now; it settles it.
        self._conditional(
            self._client.delete_item, _message_pk(claimed.message), self._settle(claimed)
        )

    def fail(self, claimed: ClaimedMessage, *, at: float, error: str) -> None:
        pk = _message_pk(claimed.message)
        e = self._settle(claimed)
        e.set_value(keys.NEXT_ATTEMPT_AT, "at", n(at))
        _set_shard(e, pk)
        e.set_value(keys.LAST_ERROR, "error", s(error))
        # the first failure starts the window of automatic retries, as in the other stores
        failed = e.value("failedAt", n(time.time()))
        e.set(keys.FIRST_FAILED_AT, e.if_not_exists(keys.FIRST_FAILED_AT, failed))
        e.remove(keys.CLAIMED_UNTIL, keys.CLAIM_ID)
        self._conditional(self._client.update_item, pk, e)

    def park(
        self,
        message: Message,
        *,
        attempts: int,
        error: str,
        at: float | None,
        now: float,
        claimed: ClaimedMessage | None = None,
    ) -> None:
        """One UpdateItem: creates the parked item, or updates the one copy of the message,
        keeping when it was first parked and first failed. It always carries its
        `parkedShard`; without `at` it has no `nextAttemptAt`, which keeps it out of the
        index (only an operator brings it back)."""
        pk, e = park_expression(message, attempts=attempts, error=error, at=at, now=now)
        if claimed is not None:
            e.remove(keys.CLAIMED_UNTIL, keys.CLAIM_ID)
        self._call(self._client.update_item, Key=keys.key(pk), **e.params())

    def drop(self, message: Message, *, error: str, claimed: ClaimedMessage | None = None) -> None:
        """Records `error` on the registration (if it still exists), then deletes the parked
        copy if there is one. Two idempotent writes: a sender that dies between them finds the
        message again and drops it again."""
        e = Expression()
        e.set_value("deliveryFailure", "error", s(error))
        e.condition(e.exists(keys.PK))
        self._conditional(self._client.update_item, keys.reg_pk(message.registration.id), e)
        self._call(self._client.delete_item, Key=keys.key(_message_pk(message)))

    def parked(self) -> list[ParkedMessage]:
        """Every parked message, those waiting for an operator included: a Scan
        (`_parked_items`)."""
        return [keys.parked_from_item(item) for item in self._parked_items()]

    def requeue_parked(self, now: float) -> int:
        """Makes every parked message due at `now` (a Scan, then one UpdateItem each): back
        in the index, in its shard."""
        count = 0
        for item in self._parked_items():
            e = Expression()
            e.set_value(keys.NEXT_ATTEMPT_AT, "now", n(now))
            _set_shard(e, keys.pk_of(item))
            e.remove(keys.FIRST_FAILED_AT)  # a fresh window of automatic retries
            e.condition(e.exists(keys.PK))
            if self._conditional(self._client.update_item, keys.pk_of(item), e) is not None:
                count += 1
        return count
