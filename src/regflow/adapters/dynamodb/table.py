"""The table every part of the adapter shares: the client, the name, and how DynamoDB's errors
are read (by error code, never by message text).

Only throttling, 5xx answers and connection errors become `StoreUnavailable` ("try again
later, nothing was written"). Anything else (a `ValidationException`: a bug in the request, an
`AccessDeniedException`: a role without the grant) is raised as the botocore `ClientError` it
is, so that it is never mistaken for an outage.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from regflow.adapters.dynamodb.keys import Item
from regflow.domain import StoreUnavailable

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
else:
    DynamoDBClient = Any

T = TypeVar("T")

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
REASON_BUSY = frozenset(
    {"ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded"}
)
CONFLICT = "TransactionConflict"
CHECK_FAILED = "ConditionalCheckFailed"


class StoreFault(RuntimeError):
    """DynamoDB refused a write for a reason retrying cannot fix (a `ValidationError`
    cancellation, an oversized item): a bug, not load. Answered 500, never 503 + Retry-After."""


class Cancelled(Exception):
    """A transaction cancelled by failed conditions; `reasons` per item, in request order."""

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


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def is_check_failed(exc: ClientError) -> bool:
    return error_code(exc) == "ConditionalCheckFailedException"


def _status(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)


def _retry_after(code: str) -> int:
    return 2 if code in {"ProvisionedThroughputExceededException", "RequestLimitExceeded"} else 1


def unavailable(exc: ClientError) -> StoreUnavailable | None:
    """The `StoreUnavailable` a throttling or 5xx error means; None for any other error."""
    code = error_code(exc)
    if code in THROTTLING_CODES or _status(exc) >= 500:
        return StoreUnavailable(_retry_after(code))
    return None


class Table:
    """The shared base of the store, the outbox and the operator queries."""

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

    def _call(self, operation: Callable[..., T], **params: Any) -> T:
        """One client call; throttling, 5xx and connection errors become `StoreUnavailable`,
        every other error (a failed condition included) is raised as it is."""
        try:
            return operation(TableName=self._table, **params)
        except ClientError as exc:
            busy = unavailable(exc)
            if busy is not None:
                raise busy from exc
            raise
        except BotoCoreError as exc:  # connection errors, timeouts
            raise StoreUnavailable(1) from exc

    def _transact(self, items: list[dict[str, Any]]) -> None:
        """One TransactWriteItems. Raises `Cancelled` for failed conditions; retries a
        TransactionConflict (concurrent writers of one item) a bounded number of times;
        maps throttling and outages to `StoreUnavailable`."""
        for attempt in range(1, self._max_attempts + 1):
            try:
                self._client.transact_write_items(TransactItems=items)  # type: ignore[arg-type]
                return
            except ClientError as exc:
                if error_code(exc) == "TransactionCanceledException":
                    cancelled = Cancelled(exc.response.get("CancellationReasons") or [])
                    codes = cancelled.codes
                    if codes & REASON_BUSY:
                        raise StoreUnavailable(1) from exc
                    if CONFLICT in codes and CHECK_FAILED not in codes:
                        if attempt < self._max_attempts:
                            self._backoff(attempt)
                            continue
                        raise StoreUnavailable(1) from exc
                    if CHECK_FAILED in codes:
                        raise cancelled from exc
                    # ValidationError, ItemCollectionSizeLimitExceeded, ...: not load, and
                    # retrying cannot help: a 500, never 503 + Retry-After
                    raise StoreFault(
                        "transaction cancelled: " + ",".join(sorted(codes - {"None"}))
                    ) from exc
                busy = unavailable(exc)
                if busy is not None:
                    raise busy from exc
                raise
            except BotoCoreError as exc:  # connection errors, timeouts
                raise StoreUnavailable(1) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _backoff(self, attempt: int) -> None:
        # Full jitter, a few tens of milliseconds: conflicts clear as soon as the winner commits.
        self._sleep(random.uniform(0, 0.025 * 2**attempt))

    def _get(self, pk: str, *, projection: str | None = None) -> Item | None:
        params: dict[str, Any] = {"Key": {"pk": {"S": pk}}, "ConsistentRead": True}
        if projection is not None:
            params["ProjectionExpression"] = projection
        response = self._call(self._client.get_item, **params)
        item = response.get("Item")
        return item if item else None

    def _scan(self, **params: Any) -> Iterator[list[Item]]:
        """A paginated, consistent Scan: one page (up to 1 MB read) at a time."""
        return self._pages(self._client.scan, dict(params, ConsistentRead=True))

    def _query(self, **params: Any) -> Iterator[list[Item]]:
        """A paginated Query: one page at a time (`Limit` items read, then filtered). Not
        consistent: a global secondary index can only be read eventually consistently."""
        return self._pages(self._client.query, params)

    def _pages(self, operation: Any, params: Mapping[str, Any]) -> Iterator[list[Item]]:
        start: Mapping[str, Any] | None = None
        while True:
            page_params = dict(params)
            if start is not None:
                page_params["ExclusiveStartKey"] = start
            response = self._call(operation, **page_params)
            yield list(response.get("Items", []))
            start = response.get("LastEvaluatedKey")
            if not start:
                return
