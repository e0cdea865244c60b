"""`Outbox` on the table: the messages that must wait.

On AWS the table's stream hands every fresh message to the mail sender once (`stream.py`);
only a message the sender could not deliver yet is written to the table, parked as one
`OUTBOX#<kind>#<registration id>` item (layout in `keys.py`). `claim_due` hands out the parked
messages that are due; the sender settles each claim with `complete`, `fail`, `park` or `drop`.

A claim is a lease: a conditional UpdateItem sets `claimedUntil` (now + `CLAIM_LEASE_SECONDS`)
and a fresh `claimId`, and counts the attempt. Only one sender wins it; a sender that dies lets
the lease run out and the message becomes claimable again. `complete` and `fail` are
conditioned on the claim id, so a sender whose lease ran out does not settle another's claim.
"""

from __future__ import annotations

import uuid
from typing import Any

from botocore.exceptions import ClientError

from regflow.adapters.dynamodb import keys
from regflow.adapters.dynamodb.expressions import Expression, all_of, any_of
from regflow.adapters.dynamodb.keys import n, s
from regflow.adapters.dynamodb.table import Table, is_check_failed
from regflow.domain import ClaimedMessage, Message, ParkedMessage

CLAIM_LEASE_SECONDS = 600.0


def _message_pk(message: Message) -> str:
    return keys.outbox_pk(message.kind, message.registration.id)


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

    def _parked_items(self, now: float | None = None) -> list[keys.Item]:
        """Every parked item (only the due, unclaimed ones when `now` is given), oldest first.

        A Scan with a filter: parked messages are rare (only what the sender could not deliver)
        and this runs off the request path (`regflow redrive`, an operator's sweep), so reading
        the whole table costs little. A frequent sweep would be served by a sparse global
        secondary index on `nextAttemptAt` (only parked items carry it) instead."""
        e = Expression()
        clauses = [e.begins_with(keys.PK, "outbox", keys.OUTBOX_PREFIX)]
        if now is not None:
            clauses.append(e.compare(keys.NEXT_ATTEMPT_AT, "<=", "now", n(now)))
            clauses.append(
                any_of(
                    e.not_exists(keys.CLAIMED_UNTIL),
                    e.compare(keys.CLAIMED_UNTIL, "<=", "now", n(now)),
                )
            )
        e.condition(all_of(*clauses))
        items = [item for page in self._scan(**e.params("FilterExpression")) for item in page]
        items.sort(key=lambda item: (keys.parked_at_of(item), keys.pk_of(item)))
        return items

    # --- Outbox -------------------------------------------------------------------------------

    def claim_due(self, now: float, limit: int) -> list[ClaimedMessage]:
        claimed: list[ClaimedMessage] = []
        for item in self._parked_items(now):
            if len(claimed) >= limit:
                break
            pk = keys.pk_of(item)
            registration_id = keys.parked_registration_id(item)
            if self._get(keys.reg_pk(registration_id), projection=keys.PK) is None:
                # erased or purged: the message is no longer owed
                self._call(self._client.delete_item, Key=keys.key(pk))
                continue
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
            if response is None:  # another sender claimed it first (or settled it)
                continue
            new = response["Attributes"]
            claimed.append(
                ClaimedMessage(
                    message=keys.message_from_item(new),
                    attempts=keys.attempts_of(new),
                    claim=claim,
                    first_failed_at=keys.first_failed_at_of(new),
                )
            )
        return claimed

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
        e = self._settle(claimed)
        e.set_value(keys.NEXT_ATTEMPT_AT, "at", n(at))
        e.set_value(keys.LAST_ERROR, "error", s(error))
        e.remove(keys.CLAIMED_UNTIL, keys.CLAIM_ID)
        self._conditional(self._client.update_item, _message_pk(claimed.message), e)

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
        keeping when it was first parked and first failed."""
        e = Expression()
        for name, value in keys.message_attributes(message).items():
            e.set_value(name, name, value)
        e.set_value(keys.ATTEMPTS, "attempts", n(attempts))
        e.set_value(keys.LAST_ERROR, "error", s(error))
        now_value = e.value("now", n(now))
        e.set(keys.PARKED_AT, e.if_not_exists(keys.PARKED_AT, now_value))
        e.set(keys.FIRST_FAILED_AT, e.if_not_exists(keys.FIRST_FAILED_AT, now_value))
        removed = []
        if at is not None:
            e.set_value(keys.NEXT_ATTEMPT_AT, "at", n(at))
        else:
            removed.append(keys.NEXT_ATTEMPT_AT)
        if claimed is not None:
            removed += [keys.CLAIMED_UNTIL, keys.CLAIM_ID]
        if removed:
            e.remove(*removed)
        self._call(self._client.update_item, Key=keys.key(_message_pk(message)), **e.params())

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
        return [keys.parked_from_item(item) for item in self._parked_items()]

    def requeue_parked(self, now: float) -> int:
        count = 0
        for item in self._parked_items():
            e = Expression()
            e.set_value(keys.NEXT_ATTEMPT_AT, "now", n(now))
            e.remove(keys.FIRST_FAILED_AT)  # a fresh window of automatic retries
            e.condition(e.exists(keys.PK))
            if self._conditional(self._client.update_item, keys.pk_of(item), e) is not None:
                count += 1
        return count
