"""Events on AWS (issue 12), under moto: the table's stream feeds the mail sender, which
publishes each confirmation to EventBridge (`source` regflow.<stack>, `detail-type`
Registration Confirmed, the documented `detail`); an owner's rule with an SQS target receives
it. Webhooks on the same path get one owed message each: a failing one is parked on its own,
the others are not sent again."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from regflow.domain import MessageKind, webhook_target
from tests.support.aws import TOKEN_RE, Faults, Stack, aws_stack, client
from tests.support.events import form_post, json_post
from tests.support.webhook import webhook_receiver

HOOK_SECRET = "h" * 40


def rule_to_queue(bus: str = "default") -> str:
    """The owner's side: a rule on `bus` matching regflow's events, an SQS queue as target."""
    events, sqs = client("events"), client("sqs")
    url = sqs.create_queue(QueueName="owner-registrations")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    pattern = {"source": ["regflow.regflow"], "detail-type": ["Registration Confirmed"]}
    events.put_rule(Name="registrations", EventBusName=bus, EventPattern=json.dumps(pattern))
    events.put_targets(
        Rule="registrations", EventBusName=bus, Targets=[{"Id": "queue", "Arn": arn}]
    )
    return str(url)


def received(url: str) -> list[dict[str, Any]]:
    sqs = client("sqs")
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(m["Body"]) for m in messages]


def register_and_confirm(stack: Stack, name: str, email: str) -> str:
    assert (
        stack.register(json_post("/register", {"name": name, "email": email}))["statusCode"] == 202
    )
    stack.pump()
    match = re.search(TOKEN_RE, stack.mail()[-1].text)
    assert match is not None
    answer = stack.confirm(form_post("/confirm", {"token": match.group(1)}))
    assert answer["headers"]["Location"].endswith("status=confirmed")
    return match.group(1)


@pytest.fixture
def stack() -> Iterator[Stack]:
    with aws_stack(ADDRESS_MIN_INTERVAL_SECONDS="0") as s:
        yield s


def test_a_confirmation_reaches_the_owners_rule_target(stack: Stack) -> None:
    queue = rule_to_queue()
    register_and_confirm(stack, "Jane Doe", "jane@example.com")
    assert received(queue) == []  # nothing on the request path: the stream owes it
    stack.pump()
    (event,) = received(queue)
    assert event["source"] == "regflow.regflow"
    assert event["detail-type"] == "Registration Confirmed"
    detail = event["detail"]
    reg_id = detail["id"]
    assert stack.item(reg_id) is not None
    assert detail["email"] == "jane@example.com" and detail["name"] == "Jane Doe"
    assert detail["status"] == "CONFIRMED" and detail["language"] == "en"
    assert detail["confirmedAt"].endswith("Z") and detail["registeredAt"].endswith("Z")
    assert stack.mail()[-1].to == ["owner@regflow.example"]  # the mail still goes
    stack.pump()
    assert received(queue) == []  # once


def test_a_named_bus(stack: Stack) -> None:
    client("events").create_event_bus(Name="owner-bus")
    queue = rule_to_queue("owner-bus")
    from regflow import aws

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("EVENT_BUS_NAME", "owner-bus")
        aws.reset()
        register_and_confirm(stack, "Jane", "jane@example.com")
        stack.pump()
    assert [e["detail-type"] for e in received(queue)] == ["Registration Confirmed"]


def test_eventbridge_throttled_then_parked_never_lost(stack: Stack) -> None:
    queue = rule_to_queue()
    faults = Faults(stack.clients.events(), "PutEvents")
    faults.down("ThrottlingException")
    register_and_confirm(stack, "Jane", "jane@example.com")
    stack.pump()
    assert received(queue) == []
    parked = stack.parked()
    assert [(p.message.kind, p.message.target) for p in parked] == [
        (MessageKind.REGISTRATION_CONFIRMED, "eventbridge")
    ]
    assert stack.sleeps  # the quick retries waited (recorded, not slept)
    faults.up()
    assert stack.recover(later_by=3600)["sent"] == 1
    assert len(received(queue)) == 1 and stack.parked() == []


def test_one_failing_webhook_is_parked_alone_on_aws(stack: Stack) -> None:
    from regflow import aws

    with (
        webhook_receiver(HOOK_SECRET.encode()) as healthy,
        webhook_receiver(HOOK_SECRET.encode(), fail_first=1, status=404) as broken,
        pytest.MonkeyPatch.context() as patch,
    ):
        patch.setenv("WEBHOOK_URL", f"{healthy.url}, {broken.url}")
        patch.setenv("WEBHOOK_SECRET", HOOK_SECRET)
        aws.reset()
        register_and_confirm(stack, "Jane", "jane@example.com")
        stack.pump()
        assert len(healthy.accepted) == 1 and broken.accepted == {}
        parked = stack.parked()
        assert [p.message.target for p in parked] == [webhook_target(broken.url)]
        assert parked[0].last_error == "HTTP404"
        assert stack.recover(later_by=3600)["sent"] == 1
        assert healthy.accepted_once() and broken.accepted_once()
        assert set(broken.accepted) == set(healthy.accepted)  # the same idempotency id
        assert len(healthy.attempts) == 1  # never sent again


def test_out_of_time_the_rest_of_a_records_messages_wait_parked(stack: Stack) -> None:
    """A confirmation owes the owner's mail and an event: with no time left after the first,
    the event is parked (due now) for the recovery instead of risking a time-out that would
    send the mail twice."""
    from regflow.adapters.dynamodb import FILTER_PATTERNS
    from regflow.aws import mail_sender, wiring
    from tests.support.aws import matches_any

    queue = rule_to_queue()
    register_and_confirm(stack, "Jane", "jane@example.com")
    [record] = [r for r in stack.stream.records() if matches_any(FILTER_PATTERNS, r)]
    records = [record]  # the confirmation
    budget = iter([10**6])  # plenty for the record and its first message, then none
    response = mail_sender.process(
        records, wiring.delivery(), remaining_ms=lambda: next(budget, 1000)
    )
    assert response == {"batchItemFailures": []}
    assert stack.mail()[-1].to == ["owner@regflow.example"]
    [parked] = stack.parked()
    assert (parked.message.kind, parked.last_error) == (
        MessageKind.REGISTRATION_CONFIRMED,
        "Deferred",
    )
    assert received(queue) == []
    assert stack.recover()["sent"] == 1
    assert len(received(queue)) == 1
