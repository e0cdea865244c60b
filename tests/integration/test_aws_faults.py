"""Fault drills (issue 5) and concurrency on the AWS shape, under moto: SES down, DynamoDB
throttling, the mail sender failing mid-batch, simultaneous clicks and posts."""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from regflow.handlers import mail_sender
from tests.support.aws import TOKEN_RE, Faults, Stack, aws_stack
from tests.support.events import http_event, json_post

OWNER = ["owner@regflow.example"]


@pytest.fixture
def stack() -> Iterator[Stack]:
    with aws_stack() as s:
        yield s


def post(
    stack: Stack, email: str, name: str = "Jane Doe", ip: str = "203.0.113.10"
) -> dict[str, Any]:
    return stack.register(json_post("/register", {"name": name, "email": email}, source_ip=ip))


def click(stack: Stack, token: str) -> dict[str, Any]:
    return stack.confirm(http_event("GET", "/confirm", query={"token": token}))


def tokens(stack: Stack) -> list[str]:
    return [m.group(1) for mail in stack.mail() if (m := re.search(TOKEN_RE, mail.text))]


def together(n: int, work: Callable[[int], Any]) -> list[Any]:
    """Run `work(i)` in n threads released at the same instant; their results in order."""
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n
    errors: list[BaseException] = []

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = work(i)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    return results


# --- SES down for the whole confirmation ---


def test_ses_down_for_the_whole_confirmation_then_back(stack: Stack) -> None:
    post(stack, "jane@example.com")
    stack.pump()
    [token] = tokens(stack)
    ses = Faults(stack.clients.sesv2(), "SendEmail").down("TooManyRequestsException")
    response = click(stack, token)
    assert response["headers"]["Location"].endswith("?status=confirmed")
    assert stack.pump() == [{"batchItemFailures": []}]  # the stream is never blocked
    assert ses.failed == 3  # the policy's quick retries, in process (no SDK retries)
    assert len(stack.sleeps) == 2  # with backoff between them
    [parked] = stack.parked()
    assert parked.message.kind.value == "owner-notification" and parked.attempts == 3
    ses.up()
    ses.fail("ServiceUnavailable", times=1)  # still flaky at the first recovery
    assert stack.recover(later_by=2 * 3600)["parked"] == 1  # parked again, longer backoff
    assert stack.recover(later_by=4 * 3600)["sent"] == 1
    owner = [m for m in stack.mail() if m.to == OWNER]
    assert len(owner) == 1 and "Jane Doe" in owner[0].text
    assert click(stack, token)["headers"]["Location"].endswith("?status=already-confirmed")
    stack.pump()
    stack.recover(later_by=8 * 3600)
    assert len([m for m in stack.mail() if m.to == OWNER]) == 1


def test_owner_notification_rejected_for_good_is_never_dropped(stack: Stack) -> None:
    post(stack, "jane@example.com")
    stack.pump()
    [token] = tokens(stack)
    ses = Faults(stack.clients.sesv2(), "SendEmail").down("MessageRejected")
    click(stack, token)
    assert stack.pump() == [{"batchItemFailures": []}]
    assert ses.failed == 1  # an account-level refusal: parked at once, no quick retries
    for hours in (2, 4, 8):  # the recovery keeps trying, never drops it
        stack.recover(later_by=hours * 3600)
        assert len(stack.parked()) == 1
    ses.up()
    stack.recover(later_by=16 * 3600)
    assert len([m for m in stack.mail() if m.to == OWNER]) == 1
    assert stack.parked() == []


def test_unverified_sender_parks_the_visitors_mail_until_fixed(stack: Stack) -> None:
    ses = Faults(stack.clients.sesv2(), "SendEmail").down("MessageRejected")
    post(stack, "jane@example.com")
    assert stack.pump() == [{"batchItemFailures": []}]
    [parked] = stack.parked()
    assert parked.message.kind.value == "verification" and parked.last_error == "MessageRejected"
    ses.up()
    assert stack.recover(later_by=3600)["sent"] == 1
    assert [m.to for m in stack.mail()] == [["jane@example.com"]]
    assert stack.recover(later_by=7200)["sent"] == 0


def test_an_ses_bad_request_parks_and_suppresses_nobody(stack: Stack) -> None:
    """SES answers BadRequestException for an invalid From, an oversized message or a
    malformed tag too: never the recipient's (it once suppressed and BOUNCED the visitor)."""
    post(stack, "jane@example.com")
    post(stack, "zoe@example.com", ip="198.51.100.7")
    Faults(stack.clients.sesv2(), "SendEmail").fail("BadRequestException")
    assert stack.pump() == [{"batchItemFailures": []}]
    assert [m.to for m in stack.mail()] == [["zoe@example.com"]]
    [parked] = stack.parked()
    assert parked.last_error == "BadRequestException"
    assert stack.items("SUPPRESS#") == []
    [jane] = [i for i in stack.items("REG#") if i["email"]["S"] == "jane@example.com"]
    assert jane["status"] == {"S": "PENDING"} and "deliveryFailure" not in jane
    assert stack.recover(later_by=3600)["sent"] == 1
    assert sorted(m.to[0] for m in stack.mail()) == ["jane@example.com", "zoe@example.com"]


# --- DynamoDB throttling on register ---


@pytest.mark.parametrize(
    "code",
    [
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
    ],
)
def test_dynamodb_throttling_on_register_is_503_with_retry_after(stack: Stack, code: str) -> None:
    faults = Faults(stack.clients.dynamodb(), "TransactWriteItems").fail(code)
    response = post(stack, "jane@example.com")
    assert response["statusCode"] == 503
    assert int(response["headers"]["Retry-After"]) >= 1
    body = json.loads(response["body"])
    assert code not in body["error"] and "injected" not in body["error"]
    assert faults.failed == 1
    assert stack.items() == []  # nothing half-written: no registration, no counter
    assert stack.pump() == []
    # and the next attempt goes through as if nothing had happened
    assert post(stack, "jane@example.com")["statusCode"] == 202
    assert len(stack.items("REG#")) == 1


def test_transaction_conflicts_are_retried_briefly(stack: Stack) -> None:
    post(stack, "jane@example.com")
    stack.pump()
    [token] = tokens(stack)
    ddb = stack.clients.dynamodb()
    conflict = {
        "Error": {"Code": "TransactionCanceledException", "Message": "conflict"},
        "CancellationReasons": [{"Code": "TransactionConflict"}, {"Code": "None"}],
        "ResponseMetadata": {"HTTPStatusCode": 400},
    }
    calls: list[int] = []

    def once(**_: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            from botocore.awsrequest import AWSResponse

            return AWSResponse("https://fault.invalid/", 400, {}, None), conflict  # type: ignore[arg-type]
        return None

    ddb.meta.events.register("before-call.dynamodb.TransactWriteItems", once)
    assert click(stack, token)["headers"]["Location"].endswith("?status=confirmed")
    assert len(calls) == 2


# --- the mail sender failing mid-batch ---


def test_mail_sender_crash_mid_batch_resends_nothing(stack: Stack) -> None:
    for i in range(6):
        post(stack, f"user{i}@example.com", ip=f"198.51.100.{i}")
    ses = Faults(stack.clients.sesv2(), "SendEmail")
    sent_before_crash = 3

    def crash() -> None:
        if ses.calls == sent_before_crash + 1:
            raise RuntimeError("process crashed mid-batch")  # not a mail error: a bug, a crash

    ses.before = crash
    [response] = stack.pump()
    failed = response["batchItemFailures"]
    assert len(failed) == 1
    assert len(stack.mail()) == sent_before_crash
    # Lambda retries from the reported record: the three sent are not in the retried batch
    retried = [r["dynamodb"]["SequenceNumber"] for r in stack.pending]
    assert retried[0] == failed[0]["itemIdentifier"]
    assert len(retried) == 6 - sent_before_crash
    stack.pump()
    recipients = Counter(tuple(m.to) for m in stack.mail())
    assert sorted(recipients) == sorted((f"user{i}@example.com",) for i in range(6))
    assert set(recipients.values()) == {1}  # every mail exactly once


def test_out_of_time_stops_before_the_next_record(stack: Stack) -> None:
    post(stack, "a@example.com")
    post(stack, "b@example.com", ip="198.51.100.1")
    records = [
        r
        for r in stack.stream.records()
        if r["eventName"] == "INSERT" and r["dynamodb"]["Keys"]["pk"]["S"].startswith("REG#")
    ]

    class Context:
        budget = iter([60_000, 1_000])

        def get_remaining_time_in_millis(self) -> int:
            return next(self.budget)

    response = mail_sender.lambda_handler({"Records": records}, Context())
    assert response == {
        "batchItemFailures": [{"itemIdentifier": records[1]["dynamodb"]["SequenceNumber"]}]
    }
    assert [m.to for m in stack.mail()] == [["a@example.com"]]


# --- simultaneous clicks and posts ---


def test_ten_simultaneous_clicks_notify_the_owner_once(stack: Stack) -> None:
    post(stack, "jane@example.com")
    stack.pump()
    [token] = tokens(stack)
    responses = together(10, lambda _: click(stack, token))
    outcomes = Counter(r["headers"]["Location"].rsplit("=", 1)[1] for r in responses)
    assert outcomes == {"confirmed": 1, "already-confirmed": 9}
    stack.pump()
    assert len([m for m in stack.mail() if m.to == OWNER]) == 1


def test_twenty_simultaneous_posts_for_one_address_send_one_email(stack: Stack) -> None:
    responses = together(20, lambda i: post(stack, "jane@example.com", ip=f"198.51.100.{i}"))
    assert {r["statusCode"] for r in responses} == {202}
    assert len({r["body"] for r in responses}) == 1
    assert len(stack.items("REG#")) == 1
    stack.pump()
    assert [m.to for m in stack.mail()] == [["jane@example.com"]]
