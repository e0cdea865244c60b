"""bench/ helpers: DynamoDB item size and capacity rules, the per-item transaction snapshot
that replaces moto's whole-table copy (all-or-nothing kept), the API call meter, statistics."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import boto3
import pytest
from bench.aws_support import Meter, fast_moto_transactions, item_size, read_units, write_units
from bench.common import Target, median, percentile, table
from botocore.exceptions import ClientError

from tests.support.aws import REGION, StreamReader, create_table_from_template, mock_aws_serialized

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import PutTypeDef, TransactWriteItemTypeDef


def test_item_size_follows_the_dynamodb_rules() -> None:
    # names count, strings are UTF-8 bytes, numbers ~1 byte per 2 significant digits + 1
    assert item_size({"pk": {"S": "abc"}}) == 2 + 3
    assert item_size({"n": {"S": "é"}}) == 1 + 2
    assert item_size({"ttl": {"N": "1700000000"}}) == 3 + (math.ceil(2 / 2) + 1)
    assert item_size({"x": {"N": "12345"}}) == 1 + 3 + 1
    assert item_size({"b": {"BOOL": True}}) == 1 + 1
    assert item_size({"m": {"M": {"k": {"S": "v"}}}}) == 1 + 3 + (1 + 1 + 1)
    assert item_size(None) == 0


def test_capacity_units() -> None:
    assert write_units(0, 100, transactional=False) == 1
    assert write_units(0, 100, transactional=True) == 2
    assert write_units(1500, 900, transactional=True) == 4  # the larger image, 2 KB started
    assert read_units(0, consistent=True) == 1.0  # a missing item costs the minimum
    assert read_units(5000, consistent=False) == 1.0
    assert read_units(100, consistent=True, transactional=True) == 2.0


def test_statistics_and_table() -> None:
    assert median([3.0, 1.0, 2.0]) == 2.0
    assert percentile(list(map(float, range(1, 101))), 99) == 99.0
    assert percentile([5.0], 50) == 5.0
    assert math.isnan(percentile([], 50))
    md = table(["a", "b"], [[1, "x|y"]])
    assert md.splitlines() == ["| a | b |", "|---|---|", "| 1 | x\\|y |"]
    assert Target("t", "<= 1", "2", met=False).row()[-1] == "**not met**"


def _put(pk: str, condition: str | None = None) -> TransactWriteItemTypeDef:
    op: PutTypeDef = {
        "TableName": "regflow-registrations",
        "Item": {"pk": {"S": pk}, "v": {"N": "1"}},
    }
    if condition:
        op["ConditionExpression"] = condition
    return {"Put": op}


def test_fast_transactions_keep_all_or_nothing() -> None:
    with mock_aws_serialized(), fast_moto_transactions():
        client = boto3.client("dynamodb", region_name=REGION)
        table = create_table_from_template(client)
        stream = StreamReader(client, table)
        client.put_item(TableName=table, Item={"pk": {"S": "A"}, "v": {"N": "0"}})
        assert len(stream.records()) == 1

        # the second item's condition fails: the first item's write must be undone too
        with pytest.raises(ClientError) as info:
            client.transact_write_items(
                TransactItems=[_put("B"), _put("A", "attribute_not_exists(pk)")]
            )
        assert info.value.response["Error"]["Code"] == "TransactionCanceledException"
        items = client.scan(TableName=table)["Items"]
        assert [i["pk"]["S"] for i in items] == ["A"]
        assert items[0]["v"]["N"] == "0"
        assert stream.records() == []

        # an update of an existing item rolled back keeps its old value
        with pytest.raises(ClientError):
            client.transact_write_items(
                TransactItems=[
                    {
                        "Update": {
                            "TableName": table,
                            "Key": {"pk": {"S": "A"}},
                            "UpdateExpression": "SET v = :v",
                            "ExpressionAttributeValues": {":v": {"N": "9"}},
                        }
                    },
                    _put("A2", "attribute_exists(pk)"),
                ]
            )
        got = client.get_item(TableName=table, Key={"pk": {"S": "A"}})["Item"]
        assert got["v"]["N"] == "0"

        client.transact_write_items(TransactItems=[_put("B"), _put("C")])
        assert sorted(i["pk"]["S"] for i in client.scan(TableName=table)["Items"]) == [
            "A",
            "B",
            "C",
        ]
        assert len(stream.records()) == 2


def test_meter_counts_calls_by_phase_and_capacity() -> None:
    with mock_aws_serialized(), fast_moto_transactions():
        peek = boto3.client("dynamodb", region_name=REGION)
        table = create_table_from_template(peek)
        client = boto3.client("dynamodb", region_name=REGION)
        meter = Meter(peek, table)
        meter.attach(client)
        with meter.during("write"):
            client.transact_write_items(TransactItems=[_put("A"), _put("B")])
        with meter.during("read"):
            client.get_item(TableName=table, Key={"pk": {"S": "A"}}, ConsistentRead=True)
            client.get_item(TableName=table, Key={"pk": {"S": "Z"}})
        with meter.during("write"), pytest.raises(ClientError):
            client.transact_write_items(TransactItems=[_put("A", "attribute_not_exists(pk)")])
        peek.scan(TableName=table)  # the peek client is not metered
        snap = meter.snapshot()
    assert snap["calls"] == {
        "write": {"dynamodb.TransactWriteItems": 2},
        "read": {"dynamodb.GetItem": 2},
    }
    assert snap["wcu"] == {
        "write": 4
    }  # two small items, x2 in a transaction (cancelled calls are not metered)
    assert snap["writes"] == {"write": 2}
    assert snap["rcu"] == {"read": 1.5}  # consistent 1 + eventually consistent 0.5
