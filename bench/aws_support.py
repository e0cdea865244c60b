"""AWS-side helpers for the benchmarks: the moto stack of `tests/support/aws.py` (table from
template.yaml, real handlers, stream pump), API call accounting by phase with botocore event
hooks, and DynamoDB capacity computed from item sizes by DynamoDB's own rules."""

from __future__ import annotations

import contextlib
import logging
import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import Any

TOKEN_RE = re.compile(r"/confirm\?token=([A-Za-z0-9_-]{64})")


@contextlib.contextmanager
def quiet_logs() -> Iterator[None]:
    """The handlers log JSON lines to stderr; a benchmark of thousands of requests keeps them
    out of the console (logging.disable makes each call a cheap no-op)."""
    logging.disable(logging.CRITICAL)
    try:
        yield
    finally:
        logging.disable(logging.NOTSET)


# --- DynamoDB item size and capacity ---------------------------------------------------------


def _number_size(text: str) -> int:
    digits = text.strip().lstrip("-")
    if "e" in digits.lower():
        digits = format(Decimal(digits), "f")
    digits = digits.replace(".", "").strip("0") or "0"
    return math.ceil(len(digits) / 2) + 1


def value_size(value: Mapping[str, Any]) -> int:
    """Bytes of one attribute value, per the DynamoDB developer guide's item size rules."""
    ((kind, v),) = value.items()
    if kind == "S":
        return len(str(v).encode("utf-8"))
    if kind == "N":
        return _number_size(str(v))
    if kind == "B":
        return len(v)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(s.encode("utf-8")) for s in v)
    if kind == "NS":
        return sum(_number_size(n) for n in v)
    if kind == "BS":
        return sum(len(b) for b in v)
    if kind == "L":
        return 3 + sum(1 + value_size(x) for x in v)
    if kind == "M":
        return 3 + sum(1 + len(k.encode("utf-8")) + value_size(x) for k, x in v.items())
    raise ValueError(f"unknown attribute type {kind}")


def item_size(item: Mapping[str, Any] | None) -> int:
    if not item:
        return 0
    return sum(len(name.encode("utf-8")) + value_size(v) for name, v in item.items())


def write_units(size_before: int, size_after: int, *, transactional: bool) -> int:
    """WCU (on-demand: WRU) of one item write: 1 per started KB of the larger of the item's
    before and after images (at least 1), doubled inside a transaction."""
    units = max(1, math.ceil(max(size_before, size_after) / 1024))
    return units * (2 if transactional else 1)


def read_units(size: int, *, consistent: bool, transactional: bool = False) -> float:
    """RCU (on-demand: RRU) of one item read: per started 4 KB, 1 strongly consistent, 0.5
    eventually consistent, 2 transactional; a missing item costs the minimum."""
    blocks = max(1, math.ceil(size / 4096))
    if transactional:
        return 2.0 * blocks
    return float(blocks) if consistent else 0.5 * blocks


class Meter:
    """Counts the API calls of some boto3 clients by phase and service.operation, and the
    DynamoDB capacity their successful TransactWriteItems and GetItem calls consume, computed
    from item sizes (moto does not report ConsumedCapacity); regflow makes no other DynamoDB
    calls on these paths. Calls that fail are counted as calls but not metered (DynamoDB does
    charge a failed conditional write; the flows measured with capacity have none). `peek` is
    an uncounted client of the same table, used to read the items' before and after images."""

    def __init__(self, peek: Any, table_name: str) -> None:
        self.peek = peek
        self.table_name = table_name
        self.phase = "other"
        self.calls: dict[str, Counter[str]] = {}
        self.rcu: defaultdict[str, float] = defaultdict(float)  # capacity units: fractional
        self.wcu: defaultdict[str, float] = defaultdict(float)
        self.writes: Counter[str] = Counter()  # items created or changed by successful calls
        self._pending: list[tuple[str, Any]] = []
        self._api_params: Mapping[str, Any] = {}
        self._clients: list[Any] = []

    def attach(self, *clients: Any) -> None:
        for client in clients:
            if any(client is c for c in self._clients):
                continue
            self._clients.append(client)
            client.meta.events.register("before-parameter-build", self._params)
            client.meta.events.register("before-call", self._before)
            client.meta.events.register("after-call", self._after)

    def _get(self, key: Mapping[str, Any]) -> dict[str, Any] | None:
        item = self.peek.get_item(TableName=self.table_name, Key=dict(key), ConsistentRead=True)
        found = item.get("Item")
        return dict(found) if found else None

    def _params(self, params: Mapping[str, Any], **_: Any) -> None:
        self._api_params = params  # the API call's own parameters (before-call sees the wire)

    def _before(self, model: Any, **_: Any) -> None:
        params = self._api_params
        service = model.service_model.service_id.hyphenize()
        op = f"{service}.{model.name}"
        self.calls.setdefault(self.phase, Counter())[op] += 1
        before: Any = None
        if op == "dynamodb.TransactWriteItems":
            before = []
            for entry in params.get("TransactItems", []):
                ((kind, body),) = entry.items()
                key = body.get("Key") or {"pk": body["Item"]["pk"]}
                before.append((kind, key, item_size(self._get(key))))
        elif op == "dynamodb.GetItem":
            before = bool(params.get("ConsistentRead"))
        self._pending.append((op, before))

    def _after(self, model: Any, parsed: Mapping[str, Any], http_response: Any, **_: Any) -> None:
        op, before = self._pending.pop()
        ok = int(getattr(http_response, "status_code", 200)) < 300 and "Error" not in parsed
        if not ok:
            return
        if op == "dynamodb.TransactWriteItems":
            for kind, key, size_before in before:
                if kind == "ConditionCheck":
                    self.rcu[self.phase] += read_units(
                        size_before, consistent=True, transactional=True
                    )
                    continue
                size_after = item_size(self._get(key))
                self.wcu[self.phase] += write_units(size_before, size_after, transactional=True)
                self.writes[self.phase] += 1
        elif op in ("dynamodb.PutItem", "dynamodb.UpdateItem", "dynamodb.DeleteItem"):
            self.writes[self.phase] += 1
        elif op == "dynamodb.GetItem":
            self.rcu[self.phase] += read_units(item_size(parsed.get("Item")), consistent=before)

    @contextlib.contextmanager
    def during(self, phase: str) -> Iterator[None]:
        old, self.phase = self.phase, phase
        try:
            yield
        finally:
            self.phase = old

    def snapshot(self) -> dict[str, Any]:
        return {
            "calls": {p: dict(c) for p, c in self.calls.items()},
            "rcu": dict(self.rcu),
            "wcu": dict(self.wcu),
            "writes": dict(self.writes),
        }


# --- moto: per-item transaction snapshots ------------------------------------------------------


@contextlib.contextmanager
def fast_moto_transactions() -> Iterator[None]:
    """moto's `TransactWriteItems` deep-copies the whole table (stream included) once per item
    of every transaction, to roll back on failure: quadratic, hours for the 1,000-request runs.
    This keeps the emulator's own transaction logic and replaces only that snapshot: it copies
    the items the transaction names (and the stream's length) and restores exactly those when
    moto raises. All-or-nothing is unchanged (tests/unit/test_bench_support.py checks it)."""
    import copy as real_copy  # what moto.dynamodb.models imported as `copy`
    from unittest import mock

    from moto.dynamodb import models
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    original = models.DynamoDBBackend.transact_write_items

    class _Copy:
        """The module's `copy`, minus the whole-table snapshot."""

        @staticmethod
        def deepcopy(obj: Any, memo: Any = None) -> Any:
            return obj if isinstance(obj, Table) else real_copy.deepcopy(obj, memo)

    def transact(self: Any, transact_items: list[dict[str, Any]]) -> None:
        snaps: list[tuple[Any, Any, Any, Any]] = []
        streams: dict[int, tuple[Any, int]] = {}
        for entry in transact_items:
            if not isinstance(entry, dict) or len(entry) != 1:
                continue
            op_type, op = next(iter(entry.items()))
            table = self.tables.get(op.get("TableName")) if isinstance(op, dict) else None
            if table is None:
                continue
            try:
                key = op["Item"] if op_type == "Put" else op["Key"]
                hash_value = DynamoType(key[table.hash_key_attr])
                range_value = (
                    DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
                )
            except (KeyError, TypeError):
                continue
            current = table.get_item(hash_value, range_value)
            snaps.append((table, hash_value, range_value, real_copy.deepcopy(current)))
            if table.stream_shard is not None:
                streams.setdefault(id(table), (table, len(table.stream_shard.items)))
        try:
            original(self, transact_items)
        except Exception:
            for table, hash_value, range_value, item in reversed(snaps):
                bucket = table.items[hash_value] if range_value is not None else table.items
                slot = range_value if range_value is not None else hash_value
                if item is None:
                    bucket.pop(slot, None)
                else:
                    bucket[slot] = item
            for table, length in streams.values():
                del table.stream_shard.items[length:]
            raise

    with (
        mock.patch.object(models, "copy", _Copy),
        mock.patch.object(models.DynamoDBBackend, "transact_write_items", transact),
    ):
        yield
