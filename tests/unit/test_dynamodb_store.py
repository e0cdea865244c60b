"""DynamoDBStore against a scripted client: the requests it makes, and how it reads
cancellation reasons, conflicts, throttling and outages (by error code, never by text)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from regflow.adapters.dynamodb import DynamoDBStore, registration_item
from regflow.domain import (
    ClientRateLimited,
    CreateResult,
    Limit,
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
    """A fixed-window counter item: the client limit's (and a legacy address limit's)."""
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
    assert put["Put"]["ConditionExpression"] == "attribute_not_exists(pk)"
    assert ip["Update"]["Key"] == {"pk": {"S": "LIMIT#IP#203.0.113.9"}}
    assert addr["Update"]["Key"]["pk"]["S"].startswith("LIMIT#ADDR#")
    for update in (ip, addr):
        assert update["Update"]["ReturnValuesOnConditionCheckFailure"] == "ALL_OLD"
        values = update["Update"]["ExpressionAttributeValues"]
        assert int(values[":ttl"]["N"]) > NOW  # counters expire
    assert "lastAt <= :lastCutoff" in addr["Update"]["ConditionExpression"]
    assert "lastAt" not in ip["Update"]["ConditionExpression"]  # the client limit has no interval
    # the address log: appended to while it holds fewer than max_count sends, judged by DynamoDB
    update = addr["Update"]
    values = update["ExpressionAttributeValues"]
    assert update["ConditionExpression"] == (
        "attribute_not_exists(pk) OR (lastAt <= :lastCutoff AND attribute_exists(sends)"
        " AND size(sends) < :max)"
    )
    assert values[":max"] == {"N": "5"}
    assert values[":lastCutoff"] == {"N": str(NOW - 60)}
    assert (
        "sends = list_append(if_not_exists(sends, :empty), :nowList)"
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
    assert update["ConditionExpression"] == "attribute_not_exists(pk) OR (lastAt <= :lastCutoff)"
    assert update["UpdateExpression"] == "SET sends = :nowList, lastAt = :now, #ttl = :ttl"
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
    assert set(item) == {"pk", "id", "name", "email", "addrKey", "status", "timestamp", "ttl"}
    assert item["status"] == {"S": "PENDING"}
    assert item["timestamp"] == {"S": "2026-11-26T12:00:00.000500+00:00"}
    assert item["ttl"] == {"N": str(NOW + 86400)}


def test_confirm_is_one_transaction_with_expiry_in_the_condition() -> None:
    client = ScriptedClient()
    assert store(client).confirm("AAAAAAAAAAAAAAAAAAAAAA", "ab" * 16, T0) is Outcome.CONFIRMED
    [[update_reg, lock]] = client.requests
    cond = update_reg["Update"]["ConditionExpression"]
    assert "#ttl > :now" in cond and "#status = :pending" in cond and "addrKey = :addr" in cond
    assert "REMOVE #ttl" in update_reg["Update"]["UpdateExpression"]
    assert lock["Update"]["Key"] == {"pk": {"S": f"ADDR#{'ab' * 16}"}}
    assert lock["Update"]["ConditionExpression"] == "attribute_not_exists(confirmedId)"


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
        counter(NOW - 7200, 5, NOW - 3600),  # a legacy fixed-window counter, full
    ],
)
def test_address_limit_from_the_old_item(old: dict[str, Any]) -> None:
    client = ScriptedClient(cancelled(OK, OK, {**FAILED, "Item": old}))
    assert create(store(client)) is CreateResult.ADDRESS_LIMITED
    assert len(client.requests) == 1


def test_client_limit_wins_over_address_limit() -> None:
    client = ScriptedClient(
        cancelled(
            OK,
            {**FAILED, "Item": counter(NOW - 60, 20, NOW - 1)},
            {**FAILED, "Item": counter(NOW - 30, 1, NOW - 30)},
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
    assert retry["ConditionExpression"] == "windowStart = :oldStart"
    assert retry["ExpressionAttributeValues"][":oldStart"] == {"N": str(old_start)}
    assert retry["UpdateExpression"].startswith("SET #count = :one, windowStart = :now")
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
    assert "windowStart > :windowCutoff AND #count < :max" in third["ConditionExpression"]


def test_full_address_log_is_pruned_and_swapped_conditioned_on_the_old_log() -> None:
    old = [NOW - 86400 - 5, NOW - 86400 + 100, NOW - 7200, NOW - 3600, NOW - 600]
    client = ScriptedClient(cancelled(OK, OK, {**FAILED, "Item": send_log(*old)}), None)
    assert create(store(client)) is CreateResult.CREATED
    assert len(client.requests) == 2
    retry = client.requests[1][2]["Update"]
    values = retry["ExpressionAttributeValues"]
    assert retry["ConditionExpression"] == (
        "sends = :oldSends AND lastAt = :oldLast AND lastAt <= :lastCutoff"
    )
    assert numbers(values[":oldSends"]) == old
    assert values[":oldLast"] == {"N": str(NOW - 600)}
    # the send older than the window is gone, the new one appended: still at most max_count
    assert numbers(values[":sends"]) == [*old[1:], NOW]
    assert retry["UpdateExpression"].startswith("SET sends = :sends, lastAt = :now, #ttl = :ttl")
    assert values[":ttl"] == {"N": str(NOW + 86400)}
    # the client counter that had passed keeps its normal update
    assert "ADD #count :one" in client.requests[1][1]["Update"]["UpdateExpression"]


def test_legacy_window_counter_becomes_a_conservative_log() -> None:
    # 5 mails in a window opened more than a day ago, the last an hour ago: the first slid out,
    # the other four (times unknown) count as sent an hour ago
    legacy = counter(NOW - 86400 - 5, 5, NOW - 3600)
    client = ScriptedClient(cancelled(OK, OK, {**FAILED, "Item": legacy}), None)
    assert create(store(client)) is CreateResult.CREATED
    retry = client.requests[1][2]["Update"]
    values = retry["ExpressionAttributeValues"]
    assert retry["ConditionExpression"].startswith(
        "attribute_not_exists(sends) AND lastAt = :oldLast"
    )
    assert numbers(values[":sends"]) == [NOW - 3600] * 4 + [NOW]
    assert retry["UpdateExpression"].endswith("REMOVE windowStart, #count")


def test_someone_else_changing_the_log_first_is_judged_again() -> None:
    stale = send_log(NOW - 90000, NOW - 89000, NOW - 7200, NOW - 3600, NOW - 600)
    appended = send_log(NOW - 89000, NOW - 7200, NOW - 3600, NOW - 600, NOW)  # a concurrent post
    client = ScriptedClient(
        cancelled(OK, OK, {**FAILED, "Item": stale}),
        cancelled(OK, OK, {**FAILED, "Item": appended}),
    )
    assert create(store(client)) is CreateResult.ADDRESS_LIMITED  # min interval now applies
    assert len(client.requests) == 2


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
    assert all(u["ConditionExpression"].startswith("sends = :oldSends") for u in swaps)


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
