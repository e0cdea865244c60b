"""`regflow list|export|stats|delete|resend --stack NAME` against a deployed stack under moto
(the table from template.yaml, the stack's outputs and parameters from template.yaml through a
stubbed DescribeStacks: tests/support/opstack.py says why), with the operator's default
credentials (boto3's default session)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from regflow.adapters.dynamodb import DynamoDBStore, keys
from regflow.cli import main
from regflow.domain import Limit, Registration, Status
from tests.support.aws import REGION
from tests.support.opstack import OperatorStack, operator_stack

NOW = datetime.now(UTC).replace(microsecond=0)
T0 = NOW - timedelta(hours=3)
OFF = Limit(max_count=0, window_seconds=60)


def reg(i: int, at: datetime, email: str | None = None) -> Registration:
    return Registration(
        id=f"{i:04d}" + "r" * 18,
        name=f"Person {i}",
        email=email or f"p{i}@example.com",
        status=Status.PENDING,
        timestamp=at,
        ttl=int((at + timedelta(hours=24)).timestamp()),
        language="de" if i % 2 else "en",
    )


def seed(stack: OperatorStack, *, confirmed: int, pending: int) -> list[Registration]:
    """`confirmed` registrations confirmed a minute apart from T0 on, `pending` more."""
    store = DynamoDBStore(stack.seeding_client(), stack.table)
    made = []
    for i in range(confirmed + pending):
        r = reg(i, T0 + timedelta(seconds=i))
        store.create_pending(r, address_limit=OFF, client_key=None, client_limit=OFF)
        if i < confirmed:
            store.confirm(r.id, r.addr_key, T0 + timedelta(minutes=i + 1))
        made.append(r)
    return made


@pytest.fixture
def stack() -> Iterator[OperatorStack]:
    with operator_stack() as s:
        yield s


def run(stack: OperatorStack, command: str, *argv: str) -> tuple[int, str]:
    out = io.StringIO()
    with stack.acting_as(command):
        code = main([command, "--stack", stack.name, "--region", REGION, *argv], out=out)
    return code, out.getvalue()


def test_export_since_reads_the_confirmed_index_in_order_and_never_scans(
    stack: OperatorStack,
) -> None:
    made = seed(stack, confirmed=24, pending=3)
    since = T0 + timedelta(minutes=13)  # inclusive: the 13th confirmation (index 12) is in
    code, out = run(stack, "export", "--format", "ndjson", "--since", since.isoformat())
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["id"] for r in rows] == [r.id for r in made[12:24]]  # exactly the newer ones
    assert rows[0]["confirmed_at"] == since.isoformat()
    assert {r["status"] for r in rows} == {"CONFIRMED"}
    ops = stack.operations("export")
    assert "dynamodb.Scan" not in ops
    queries = [c for c in stack.calls if c.operation == "Query"]
    assert {q.params["IndexName"] for q in queries} == {keys.CONFIRMED_INDEX}
    shards = {q.params["ExpressionAttributeValues"][":shard"]["S"] for q in queries}
    assert shards == set(keys.confirmed_shards())  # every shard read, each by its key
    assert len({keys.confirmed_shard(r.id) for r in made[:24]}) > 4  # spread, not one hot


def test_export_json_and_csv_and_pending_by_scan(stack: OperatorStack, tmp_path: object) -> None:
    made = seed(stack, confirmed=3, pending=2)
    code, out = run(stack, "export", "--format", "json")
    assert code == 0
    assert [d["id"] for d in json.loads(out)] == [r.id for r in made[:3]]
    code, out = run(stack, "export", "--status", "pending", "--format", "csv")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == (
        "id,name,email,status,language,timestamp,confirmed_at,signup_ip,signup_user_agent,"
        "signup_consent_version,confirm_ip,confirm_user_agent,confirm_consent_version"
    )
    assert sorted(line.split(",")[0] for line in lines[1:]) == sorted(r.id for r in made[3:])
    assert "dynamodb.Scan" in stack.operations("export")  # pending: a filtered Scan


def test_list_stats_and_delete_on_the_stack(stack: OperatorStack) -> None:
    made = seed(stack, confirmed=2, pending=1)
    code, out = run(stack, "list")
    assert code == 0 and out.strip().endswith("3 registrations")
    assert "p0@example.com" not in out and "p***@example.com" in out
    code, out = run(stack, "stats", "--days", "2", "--chart", "always")
    assert code == 0
    assert "pending: 1\nconfirmed: 2\n" in out
    assert "mail_backlog: in the stream owed, 0 parked" in out
    assert "confirmation_rate: 66.7% (2 of 3" in out
    by_day = {x.split()[0]: x.split()[1:3] for x in out.splitlines() if x[:2] == "20"}
    registered = {d: str(sum(r.timestamp.date().isoformat() == d for r in made)) for d in by_day}
    confirmed_on = [(T0 + timedelta(minutes=m)).date().isoformat() for m in (1, 2)]
    assert by_day == {d: [registered[d], str(confirmed_on.count(d))] for d in by_day}
    assert list(by_day) == [(NOW.date() - timedelta(days=1)).isoformat(), NOW.date().isoformat()]
    assert "#" in out and "=" in out  # the bars
    code, out = run(stack, "delete", "--email", made[0].email)
    assert (code, out) == (0, "deleted 1 registration of p***@example.com\n")
    code, out = run(stack, "list", "--full")
    assert made[0].email not in out and out.strip().endswith("2 registrations")


def test_resend_on_the_stack_sends_limits_and_says_why_not(stack: OperatorStack) -> None:
    store = DynamoDBStore(stack.seeding_client(), stack.table)
    pending = reg(1, NOW - timedelta(hours=2), "pending@example.com")
    confirmed = reg(2, NOW - timedelta(hours=2), "done@example.com")
    for r in (pending, confirmed):
        store.create_pending(r, address_limit=OFF, client_key=None, client_limit=OFF)
    store.confirm(confirmed.id, confirmed.addr_key, NOW - timedelta(hours=1))

    code, out = run(stack, "resend", "--email", "Pending@Example.com")
    assert (code, out.split(":")[0]) == (0, "sent")
    fresh = [r for r in store.registrations_of(pending.addr_key) if r.id != pending.id]
    assert [(r.status, r.name, r.language) for r in fresh] == [(Status.PENDING, "Person 1", "de")]
    # a second one at once: the stack's AddressMinIntervalSeconds (60) says no, as for a post
    code, out = run(stack, "resend", "--email", "pending@example.com")
    assert (code, out.split(":")[0]) == (1, "limited")
    assert len(store.registrations_of(pending.addr_key)) == 2  # nothing written
    code, out = run(stack, "resend", "--email", "done@example.com")
    assert (code, out) == (1, "confirmed: d***@example.com is confirmed already; nothing sent\n")
    code, out = run(stack, "resend", "--email", "nobody@example.com")
    assert (code, out.split(":")[0]) == (1, "unknown")


def test_resend_uses_the_stacks_own_limits() -> None:
    with operator_stack(AddressMinIntervalSeconds="0", AddressLimitPerDay="2") as stack:
        store = DynamoDBStore(stack.seeding_client(), stack.table)
        r = reg(1, NOW - timedelta(hours=1), "twice@example.com")
        store.create_pending(r, address_limit=OFF, client_key=None, client_limit=OFF)
        answers = [run(stack, "resend", "--email", r.email)[1].split(":")[0] for _ in range(3)]
        assert answers == ["sent", "sent", "limited"]  # 2 a day, no interval


def test_an_unknown_stack_or_missing_output_is_a_clear_error(
    stack: OperatorStack, capsys: pytest.CaptureFixture[str]
) -> None:
    out = io.StringIO()
    assert main(["list", "--stack", "nope", "--region", REGION], out=out) == 2
    assert "Stack with id nope does not exist" in capsys.readouterr().err
    stack.outputs.clear()
    assert main(["stats", "--stack", stack.name], out=out) == 2
    assert "has no TableName output" in capsys.readouterr().err


def test_reindex_adds_registrations_confirmed_before_the_index(stack: OperatorStack) -> None:
    """A table from before this version: its confirmed items lack `confirmedShard`, so the
    index does not hold them until `regflow reindex` (once) puts them in."""
    import dataclasses

    client = stack.seeding_client()
    old = dataclasses.replace(
        reg(7, T0), status=Status.CONFIRMED, ttl=None, confirmed_at=T0 + timedelta(seconds=30)
    )
    client.put_item(TableName=stack.table, Item=keys.registration_item(old))
    [new] = seed(stack, confirmed=1, pending=0)
    assert [d["id"] for d in json.loads(run(stack, "export", "--format", "json")[1])] == [new.id]
    assert run(stack, "reindex") == (
        0,
        "1 confirmed registration added to the ConfirmedRegistrations index\n",
    )
    exported = json.loads(run(stack, "export", "--format", "json")[1])
    assert [d["id"] for d in exported] == [old.id, new.id]  # in confirmation order
    assert run(stack, "reindex")[1].startswith("0 confirmed registrations")


def test_the_index_is_in_the_template_and_written_by_the_one_confirm_call() -> None:
    from tests.support.aws import count_calls, dynamodb_store, table_properties

    props = table_properties()
    [index] = [
        i for i in props["GlobalSecondaryIndexes"] if i["IndexName"] == "ConfirmedRegistrations"
    ]
    assert index["KeySchema"] == [
        {"AttributeName": keys.CONFIRMED_SHARD, "KeyType": "HASH"},
        {"AttributeName": keys.CONFIRMED_AT, "KeyType": "RANGE"},
    ]
    assert index["Projection"] == {"ProjectionType": "ALL"}  # an export needs every field
    types = {d["AttributeName"]: d["AttributeType"] for d in props["AttributeDefinitions"]}
    assert (types["confirmedShard"], types["confirmedAt"]) == ("S", "S")
    with dynamodb_store(private_client=True) as store:
        r = reg(5, NOW)
        store.create_pending(r, address_limit=OFF, client_key=None, client_limit=OFF)
        calls = count_calls([store._client])
        store.confirm(r.id, r.addr_key, NOW + timedelta(seconds=1))
        assert calls == {"dynamodb.TransactWriteItems": 1}  # still one DynamoDB call
        item = store._client.get_item(TableName=store._table, Key=keys.key(keys.reg_pk(r.id)))
        assert item["Item"][keys.CONFIRMED_SHARD] == {"S": keys.confirmed_shard(r.id)}
        pending = reg(6, NOW)
        store.create_pending(pending, address_limit=OFF, client_key=None, client_limit=OFF)
        raw = store._client.get_item(TableName=store._table, Key=keys.key(keys.reg_pk(pending.id)))
        assert keys.CONFIRMED_SHARD not in raw["Item"]  # sparse: pending ones stay out


def test_throttled_index_writes_page_like_the_tables_own() -> None:
    from tests.support.aws import load_template

    alarm = load_template()["Resources"]["DynamoDBThrottlesAlarm"]["Properties"]
    [query] = [m for m in alarm["Metrics"] if m["Id"] == "confirmedwrites"]
    dimensions = {d["Name"]: d["Value"] for d in query["MetricStat"]["Metric"]["Dimensions"]}
    assert dimensions["GlobalSecondaryIndexName"] == keys.CONFIRMED_INDEX
    assert query["MetricStat"]["Metric"]["MetricName"] == "WriteThrottleEvents"
    [total] = [m for m in alarm["Metrics"] if m.get("ReturnData")]
    assert "FILL(confirmedwrites, 0)" in total["Expression"]
