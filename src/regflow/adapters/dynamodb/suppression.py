"""`ports.SuppressionList` on the table (reference: `adapters.memory`).

- `SUPPRESS#<mailboxKey>`: a suppressed inbox (`email`, `reason`, `diagnostic`, `since`),
  permanent (no `ttl`, no `status`: the stream filter never takes it for a registration).
- `SOFTBOUNCE#<mailboxKey>`: the inbox's recent soft bounces (`sends`, epoch seconds, oldest
  first), `ttl` the newest plus the window: TTL removes the counts nobody needs.

None of this is on the request path: registration stays one `TransactWriteItems`. The mail
sender reads `SUPPRESS#` before each message to the registrant (one GetItem), the SES events
function writes both kinds, and the operator's `regflow suppression` lists them (a Scan).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from regflow.adapters.dynamodb import keys
from regflow.adapters.dynamodb.expressions import Expression
from regflow.adapters.dynamodb.keys import n, number_list, s
from regflow.adapters.dynamodb.outbox import park_expression
from regflow.adapters.dynamodb.table import Cancelled, Table, is_check_failed
from regflow.domain import (
    Message,
    MessageKind,
    Status,
    StoreUnavailable,
    Suppression,
    SuppressionReason,
)
from regflow.domain.suppression import DIAGNOSTIC_MAX

# Conditional swaps of a soft-bounce list lost to a concurrent writer before giving up.
_SWAP_ATTEMPTS = 5


def suppress_pk(key: str) -> str:
    return f"{keys.SUPPRESS_PREFIX}{key}"


def soft_bounce_pk(key: str) -> str:
    return f"{keys.SOFT_BOUNCE_PREFIX}{key}"


def _entry(item: keys.Item) -> Suppression:
    return Suppression(
        key=keys.pk_of(item)[len(keys.SUPPRESS_PREFIX) :],
        email=item["email"]["S"],
        reason=SuppressionReason(item["reason"]["S"]),
        diagnostic=item["diagnostic"]["S"],
        since=datetime.fromisoformat(item["since"]["S"]).astimezone(UTC),
    )


class SuppressionMixin(Table):
    def suppression(self, key: str) -> Suppression | None:
        item = self._get(suppress_pk(key))
        return _entry(item) if item is not None else None

    def suppress(self, entry: Suppression) -> bool:
        item: dict[str, Any] = {
            **keys.key(suppress_pk(entry.key)),
            "email": s(entry.email),
            "reason": s(entry.reason.value),
            "diagnostic": s(entry.diagnostic[:DIAGNOSTIC_MAX]),
            "since": s(keys.iso(entry.since)),
        }
        e = Expression()
        e.condition(e.not_exists(keys.PK))
        try:
            self._call(self._client.put_item, Item=item, **e.params())
        except ClientError as exc:
            if is_check_failed(exc):
                return False
            raise
        return True

    def lift(self, key: str) -> bool:
        self._call(self._client.delete_item, Key=keys.key(soft_bounce_pk(key)))
        old = self._call(
            self._client.delete_item, Key=keys.key(suppress_pk(key)), ReturnValues="ALL_OLD"
        )
        return bool(old.get("Attributes"))

    def suppressions(self) -> list[Suppression]:
        e = Expression()
        e.condition(e.begins_with(keys.PK, "prefix", keys.SUPPRESS_PREFIX))
        found = [
            _entry(item) for page in self._scan(**e.params("FilterExpression")) for item in page
        ]
        return sorted(found, key=lambda entry: (entry.since, entry.key))

    def count_soft_bounce(self, key: str, at: int, window_seconds: int) -> int:
        """Read, prune, append, and write back conditioned on the list being unchanged
        (a concurrent bounce of the same inbox makes the swap try again)."""
        pk = soft_bounce_pk(key)
        for _ in range(_SWAP_ATTEMPTS):
            item = self._get(pk)
            old = tuple(int(v["N"]) for v in item["sends"]["L"]) if item is not None else None
            times = [t for t in old or () if at - t < window_seconds] + [at]
            e = Expression()
            e.set_value("sends", "sends", number_list(times))
            e.set_value("ttl", "ttl", n(max(times) + window_seconds))
            if old is None:
                e.condition(e.not_exists(keys.PK))
            else:
                e.condition(e.compare("sends", "=", "old", number_list(old)))
            try:
                self._call(self._client.update_item, Key=keys.key(pk), **e.params())
            except ClientError as exc:
                if is_check_failed(exc):
                    continue
                raise
            return len(times)
        raise StoreUnavailable(1)

    def mark_undeliverable(self, registration_id: str, status: Status, diagnostic: str) -> bool:
        e = Expression()
        e.set_value("status", "status", s(status.value))
        e.set_value("deliveryFailure", "diagnostic", s(diagnostic[:DIAGNOSTIC_MAX]))
        e.condition(e.compare("status", "=", "pending", s(Status.PENDING.value)))
        try:
            self._call(
                self._client.update_item, Key=keys.key(keys.reg_pk(registration_id)), **e.params()
            )
        except ClientError as exc:
            if is_check_failed(exc):
                return False
            raise
        return True

    def restore(self, key: str, registration_ids: Sequence[str], now: datetime) -> list[str]:
        """One TransactWriteItems: the inbox's two items deleted, each BOUNCED registration
        PENDING again (conditioned on still being BOUNCED) and its verification a parked
        message due now, which the scheduled recovery sends (a MODIFY to PENDING owes nothing
        on the stream). Re-read and retried when a registration changed meanwhile."""
        for _round in range(self._max_attempts):
            items: list[dict[str, Any]] = [
                {"Delete": {"TableName": self._table, "Key": keys.key(pk)}}
                for pk in (soft_bounce_pk(key), suppress_pk(key))
            ]
            owed = []
            for registration_id in registration_ids:
                item = self._get(keys.reg_pk(registration_id))
                if item is None or keys.status_of(item) != Status.BOUNCED.value:
                    continue
                e = Expression()
                e.set_value("status", "status", s(Status.PENDING.value))
                e.remove("deliveryFailure")
                e.condition(e.compare("status", "=", "bounced", s(Status.BOUNCED.value)))
                items.append(self._transact_update(keys.reg_pk(registration_id), e))
                reg = dataclasses.replace(
                    keys.registration_from_item(item), status=Status.PENDING, delivery_failure=None
                )
                if reg.expired(now):
                    continue
                at = now.timestamp()
                pk, parked = park_expression(
                    Message(MessageKind.VERIFICATION, reg),
                    attempts=0,
                    error="Restored",
                    at=at,
                    now=at,
                )
                items.append(self._transact_update(pk, parked))
                owed.append(registration_id)
            try:
                self._transact(items)
            except Cancelled:
                continue  # a registration changed meanwhile: read again
            return owed
        raise StoreUnavailable(1)

    def _transact_update(self, pk: str, expression: Expression) -> dict[str, Any]:
        return {"Update": {"TableName": self._table, "Key": keys.key(pk), **expression.params()}}
