"""The DynamoDB store: one table, every state change one `TransactWriteItems` call.

Items (partition key `pk`, see template.yaml):

- `REG#<id>`: a registration (the seed's attributes `name`, `email`, `status`, `timestamp`,
  `ttl`, `confirmedAt`, plus `id` and `addrKey`). Its INSERT on the stream owes the verification
  mail, its PENDING -> CONFIRMED MODIFY the owner notification: the stream is the outbox, so the
  state change and the mail it owes are one atomic write.
- `ADDR#<addrKey>`: `confirmedId`, the address's one confirmed registration (permanent).
- `LIMIT#IP#<ip>`: the per-client limit, a fixed-window counter (`windowStart`, `count`,
  `lastAt`, `ttl`).
- `LIMIT#ADDR#<addrKey>`: the per-address limit, a sliding log: `sends` (the epoch seconds of
  the most recent verification mails, oldest first, at most `max_count` numbers), `lastAt`, and
  `ttl` (newest send + window, so TTL removes idle logs). See `DynamoDBStore.create_pending`.

Limit items change only inside the transaction that stores a registration.

Conditions are judged by DynamoDB, never by a read first. When a transaction is cancelled,
`ReturnValuesOnConditionCheckFailure=ALL_OLD` brings back the items whose condition failed, and
the outcome is derived from them, so the normal path of each request is exactly one call.

Uses the low-level client only (`boto3.resource` costs cold-start time).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from regflow.domain import (
    ClientRateLimited,
    CreateResult,
    Limit,
    LimitState,
    Outcome,
    Registration,
    SendLog,
    Status,
    StoreUnavailable,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
else:
    DynamoDBClient = Any

Item = Mapping[str, Any]  # a low-level DynamoDB item: {"attr": {"S": "..."}}

# Error codes that mean "the store is busy or down; nothing was written".
THROTTLING_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "Throttling",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "TransactionInProgressException",
    }
)
# Codes a cancelled transaction reports per item for the same conditions.
_REASON_BUSY = frozenset(
    {"ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded"}
)
_CONFLICT = "TransactionConflict"
_CHECK_FAILED = "ConditionalCheckFailed"


def reg_key(registration_id: str) -> str:
    return f"REG#{registration_id}"


def addr_key_pk(addr_key: str) -> str:
    return f"ADDR#{addr_key}"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def registration_item(registration: Registration) -> dict[str, Any]:
    item: dict[str, Any] = {
        "pk": {"S": reg_key(registration.id)},
        "id": {"S": registration.id},
        "name": {"S": registration.name},
        "email": {"S": registration.email},
        "addrKey": {"S": registration.addr_key},
        "status": {"S": registration.status.value},
        "timestamp": {"S": _iso(registration.timestamp)},
    }
    if registration.ttl is not None:
        item["ttl"] = {"N": str(registration.ttl)}
    if registration.confirmed_at is not None:
        item["confirmedAt"] = {"S": _iso(registration.confirmed_at)}
    return item


def registration_from_item(item: Item) -> Registration:
    """A `REG#` item (from GetItem, a cancellation reason or a stream image) as a value."""
    ttl = item.get("ttl")
    confirmed = item.get("confirmedAt")
    return Registration(
        id=item["id"]["S"],
        name=item["name"]["S"],
        email=item["email"]["S"],
        status=Status(item["status"]["S"]),
        timestamp=datetime.fromisoformat(item["timestamp"]["S"]),
        ttl=int(ttl["N"]) if ttl is not None else None,
        confirmed_at=datetime.fromisoformat(confirmed["S"]) if confirmed is not None else None,
    )


def _limit_state(item: Item) -> LimitState:
    return LimitState(
        window_start=int(item["windowStart"]["N"]),
        count=int(item["count"]["N"]),
        last_at=int(item["lastAt"]["N"]),
    )


def _send_log(item: Item, limit: Limit) -> tuple[SendLog, tuple[int, ...] | None]:
    """A `LIMIT#ADDR#` item's log, and its `sends` exactly as stored (None when the item has
    none: a legacy fixed-window counter, read conservatively)."""
    sends = item.get("sends")
    if sends is not None:
        stored = tuple(int(v["N"]) for v in sends["L"])
        return SendLog(stored), stored
    if "windowStart" in item and "count" in item and "lastAt" in item:
        return SendLog.from_window_counter(_limit_state(item), max(limit.max_count, 1)), None
    last = item.get("lastAt")
    return SendLog((int(last["N"]),) if last is not None else ()), None


@dataclass(frozen=True, slots=True)
class _LogSwap:
    """Replace an address's send log that a cancelled attempt returned (pruned + the new send),
    on condition that nobody changed it meanwhile."""

    old_sends: tuple[int, ...] | None  # as stored; None: the item has no `sends` (legacy)
    old_last_at: int | None
    new: SendLog


@dataclass(frozen=True, slots=True)
class _Counter:
    pk: str
    limit: Limit
    is_client: bool
    reset_from: int | None = None  # client: old windowStart when the window must restart
    swap: _LogSwap | None = None  # address: the pruned log to write instead of appending


class StoreFault(RuntimeError):
    """DynamoDB refused a write for a reason retrying cannot fix (a `ValidationError`
    cancellation, an oversized item): a bug, not load. Answered 500, never 503 + Retry-After."""


class _Cancelled(Exception):
    def __init__(self, reasons: Sequence[Mapping[str, Any]]) -> None:
        super().__init__("transaction cancelled")
        self.reasons = reasons

    def code(self, index: int) -> str:
        if index >= len(self.reasons):
            return "None"
        return str(self.reasons[index].get("Code") or "None")

    def old_item(self, index: int) -> Item | None:
        if index >= len(self.reasons):
            return None
        item = self.reasons[index].get("Item")
        return item if item else None

    @property
    def codes(self) -> set[str]:
        return {self.code(i) for i in range(len(self.reasons))}


class DynamoDBStore:
    """`RegistrationStore` on one DynamoDB table (see the module docstring)."""

    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        *,
        max_attempts: int = 3,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = client
        self._table = table_name
        self._max_attempts = max(1, max_attempts)
        self._sleep = sleep

    # --- the one call ------------------------------------------------------------------

    def _conditional_update(
        self,
        pk: str,
        update: str,
        condition: str,
        names: dict[str, str],
        values: dict[str, Any],
    ) -> dict[str, Any]:
        """One limit counter's conditional Update inside a transaction; a failed condition
        brings the old item back in the cancellation reasons."""
        return {
            "Update": {
                "TableName": self._table,
                "Key": {"pk": {"S": pk}},
                "UpdateExpression": update,
                "ConditionExpression": condition,
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        }

    def _transact(self, items: list[dict[str, Any]]) -> None:
        """One TransactWriteItems. Raises `_Cancelled` for failed conditions; retries a
        TransactionConflict (concurrent writers of one item) a bounded number of times;
        maps throttling and outages to `StoreUnavailable`."""
        for attempt in range(1, self._max_attempts + 1):
            try:
                self._client.transact_write_items(TransactItems=items)  # type: ignore[arg-type]
                return
            except ClientError as exc:
                error = exc.response.get("Error", {})
                code = error.get("Code", "")
                if code == "TransactionCanceledException":
                    cancelled = _Cancelled(exc.response.get("CancellationReasons") or [])
                    codes = cancelled.codes
                    if codes & _REASON_BUSY:
                        raise StoreUnavailable(1) from exc
                    if _CONFLICT in codes and _CHECK_FAILED not in codes:
                        if attempt < self._max_attempts:
                            self._backoff(attempt)
                            continue
                        raise StoreUnavailable(1) from exc
                    if _CHECK_FAILED in codes:
                        raise cancelled from exc
                    # ValidationError, ItemCollectionSizeLimitExceeded, ...: not load, and
                    # retrying cannot help
                    raise StoreFault(
                        "transaction cancelled: " + ",".join(sorted(codes - {"None"}))
                    ) from exc
                if code in THROTTLING_CODES or _status(exc) >= 500:
                    raise StoreUnavailable(_retry_after(code)) from exc
                raise
            except BotoCoreError as exc:  # connection errors, timeouts
                raise StoreUnavailable(1) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _backoff(self, attempt: int) -> None:
        # Full jitter, a few tens of milliseconds: conflicts clear as soon as the winner commits.
        self._sleep(random.uniform(0, 0.025 * 2**attempt))

    def _get(self, pk: str) -> Item | None:
        try:
            response = self._client.get_item(
                TableName=self._table, Key={"pk": {"S": pk}}, ConsistentRead=True
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in THROTTLING_CODES or _status(exc) >= 500:
                raise StoreUnavailable(_retry_after(code)) from exc
            raise
        except BotoCoreError as exc:
            raise StoreUnavailable(1) from exc
        item = response.get("Item")
        return item if item else None

    # --- RegistrationStore ---------------------------------------------------------------

    def create_pending(
        self,
        registration: Registration,
        *,
        address_limit: Limit,
        client_key: str | None,
        client_limit: Limit,
    ) -> CreateResult:
        now = int(registration.timestamp.timestamp())
        counters: list[_Counter] = []
        if client_key is not None and client_limit.enabled:
            counters.append(_Counter(f"LIMIT#IP#{client_key}", client_limit, is_client=True))
        if address_limit.enabled:
            counters.append(
                _Counter(f"LIMIT#ADDR#{registration.limit_key}", address_limit, is_client=False)
            )
        put = {
            "Put": {
                "TableName": self._table,
                "Item": registration_item(registration),
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }
        # The first attempt appends to the address log while it holds fewer than max_count
        # sends, and counts the client normally. When a condition fails, the old items the
        # cancellation returned decide: limited (nothing written), or re-plan that counter (the
        # client window restarts; the address log is pruned of sends older than the window and
        # swapped conditioned on being unchanged). Each round re-plans from fresh old items, so
        # concurrent writers make a round fail and are re-judged, never double-counted.
        for _round in range(self._max_attempts + 1):
            items = [put] + [self._counter_update(c, now) for c in counters]
            try:
                self._transact(items)
                return CreateResult.CREATED
            except _Cancelled as cancelled:
                if cancelled.code(0) == _CHECK_FAILED:
                    raise RuntimeError("registration id collision") from None
                replanned: list[_Counter] = []
                limited: _Counter | None = None
                for index, counter in enumerate(counters, start=1):
                    if cancelled.code(index) != _CHECK_FAILED:
                        replanned.append(counter)
                        continue
                    old = cancelled.old_item(index)
                    if old is None:  # gone meanwhile (TTL): count from scratch
                        replanned.append(_Counter(counter.pk, counter.limit, counter.is_client))
                        continue
                    if not counter.is_client:
                        log, stored = _send_log(old, counter.limit)
                        if not log.allows(counter.limit, now):
                            limited = limited or counter
                            replanned.append(counter)
                            continue
                        last = old.get("lastAt")
                        swap = _LogSwap(
                            old_sends=stored,
                            old_last_at=int(last["N"]) if last is not None else None,
                            new=log.after_event(counter.limit, now),
                        )
                        replanned.append(_Counter(counter.pk, counter.limit, False, swap=swap))
                        continue
                    state = _limit_state(old)
                    if not state.allows(counter.limit, now):
                        raise ClientRateLimited(state.retry_after(counter.limit, now)) from None
                    reset = state.window_start if state.window_over(counter.limit, now) else None
                    replanned.append(
                        _Counter(counter.pk, counter.limit, counter.is_client, reset_from=reset)
                    )
                if limited is not None:
                    client = next((c for c in replanned if c.is_client), None)
                    if client is not None:
                        self._count_client(client, now)
                    return CreateResult.ADDRESS_LIMITED
                counters = replanned
        raise StoreUnavailable(1)

    def _count_client(self, counter: _Counter, now: int) -> None:
        """Count a post the address limit refused against its client, like any other post
        (or counting posts before the 429 would tell a limited address). The cancelled
        transaction wrote nothing, so this is one more call: a one-item transaction with the
        same conditional update (the same IAM action as the first call). Re-planned from the
        old item on a failed condition, as in `create_pending`."""
        for _round in range(self._max_attempts + 1):
            try:
                self._transact([self._counter_update(counter, now)])
                return
            except _Cancelled as cancelled:
                old = cancelled.old_item(0)
                if old is None:
                    counter = _Counter(counter.pk, counter.limit, is_client=True)
                    continue
                state = _limit_state(old)
                if not state.allows(counter.limit, now):
                    raise ClientRateLimited(state.retry_after(counter.limit, now)) from None
                reset = state.window_start if state.window_over(counter.limit, now) else None
                counter = _Counter(counter.pk, counter.limit, is_client=True, reset_from=reset)
        raise StoreUnavailable(1)

    def _counter_update(self, counter: _Counter, now: int) -> dict[str, Any]:
        if not counter.is_client:
            return self._send_log_update(counter, now)
        limit = counter.limit
        names = {"#count": "count", "#ttl": "ttl"}
        values: dict[str, Any] = {
            ":now": {"N": str(now)},
            ":ttl": {"N": str(now + limit.window_seconds + limit.min_interval_seconds + 60)},
        }
        interval_ok = None
        if limit.min_interval_seconds:
            values[":lastCutoff"] = {"N": str(now - limit.min_interval_seconds)}
            interval_ok = "lastAt <= :lastCutoff"
        if counter.reset_from is not None:
            # The window is over: restart it, unless someone else restarted it first.
            values[":oldStart"] = {"N": str(counter.reset_from)}
            values[":one"] = {"N": "1"}
            condition = "windowStart = :oldStart"
            if interval_ok:
                condition += f" AND {interval_ok}"
            update = "SET #count = :one, windowStart = :now, lastAt = :now, #ttl = :ttl"
        else:
            clauses = []
            if interval_ok:
                clauses.append(interval_ok)
            if limit.max_count:
                values[":windowCutoff"] = {"N": str(now - limit.window_seconds)}
                values[":max"] = {"N": str(limit.max_count)}
                clauses.append("windowStart > :windowCutoff AND #count < :max")
            condition = "attribute_not_exists(pk)"
            if clauses:
                condition += " OR (" + " AND ".join(clauses) + ")"
            values[":one"] = {"N": "1"}
            update = (
                "SET windowStart = if_not_exists(windowStart, :now), lastAt = :now, #ttl = :ttl "
                "ADD #count :one"
            )
        return self._conditional_update(counter.pk, update, condition, names, values)

    def _send_log_update(self, counter: _Counter, now: int) -> dict[str, Any]:
        """The `LIMIT#ADDR#` update: append `now` to `sends` while it holds fewer than
        max_count entries (judged by DynamoDB, no read), or swap in a pruned log that a
        cancelled attempt returned, conditioned on the stored log being unchanged."""
        limit = counter.limit
        names = {"#ttl": "ttl"}
        span = max(limit.window_seconds if limit.max_count else 0, limit.min_interval_seconds)
        values: dict[str, Any] = {":now": {"N": str(now)}}
        interval_ok = None
        if limit.min_interval_seconds:
            values[":lastCutoff"] = {"N": str(now - limit.min_interval_seconds)}
            interval_ok = "lastAt <= :lastCutoff"
        swap = counter.swap
        if swap is not None:
            if swap.old_sends is not None:
                values[":oldSends"] = _number_list(swap.old_sends)
                condition = "sends = :oldSends"
            else:
                condition = "attribute_not_exists(sends)"
            if swap.old_last_at is not None:
                values[":oldLast"] = {"N": str(swap.old_last_at)}
                condition += " AND lastAt = :oldLast"
            else:
                condition += " AND attribute_not_exists(lastAt)"
            if interval_ok:
                condition += f" AND {interval_ok}"
            values[":sends"] = _number_list(swap.new.times)
            values[":ttl"] = {"N": str(max(swap.new.times) + span)}
            names["#count"] = "count"
            update = "SET sends = :sends, lastAt = :now, #ttl = :ttl REMOVE windowStart, #count"
        else:
            clauses = []
            if interval_ok:
                clauses.append(interval_ok)
            values[":ttl"] = {"N": str(now + span)}
            values[":nowList"] = _number_list((now,))
            if limit.max_count:
                values[":max"] = {"N": str(limit.max_count)}
                values[":empty"] = {"L": []}
                # attribute_exists first: a legacy item without `sends` fails the condition
                # (and returns its old state) instead of erroring on size()
                clauses.append("attribute_exists(sends) AND size(sends) < :max")
                update = (
                    "SET sends = list_append(if_not_exists(sends, :empty), :nowList),"
                    " lastAt = :now, #ttl = :ttl"
                )
            else:  # no cap: only the last send matters (the minimum interval)
                update = "SET sends = :nowList, lastAt = :now, #ttl = :ttl"
            condition = "attribute_not_exists(pk)"
            if clauses:
                condition += " OR (" + " AND ".join(clauses) + ")"
        return self._conditional_update(counter.pk, update, condition, names, values)

    def confirm(self, registration_id: str, addr_key: str, now: datetime) -> Outcome:
        items = [
            {
                "Update": {
                    "TableName": self._table,
                    "Key": {"pk": {"S": reg_key(registration_id)}},
                    "UpdateExpression": "SET #status = :confirmed, confirmedAt = :at REMOVE #ttl",
                    "ConditionExpression": (
                        "#status = :pending AND #ttl > :now AND addrKey = :addr"
                    ),
                    "ExpressionAttributeNames": {"#status": "status", "#ttl": "ttl"},
                    "ExpressionAttributeValues": {
                        ":confirmed": {"S": Status.CONFIRMED.value},
                        ":pending": {"S": Status.PENDING.value},
                        ":at": {"S": _iso(now)},
                        ":now": {"N": str(int(now.timestamp()))},
                        ":addr": {"S": addr_key},
                    },
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            },
            {
                "Update": {
                    "TableName": self._table,
                    "Key": {"pk": {"S": addr_key_pk(addr_key)}},
                    "UpdateExpression": "SET confirmedId = :id",
                    "ConditionExpression": "attribute_not_exists(confirmedId)",
                    "ExpressionAttributeValues": {":id": {"S": registration_id}},
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            },
        ]
        try:
            self._transact(items)
        except _Cancelled as cancelled:
            if cancelled.code(0) == _CHECK_FAILED:
                old = cancelled.old_item(0)
                if old is None or old.get("addrKey", {}).get("S") != addr_key:
                    return Outcome.INVALID
                if old.get("status", {}).get("S") == Status.CONFIRMED.value:
                    return Outcome.ALREADY_CONFIRMED
                return Outcome.EXPIRED
            return Outcome.ALREADY_CONFIRMED  # the address is locked to another registration
        return Outcome.CONFIRMED

    def get(self, registration_id: str) -> Registration | None:
        item = self._get(reg_key(registration_id))
        return registration_from_item(item) if item is not None else None

    def confirmed_registration_id(self, addr_key: str) -> str | None:
        item = self._get(addr_key_pk(addr_key))
        confirmed = item.get("confirmedId") if item is not None else None
        return str(confirmed["S"]) if confirmed is not None else None


def _number_list(numbers: Sequence[int]) -> dict[str, Any]:
    return {"L": [{"N": str(n)} for n in numbers]}


def _status(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)


def _retry_after(code: str) -> int:
    return 2 if code in {"ProvisionedThroughputExceededException", "RequestLimitExceeded"} else 1
