"""DynamoDBStore against a scripted client: the requests it makes, and how it reads
cancellation reasons, conflicts, throttling and outages (by error code, never by text).

Every attribute is named through a `#name` placeholder (`expressions.Expression`)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from regflow.adapters.dynamodb import DynamoDBStore, keys, registration_from_item, registration_item
from regflow.domain import (
    ClaimedMessage,
    ClientRateLimited,
    CreateResult,
    Limit,
    Message,
    MessageKind,
    Outcome,
    Registration,
    Status,
    StoreUnavailable,
)

T0 = datetime(2026, 11, 26, 12, 0, 0, 500, tzinfo=UTC)
NOW = int(T0.timestamp())
ADDRESS = Limit(max_count=5, window_seconds=86400, min_interval_seconds=60)
CLIENT = Limit(max_count=20, window_seconds=3600)
OFF = Limit(max_count=0, window_seconds=3600)


def reg(ttl_hours: int = 24) -> Registration:
    return Registration(
        id="AAAAAAAAAAAAAAAAAAAAAA",
        name="Jane",
        email="jane@example.com",
        status=Status.PENDING,
        timestamp=T0,
        ttl=int((T0 + timedelta(hours=ttl_hours)).timestamp()),
    )


def cancelled(*reasons: dict[str, Any]) -> ClientError:
    # botocore-stubs types a reason's `Item` as {key, value}; DynamoDB sends the item's
    # attribute map (name -> {"S": ...}), which is what these are.
    as_sent: list[Any] = list(reasons)
    return ClientError(
        {
            "Error": {"Code": "TransactionCanceledException", "Message": "whatever text"},
            "CancellationReasons": as_sent,
            "ResponseMetadata": {
                "RequestId": "R",
                "HostId": "",
                "HTTPStatusCode": 400,
                "HTTPHeaders": {},
                "RetryAttempts": 0,
            },
        },
        "TransactWriteItems",
    )


def error(code: str, status: int = 400) -> ClientError:
    return ClientError(
        {
            "Error": {"Code": code, "Message": "m"},
            "ResponseMetadata": {
                "RequestId": "R",
                "HostId": "",
                "HTTPStatusCode": status,
                "HTTPHeaders": {},
                "RetryAttempts": 0,
            },
        },
        "TransactWriteItems",
    )


OK: dict[str, Any] = {"Code": "None"}
FAILED: dict[str, Any] = {
    "Code": "ConditionalCheckFailed",
    "Message": "The conditional request failed",
}


def counter(window_start: int, count: int, last_at: int) -> dict[str, Any]:
    """A fixed-window counter item: the client limit's."""
    return {
        "pk": {"S": "LIMIT#..."},
        "windowStart": {"N": str(window_start)},
        "count": {"N": str(count)},
        "lastAt": {"N": str(last_at)},
    }


def send_log(*times: int) -> dict[str, Any]:
    """A per-address sliding-log item."""
    return {
        "pk": {"S": "LIMIT#ADDR#..."},
        "sends": {"L": [{"N": str(t)} for t in times]},
        "lastAt": {"N": str(max(times))},
    }


def numbers(value: dict[str, Any]) -> list[int]:
    return [int(v["N"]) for v in value["L"]]


class ScriptedClient:
    """Answers transact_write_items from a script: an exception to raise or None (success)."""

    def __init__(self, *script: Exception | None) -> None:
        self.script = list(script)
        self.requests: list[list[dict[str, Any]]] = []

    def transact_write_items(self, *, TransactItems: list[dict[str, Any]]) -> dict[str, Any]:
        self.requests.append(TransactItems)
        outcome = self.script.pop(0) if self.script else None
        if outcome is not None:
            raise outcome
        return {}


def store(client: ScriptedClient, sleeps: list[float] | None = None) -> DynamoDBStore:
    slept = sleeps if sleeps is not None else []
    return DynamoDBStore(client, "T", sleep=slept.append)  # type: ignore[arg-type]


def create(s: DynamoDBStore, *, client: str | None = "203.0.113.9") -> CreateResult:
    return s.create_pending(reg(), address_limit=ADDRESS, client_key=client, client_limit=CLIENT)


# --- request shape ------------------------------------------------------------------------


def test_register_is_one_transaction_of_put_and_counters() -> None:
    client = ScriptedClient()
    assert create(store(client)) is CreateResult.CREATED
    [items] = client.requests
    put, ip, addr = items
    assert put["Put"]["Item"] == registration_item(reg())
    assert put["Put"]["ConditionExpression"] == "attribute_not_exists(#pk)"
    assert ip["Update"]["Key"] == {"pk": {"S": "LIMIT#IP#203.0.113.9"}}
    assert addr["Update"]["Key"]["pk"]["S"].startswith("LIMIT#ADDR#")
    for update in (ip, addr):
        assert update["Update"]["ReturnValuesOnConditionCheckFailure"] == "ALL_OLD"
        values = update["Update"]["ExpressionAttributeValues"]
        assert int(values[":ttl"]["N"]) > NOW  # counters expire
    assert "#lastAt <= :lastCutoff" in addr["Update"]["ConditionExpression"]
    assert "lastAt" not in ip["Update"]["ConditionExpression"]  # the client limit has no interval
    # the address log: appended to while it holds fewer than max_count sends, judged by DynamoDB
    update = addr["Update"]
    values = update["ExpressionAttributeValues"]
    assert update["ConditionExpression"] == (
        "attribute_not_exists(#pk) OR (#lastAt <= :lastCutoff AND size(#sends) < :max)"
    )
    assert values[":max"] == {"N": "5"}
    assert values[":lastCutoff"] == {"N": str(NOW - 60)}
    assert (
        "#sends = list_append(if_not_exists(#sends, :empty), :nowList)"
        in (update["UpdateExpression"])
    )
    assert numbers(values[":nowList"]) == [NOW]
    assert values[":ttl"] == {"N": str(NOW + 86400)}  # newest send + window


def test_address_interval_without_a_cap_keeps_only_the_last_send() -> None:
    client = ScriptedClient()
    interval_only = Limit(max_count=0, window_seconds=86400, min_interval_seconds=60)
    s = store(client)
    assert s.create_pending(reg(), address_limit=interval_only, client_key=None, client_limit=OFF)
    [[_put, addr]] = client.requests
    update = addr["Update"]
    assert update["ConditionExpression"] == "attribute_not_exists(#pk) OR #lastAt <= :lastCutoff"
    assert update["UpdateExpression"] == "SET #sends = :nowList, #lastAt = :now, #ttl = :ttl"
    assert update["ExpressionAttributeValues"][":ttl"] == {"N": str(NOW + 60)}


def test_disabled_limits_write_no_counters() -> None:
    client = ScriptedClient()
    s = store(client)
    assert s.create_pending(reg(), address_limit=OFF, client_key="c", client_limit=OFF) is (
        CreateResult.CREATED
    )
    assert [list(i) for i in client.requests[0]] == [["Put"]]


def test_registration_item_keeps_the_seed_attribute_names() -> None:
    item = registration_item(reg())
    assert set(item) == {
        "pk",
        "id",
        "name",
        "email",
        "addrKey",
        "status",
        "timestamp",
        "ttl",
        "language",
    }
    assert item["status"] == {"S": "PENDING"}
    assert item["language"] == {"S": "en"}
    assert item["timestamp"] == {"S": "2026-11-26T12:00:00.000500+00:00"}
    assert item["ttl"] == {"N": str(NOW + 86400)}


def test_confirm_is_one_transaction_with_expiry_in_the_condition() -> None:
    client = ScriptedClient()
    assert store(client).confirm("AAAAAAAAAAAAAAAAAAAAAA", "ab" * 16, T0) is Outcome.CONFIRMED
    [[update_reg, lock]] = client.requests
    cond = update_reg["Update"]["ConditionExpression"]
    assert "#ttl > :now" in cond and "#status = :pending" in cond and "#addrKey = :addr" in cond
    assert "REMOVE #ttl" in update_reg["Update"]["UpdateExpression"]
    assert lock["Update"]["Key"] == {"pk": {"S": f"ADDR#{'ab' * 16}"}}
    assert lock["Update"]["ConditionExpression"] == "attribute_not_exists(#confirmedId)"


# --- outcomes from the old items ------------------------------------------------------------


def test_client_limit_from_the_old_item_without_a_read() -> None:
    full = counter(NOW - 600, 20, NOW - 10)
    client = ScriptedClient(cancelled(OK, {**FAILED, "Item": full}, OK))
    with pytest.raises(ClientRateLimited) as info:
        create(store(client))
    assert info.value.retry_after == 3600 - 600
    assert len(client.requests) == 1


@pytest.mark.parametrize(
    "old",
    [
        send_log(NOW - 30),  # the minimum interval
        send_log(NOW - 86399, NOW - 7200, NOW - 3600, NOW - 600, NOW - 61),  # 5 in 24 h
    ],
)
def test_address_limit_from_the_old_item(old: dict[str, Any]) -> None:
    client = ScriptedClient(cancelled(OK, OK, {**FAILED, "Item": old}))
    assert create(store(client)) is CreateResult.ADDRESS_LIMITED
    # issue 9: then the client is counted like any other post, in one more (one-item) call
    assert len(client.requests) == 2
    [count] = client.requests[1]
    assert count["Update"]["Key"]["pk"]["S"].startswith("LIMIT#IP#")


def test_client_limit_wins_over_address_limit() -> None:
    client = ScriptedClient(
        cancelled(
            OK,
            {**FAILED, "Item": counter(NOW - 60, 20, NOW - 1)},
            {**FAILED, "Item": send_log(NOW - 30)},
        )
    )
    with pytest.raises(ClientRateLimited):
        create(store(client))


def test_client_window_over_restarts_the_counter_conditioned_on_the_old_start() -> None:
    old_start = NOW - 3600 - 5
    stale = counter(old_start, 20, NOW - 100)
    client = ScriptedClient(cancelled(OK, {**FAILED, "Item": stale}, OK), None)
    assert create(store(client)) is CreateResult.CREATED
    assert len(client.requests) == 2
    retry = client.requests[1][1]["Update"]
    assert retry["ConditionExpression"] == "#windowStart = :oldStart"
    assert retry["ExpressionAttributeValues"][":oldStart"] == {"N": str(old_start)}
    assert retry["UpdateExpression"].startswith("SET #count = :one, #windowStart = :now")
    # the address log that had passed keeps its normal append
    assert "list_append" in client.requests[1][2]["Update"]["UpdateExpression"]


def test_someone_else_restarting_the_client_window_first_is_handled() -> None:
    stale = counter(NOW - 3700, 20, NOW - 200)
    restarted = counter(NOW, 1, NOW)  # a concurrent post restarted it a moment ago
    client = ScriptedClient(
        cancelled(OK, {**FAILED, "Item": stale}, OK),
        cancelled(OK, {**FAILED, "Item": restarted}, OK),
        None,
    )
    assert create(store(client)) is CreateResult.CREATED
    assert len(client.requests) == 3
    third = client.requests[2][1]["Update"]
    assert "#windowStart > :windowCutoff AND #count < :max" in third["ConditionExpression"]


def test_full_address_log_is_pruned_and_swapped_conditioned_on_the_old_log() -> None:
    old = [NOW - 86400 - 5, NOW - 86400 + 100, NOW - 7200, NOW - 3600, NOW - 600]
    client = ScriptedClient(cancelled(OK, OK, {**FAILED, "Item": send_log(*old)}), None)
    assert create(store(client)) is CreateResult.CREATED
    assert len(client.requests) == 2
    retry = client.requests[1][2]["Update"]
    values = retry["ExpressionAttributeValues"]
    assert retry["ConditionExpression"] == (
        "#sends = :oldSends AND #lastAt = :oldLast AND #lastAt <= :lastCutoff"
    )
    assert numbers(values[":oldSends"]) == old
    assert values[":oldLast"] == {"N": str(NOW - 600)}
    # the send older than the window is gone, the new one appended: still at most max_count
    assert numbers(values[":sends"]) == [*old[1:], NOW]
    assert retry["UpdateExpression"] == "SET #sends = :sends, #lastAt = :now, #ttl = :ttl"
    assert values[":ttl"] == {"N": str(NOW + 86400)}
    # the client counter that had passed keeps its normal update
    assert "ADD #count :one" in client.requests[1][1]["Update"]["UpdateExpression"]


def test_every_attribute_is_named_through_a_placeholder() -> None:
    client = ScriptedClient()
    create(store(client))
    store(client).confirm("AAAAAAAAAAAAAAAAAAAAAA", "ab" * 16, T0)
    for request in client.requests:
        for entry in request:
            ((_, params),) = entry.items()
            names = params.get("ExpressionAttributeNames", {})
            assert all(placeholder == f"#{name}" for placeholder, name in names.items())
            expression = " ".join(
                params.get(k, "") for k in ("UpdateExpression", "ConditionExpression")
            )
            for placeholder in re.findall(r"#\w+", expression):
                assert placeholder in names
            for placeholder in re.findall(r":\w+", expression):
                assert placeholder in params["ExpressionAttributeValues"]


def test_someone_else_changing_the_log_first_is_judged_again() -> None:
    stale = send_log(NOW - 90000, NOW - 89000, NOW - 7200, NOW - 3600, NOW - 600)
    appended = send_log(NOW - 89000, NOW - 7200, NOW - 3600, NOW - 600, NOW)  # a concurrent post
    client = ScriptedClient(
        cancelled(OK, OK, {**FAILED, "Item": stale}),
        cancelled(OK, OK, {**FAILED, "Item": appended}),
    )
    assert create(store(client)) is CreateResult.ADDRESS_LIMITED  # min interval now applies
    assert len(client.requests) == 3  # the last counts the client (issue 9)


def test_a_log_changed_under_each_attempt_ends_as_store_unavailable() -> None:
    no_interval = Limit(max_count=5, window_seconds=86400)
    # every attempt finds a different full log with a stale entry: always worth another swap
    reasons = [
        cancelled(OK, {**FAILED, "Item": send_log(NOW - 90000 - i, *range(NOW - 4, NOW))})
        for i in range(10)
    ]
    client = ScriptedClient(*reasons)
    with pytest.raises(StoreUnavailable):
        store(client).create_pending(
            reg(), address_limit=no_interval, client_key=None, client_limit=OFF
        )
    assert len(client.requests) == 4  # bounded: max_attempts + 1 rounds
    swaps = [r[1]["Update"] for r in client.requests[1:]]
    assert all(u["ConditionExpression"].startswith("#sends = :oldSends") for u in swaps)


@pytest.mark.parametrize(
    ("old", "outcome"),
    [
        (None, Outcome.INVALID),
        ({"addrKey": {"S": "cd" * 16}, "status": {"S": "PENDING"}}, Outcome.INVALID),
        ({"addrKey": {"S": "ab" * 16}, "status": {"S": "CONFIRMED"}}, Outcome.ALREADY_CONFIRMED),
        (
            {"addrKey": {"S": "ab" * 16}, "status": {"S": "PENDING"}, "ttl": {"N": str(NOW)}},
            Outcome.EXPIRED,
        ),
    ],
)
def test_confirm_outcomes_from_the_old_registration(
    old: dict[str, Any] | None, outcome: Outcome
) -> None:
    reason = {**FAILED, "Item": old} if old else FAILED
    client = ScriptedClient(cancelled(reason, OK))
    assert store(client).confirm("AAAAAAAAAAAAAAAAAAAAAA", "ab" * 16, T0) is outcome
    assert len(client.requests) == 1


def test_confirm_address_already_locked() -> None:
    client = ScriptedClient(cancelled(OK, {**FAILED, "Item": {"confirmedId": {"S": "other"}}}))
    assert store(client).confirm("AAAAAAAAAAAAAAAAAAAAAA", "ab" * 16, T0) is (
        Outcome.ALREADY_CONFIRMED
    )


# --- conflicts, throttling, outages -----------------------------------------------------------


def test_transaction_conflict_is_retried_with_a_short_backoff() -> None:
    sleeps: list[float] = []
    client = ScriptedClient(cancelled({"Code": "TransactionConflict"}, OK), None)
    assert store(client, sleeps).confirm("AAAAAAAAAAAAAAAAAAAAAA", "ab" * 16, T0) is (
        Outcome.CONFIRMED
    )
    assert len(client.requests) == 2
    assert len(sleeps) == 1 and 0 <= sleeps[0] <= 0.1


def test_endless_conflicts_become_store_unavailable() -> None:
    sleeps: list[float] = []
    conflict = cancelled(OK, {"Code": "TransactionConflict"})
    client = ScriptedClient(*[conflict] * 10)
    with pytest.raises(StoreUnavailable):
        create(store(client, sleeps), client=None)
    assert len(client.requests) == 3 and len(sleeps) == 2


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("ProvisionedThroughputExceededException", 400),
        ("ThrottlingException", 400),
        ("RequestLimitExceeded", 400),
        ("InternalServerError", 500),
        ("SomethingNew", 503),
    ],
)
def test_throttling_and_outages_are_store_unavailable(code: str, status: int) -> None:
    client = ScriptedClient(error(code, status))
    with pytest.raises(StoreUnavailable) as info:
        create(store(client))
    assert info.value.retry_after >= 1
    assert len(client.requests) == 1


def test_throttled_item_inside_a_transaction_is_store_unavailable() -> None:
    client = ScriptedClient(cancelled(OK, {"Code": "ThrottlingError"}, OK))
    with pytest.raises(StoreUnavailable):
        create(store(client))


def test_connection_errors_are_store_unavailable() -> None:
    client = ScriptedClient(EndpointConnectionError(endpoint_url="https://dynamodb.invalid"))
    with pytest.raises(StoreUnavailable):
        store(client).confirm("AAAAAAAAAAAAAAAAAAAAAA", "ab" * 16, T0)


def test_a_bug_in_the_request_is_not_disguised_as_an_outage() -> None:
    client = ScriptedClient(error("ValidationException"))
    with pytest.raises(ClientError):
        create(store(client))


# --- items ------------------------------------------------------------------------------------


def test_old_items_without_language_read_as_english() -> None:
    item = registration_item(reg())
    del item["language"]
    assert registration_from_item(item).language == "en"


def test_language_and_delivery_failure_round_trip() -> None:
    r = dataclasses.replace(reg(), language="de", delivery_failure="MailboxUnavailable")
    item = registration_item(r)
    assert item["deliveryFailure"] == {"S": "MailboxUnavailable"}
    assert registration_from_item(item) == r


# --- single-item calls: reads, the outbox -------------------------------------------------------


class ItemClient:
    """Answers get_item / update_item / delete_item / scan / query: `answers[operation]` is a
    list of responses or exceptions (a missing or empty list answers {}), or a function of
    the request's parameters."""

    def __init__(self, **answers: list[Any] | Callable[..., dict[str, Any]]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def _answer(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        self.calls.append((operation, params))
        answers = self.answers.get(operation)
        if callable(answers):
            return answers(**params)
        queue = answers or []
        answer = queue.pop(0) if queue else {}
        if isinstance(answer, Exception):
            raise answer
        return dict(answer)

    def get_item(self, **params: Any) -> dict[str, Any]:
        return self._answer("get_item", params)

    def update_item(self, **params: Any) -> dict[str, Any]:
        return self._answer("update_item", params)

    def delete_item(self, **params: Any) -> dict[str, Any]:
        return self._answer("delete_item", params)

    def scan(self, **params: Any) -> dict[str, Any]:
        return self._answer("scan", params)

    def query(self, **params: Any) -> dict[str, Any]:
        return self._answer("query", params)

    def of(self, operation: str) -> list[dict[str, Any]]:
        return [p for op, p in self.calls if op == operation]

    def ops(self) -> list[tuple[str, str]]:
        return [(op, p["Key"]["pk"]["S"]) for op, p in self.calls if "Key" in p]


def item_store(client: ItemClient) -> DynamoDBStore:
    return DynamoDBStore(client, "T", sleep=lambda _: None)  # type: ignore[arg-type]


CHECK = ClientError(
    {"Error": {"Code": "ConditionalCheckFailedException", "Message": "m"}}, "UpdateItem"
)


@pytest.mark.parametrize(
    ("exc", "unavailable"),
    [
        (error("ThrottlingException"), True),
        (error("SomethingNew", 503), True),
        (EndpointConnectionError(endpoint_url="https://dynamodb.invalid"), True),
        (error("ValidationException"), False),
        (error("AccessDeniedException"), False),
    ],
)
def test_reads_tell_outages_from_bugs(exc: Exception, unavailable: bool) -> None:
    s = item_store(ItemClient(get_item=[exc]))
    with pytest.raises(StoreUnavailable if unavailable else ClientError):
        s.get("AAAAAAAAAAAAAAAAAAAAAA")


def parked_item(
    r: Registration, *, attempts: int = 1, parked_at: int = NOW, due: int = NOW
) -> dict[str, Any]:
    message = Message(MessageKind.VERIFICATION, r)
    pk = f"OUTBOX#verification#{r.id}"
    return {
        "pk": {"S": pk},
        **keys.message_attributes(message),
        "attempts": {"N": str(attempts)},
        "lastError": {"S": "Throttling"},
        "parkedAt": {"N": str(parked_at)},
        "firstFailedAt": {"N": str(parked_at)},
        "nextAttemptAt": {"N": str(due)},
        "parkedShard": {"S": keys.parked_shard(pk)},
    }


def by_shard(*pages_of: tuple[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """The Query answers for one pass over the shards (PARKED#0 first): `(shard, pages)`
    pairs give a shard its pages, every other shard answers one empty page."""
    given = dict(pages_of)
    out: list[dict[str, Any]] = []
    for shard in keys.parked_shards():
        out += given.get(shard, [{"Items": []}])
    return out


def shard_of(item: dict[str, Any]) -> str:
    return str(item["parkedShard"]["S"])


def registered(**_: Any) -> dict[str, Any]:
    """A get_item answer: the registration exists."""
    return {"Item": {"pk": {"S": "REG#..."}}}


def claims_of(items: list[dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    """An update_item answer: every claim succeeds and returns the item claimed."""

    def answer(**params: Any) -> dict[str, Any]:
        return {"Attributes": next(i for i in items if i["pk"] == params["Key"]["pk"])}

    return answer


def in_shard(shard: str, n: int) -> list[Registration]:
    """`n` registrations whose parked verification message lands in `shard`."""
    ids = (f"{i:022d}" for i in range(10_000))
    found = [i for i in ids if keys.parked_shard(f"OUTBOX#verification#{i}") == shard]
    return [dataclasses.replace(reg(), id=i) for i in found[:n]]


def test_parked_shard_is_a_stable_hash_of_the_key() -> None:
    # sha256, not hash(): the same in every process (PYTHONHASHSEED) and every version
    assert keys.parked_shard("OUTBOX#verification#AAAAAAAAAAAAAAAAAAAAAA") == "PARKED#1"
    assert keys.parked_shard("OUTBOX#verification#" + "B" * 22) == "PARKED#2"
    assert keys.parked_shards() == [f"PARKED#{i}" for i in range(keys.PARKED_SHARDS)]
    spread = {keys.parked_shard(f"OUTBOX#verification#{i:022d}") for i in range(200)}
    assert spread == set(keys.parked_shards())


def test_park_is_one_update_keeping_the_first_times() -> None:
    client = ItemClient()
    message = Message(MessageKind.VERIFICATION, reg())
    item_store(client).park(message, attempts=2, error="AccessDenied", at=None, now=NOW)
    [(op, params)] = client.calls
    assert op == "update_item"
    assert params["Key"] == {"pk": {"S": "OUTBOX#verification#AAAAAAAAAAAAAAAAAAAAAA"}}
    update = params["UpdateExpression"]
    assert "#parkedAt = if_not_exists(#parkedAt, :now)" in update
    assert "#firstFailedAt = if_not_exists(#firstFailedAt, :now)" in update
    assert update.endswith("REMOVE #nextAttemptAt")  # only an operator retries it: not indexed
    values = params["ExpressionAttributeValues"]
    assert values[":registration"]["M"] == {
        k: v for k, v in registration_item(reg()).items() if k != "pk"
    }
    assert values[":attempts"] == {"N": "2"}
    assert "status" not in params["ExpressionAttributeNames"].values()  # no top-level status


@pytest.mark.parametrize("at", [NOW + 60, None])
def test_park_writes_the_shard_of_the_index(at: int | None) -> None:
    client = ItemClient()
    message = Message(MessageKind.VERIFICATION, reg())
    item_store(client).park(message, attempts=1, error="Throttling", at=at, now=NOW)
    [params] = client.of("update_item")
    assert "#parkedShard = :shard" in params["UpdateExpression"]
    assert params["ExpressionAttributeNames"]["#parkedShard"] == "parkedShard"
    values = params["ExpressionAttributeValues"]
    assert values[":shard"] == {"S": keys.parked_shard(params["Key"]["pk"]["S"])}
    assert values[":shard"] == {"S": "PARKED#1"}
    if at is not None:
        assert "#nextAttemptAt = :at" in params["UpdateExpression"]
        assert values[":at"] == {"N": str(at)}


def test_fail_and_requeue_keep_the_item_in_its_shard() -> None:
    claimed = ClaimedMessage(Message(MessageKind.VERIFICATION, reg()), 2, "c1", NOW)
    client = ItemClient(scan=[{"Items": [parked_item(reg())]}])
    s = item_store(client)
    s.fail(claimed, at=NOW + 30, error="ServiceUnavailable")
    assert s.requeue_parked(NOW + 60) == 1
    fail, requeue = client.of("update_item")
    for params in (fail, requeue):
        assert "#parkedShard = :shard" in params["UpdateExpression"]
        assert params["ExpressionAttributeValues"][":shard"] == {"S": "PARKED#1"}
    assert requeue["ExpressionAttributeValues"][":now"] == {"N": str(NOW + 60)}


def test_claim_queries_every_shard_of_the_sparse_index() -> None:
    client = ItemClient()
    assert item_store(client).claim_due(NOW, 10) == []
    assert client.of("scan") == []  # never the whole table
    queries = client.of("query")
    assert [q["ExpressionAttributeValues"][":shard"] for q in queries] == [
        {"S": f"PARKED#{i}"} for i in range(8)
    ]
    for q in queries:
        assert q["TableName"] == "T"
        assert q["IndexName"] == "ParkedMessages"
        assert q["KeyConditionExpression"] == "#parkedShard = :shard AND #nextAttemptAt <= :now"
        assert q["FilterExpression"] == (
            "attribute_not_exists(#claimedUntil) OR #claimedUntil <= :now"
        )
        assert q["ExpressionAttributeNames"] == {
            "#parkedShard": "parkedShard",
            "#nextAttemptAt": "nextAttemptAt",
            "#claimedUntil": "claimedUntil",
        }
        assert q["ExpressionAttributeValues"][":now"] == {"N": str(NOW)}
        assert q["ScanIndexForward"] is True  # earliest due first
        assert q["Limit"] == 11  # the batch, and one to see whether the next is a tie
        assert "ConsistentRead" not in q  # a global secondary index cannot read consistently


def test_claim_is_a_conditional_update_with_a_lease() -> None:
    item = parked_item(reg(), attempts=2)
    claimed_item = {**item, "attempts": {"N": "3"}}
    client = ItemClient(
        query=by_shard((shard_of(item), [{"Items": [item]}])),
        get_item=[{"Item": {"pk": {"S": "REG#AAAAAAAAAAAAAAAAAAAAAA"}}}],
        update_item=[{"Attributes": claimed_item}],
    )
    [claimed] = item_store(client).claim_due(NOW, 10)
    assert (claimed.attempts, claimed.first_failed_at) == (3, NOW)
    assert claimed.message == Message(MessageKind.VERIFICATION, reg())
    [update] = client.of("update_item")
    assert update["Key"] == {"pk": item["pk"]}
    # the index is eventually consistent: the item itself decides
    assert update["ConditionExpression"] == (
        "attribute_exists(#pk) AND #nextAttemptAt <= :now"
        " AND (attribute_not_exists(#claimedUntil) OR #claimedUntil <= :now)"
    )
    assert update["ExpressionAttributeValues"][":lease"] == {"N": str(NOW + 600.0)}
    assert update["ExpressionAttributeValues"][":claim"] == {"S": claimed.claim}
    assert "ADD #attempts :one" in update["UpdateExpression"]
    assert update["ReturnValues"] == "ALL_NEW"


def test_claim_merges_the_shards_oldest_parked_first_up_to_the_limit() -> None:
    regs = [dataclasses.replace(reg(), id=c * 22) for c in "ABCDEFGH"]
    # the earlier one was parked, the later it is due: the index's order is not the answer
    items = [parked_item(r, parked_at=NOW - 10 * i, due=NOW - 7 + i) for i, r in enumerate(regs)]
    shards: dict[str, list[dict[str, Any]]] = {}
    for item in sorted(items, key=lambda i: int(i["nextAttemptAt"]["N"])):
        shards.setdefault(shard_of(item), []).append(item)
    assert len(shards) > 1
    client = ItemClient(
        query=by_shard(*((shard, [{"Items": found}]) for shard, found in shards.items())),
        get_item=registered,
        update_item=claims_of(items),
    )
    assert len(item_store(client).claim_due(NOW, 3)) == 3
    claimed = [u["Key"]["pk"]["S"] for u in client.of("update_item")]
    assert claimed == [i["pk"]["S"] for i in reversed(items)][:3]


def test_claim_reads_a_shard_only_as_far_as_the_batch_and_its_ties() -> None:
    regs = in_shard("PARKED#0", 6)
    # due at NOW - 5 (two), then three tied at NOW - 3, then one at NOW - 1
    dues = [NOW - 5, NOW - 5, NOW - 3, NOW - 3, NOW - 3, NOW - 1]
    items = [
        parked_item(r, parked_at=NOW - 10 * i, due=due)
        for i, (r, due) in enumerate(zip(regs, dues, strict=True))
    ]
    page1 = {"Items": items[:4], "LastEvaluatedKey": {"pk": items[3]["pk"]}}
    page2 = {"Items": items[4:], "LastEvaluatedKey": {"pk": items[5]["pk"]}}
    client = ItemClient(
        query=by_shard(("PARKED#0", [page1, page2])),
        get_item=registered,
        update_item=claims_of(items),
    )
    assert len(item_store(client).claim_due(NOW, 3)) == 3
    shard0 = [
        q for q in client.of("query") if q["ExpressionAttributeValues"][":shard"]["S"] == "PARKED#0"
    ]
    assert len(shard0) == 2  # it stopped at the first item after the tie: no third page
    assert shard0[1]["ExclusiveStartKey"] == {"pk": items[3]["pk"]}
    # candidates: the two earliest due and the whole tie; the oldest parked of them win
    claimed = [u["Key"]["pk"]["S"] for u in client.of("update_item")]
    assert claimed == [i["pk"]["S"] for i in (items[4], items[3], items[2])]


def test_claim_skips_what_another_sender_won_and_drops_orphans() -> None:
    won = parked_item(reg())
    gone = parked_item(dataclasses.replace(reg(), id="B" * 22))
    client = ItemClient(
        query=by_shard(
            (shard_of(won), [{"Items": [won]}]),
            (shard_of(gone), [{"Items": [gone]}]),
        ),
        get_item=[{"Item": {"pk": {"S": "REG#A"}}}, {}],
        update_item=[CHECK],
    )
    assert item_store(client).claim_due(NOW, 10) == []
    assert ("delete_item", gone["pk"]["S"]) in client.ops()
    assert ("delete_item", won["pk"]["S"]) not in client.ops()
    [delete] = client.of("delete_item")
    assert delete["ConditionExpression"] == "attribute_exists(#pk)"
    assert len(client.of("query")) == 8  # nothing left unread: one pass


def test_a_batch_of_orphans_reads_the_index_again() -> None:
    gone, live = (parked_item(r, due=NOW - i) for i, r in enumerate(in_shard("PARKED#3", 2)))
    client = ItemClient(
        query=by_shard(("PARKED#3", [{"Items": [gone, live]}]))
        + by_shard(("PARKED#3", [{"Items": [live]}])),
        get_item=[{}, {"Item": {"pk": {"S": "REG#..."}}}],
        update_item=claims_of([live]),
    )
    [claimed] = item_store(client).claim_due(NOW, 1)
    assert claimed.message.registration.id == live["regId"]["S"]
    assert ("delete_item", gone["pk"]["S"]) in client.ops()
    assert len(client.of("query")) == 16  # the orphan left the batch empty: a second pass


def test_complete_and_fail_are_conditioned_on_the_claim() -> None:
    claimed = ClaimedMessage(Message(MessageKind.VERIFICATION, reg()), 2, "c1", NOW)
    client = ItemClient(delete_item=[CHECK])  # the lease ran out, another sender holds it
    s = item_store(client)
    s.complete(claimed)
    s.fail(claimed, at=NOW + 30, error="ServiceUnavailable")
    for _, params in client.calls:
        assert params["ConditionExpression"] == "#claimId = :claim"
        assert params["ExpressionAttributeValues"][":claim"] == {"S": "c1"}
    update = client.calls[1][1]["UpdateExpression"]
    assert update.endswith("REMOVE #claimedUntil, #claimId")


@pytest.mark.parametrize("registration_gone", [False, True])
def test_drop_records_the_failure_then_deletes_the_parked_copy(registration_gone: bool) -> None:
    client = ItemClient(update_item=[CHECK] if registration_gone else [])
    item_store(client).drop(Message(MessageKind.VERIFICATION, reg()), error="MessageRejected")
    assert client.ops() == [
        ("update_item", "REG#AAAAAAAAAAAAAAAAAAAAAA"),
        ("delete_item", "OUTBOX#verification#AAAAAAAAAAAAAAAAAAAAAA"),
    ]
    update = client.calls[0][1]
    assert update["UpdateExpression"] == "SET #deliveryFailure = :error"
    assert update["ConditionExpression"] == "attribute_exists(#pk)"
