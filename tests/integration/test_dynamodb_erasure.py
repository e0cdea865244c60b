"""Self-service erasure on AWS (issue 12), under moto, through the real Lambda handlers and the
table from template.yaml: the erasure link in the verification mail; GET changes nothing; POST
removes every item naming the address (registrations, the lock, parked messages), keeping only
the hashed per-inbox send log; the stream then owes the owner's notice and the Registration
Erased event, after which the erasure record goes too."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from regflow.domain import Outcome, address_key
from tests.support.aws import TOKEN_RE, Faults, Stack, aws_stack, client
from tests.support.events import form_post, http_event, json_post

ERASE_RE = r"/erase\?token=([A-Za-z0-9_-]{64})"


@pytest.fixture
def stack() -> Iterator[Stack]:
    with aws_stack(ADDRESS_MIN_INTERVAL_SECONDS="0") as s:
        yield s


def naming(stack: Stack, email: str) -> list[dict[str, Any]]:
    """Every item that names the address: in clear, by its address key, or by a registration."""
    key = address_key(email)
    return [i for i in stack.items() if email in repr(i) or key in repr(i)]


def register(stack: Stack, name: str, email: str, ip: str = "198.51.100.1") -> None:
    post = json_post("/register", {"name": name, "email": email}, source_ip=ip)
    assert stack.register(post)["statusCode"] == 202


def test_erasure_removes_every_item_naming_the_address(stack: Stack) -> None:
    email = "jane@example.com"
    register(stack, "Jane", email)
    stack.pump()
    mail = stack.mail()[-1]
    token = re.search(TOKEN_RE, mail.text)
    erase = re.search(ERASE_RE, mail.text)
    assert token and erase
    assert stack.confirm(form_post("/confirm", {"token": token.group(1)}))["statusCode"] == 303
    stack.pump()
    # a second, pending registration of the address whose mail SES refuses: parked
    Faults(stack.clients.sesv2(), "SendEmail").fail("AccountSuspendedException")
    register(stack, "Jane again", email, ip="198.51.100.2")
    stack.pump()
    assert len(stack.parked()) == 1
    kinds = {i["pk"]["S"].split("#")[0] for i in naming(stack, email)}
    assert kinds == {"REG", "ADDR", "OUTBOX", "LIMIT"}

    before = stack.items()
    page = stack.erase(http_event("GET", "/erase", query={"token": erase.group(1)}))
    assert page["statusCode"] == 200 and "erase-button" in page["body"]
    assert stack.items() == before  # a GET (a mail scanner) changes nothing

    answer = stack.erase(form_post("/erase", {"token": erase.group(1)}))
    assert (answer["statusCode"], answer["headers"]["Location"]) == (303, "erase?status=erased")
    left = {i["pk"]["S"].split("#")[0] for i in naming(stack, email)}
    assert left == {"LIMIT", "ERASED"}  # the send log (a hash) and the erasure record
    stack.pump()  # the notice and the event are owed through the stream
    notice = stack.mail()[-1]
    assert notice.to == ["owner@regflow.example"] and notice.subject == "Registration erased"
    assert [i["pk"]["S"].split("#")[0] for i in naming(stack, email)] == ["LIMIT"]
    limit = naming(stack, email)[0]
    assert email not in repr(limit) and "ttl" in limit  # no address in clear; it expires
    assert stack.parked() == []

    # the link again: nothing left to erase, the same erased page
    again = stack.erase(form_post("/erase", {"token": erase.group(1)}))
    assert again["headers"]["Location"] == "erase?status=erased"


def test_the_erased_event_reaches_eventbridge(stack: Stack) -> None:
    import json

    events, sqs = client("events"), client("sqs")
    url = sqs.create_queue(QueueName="erased")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events.put_rule(
        Name="erased", EventPattern=json.dumps({"detail-type": ["Registration Erased"]})
    )
    events.put_targets(Rule="erased", Targets=[{"Id": "q", "Arn": arn}])
    email = "erin@example.com"
    register(stack, "Erin", email)
    stack.pump()
    erase = re.search(ERASE_RE, stack.mail()[-1].text)
    assert erase is not None
    stack.erase(form_post("/erase", {"token": erase.group(1)}))
    stack.pump()
    (message,) = sqs.receive_message(QueueUrl=url).get("Messages", [])
    event = json.loads(message["Body"])
    assert event["source"] == "regflow.regflow"
    assert event["detail"]["email"] == email and "name" not in event["detail"]
    assert event["detail"]["status"] == "PENDING"


def test_tokens_do_not_cross(stack: Stack) -> None:
    register(stack, "Jane", "jane@example.com")
    stack.pump()
    text = stack.mail()[-1].text
    token, erase = re.search(TOKEN_RE, text), re.search(ERASE_RE, text)
    assert token and erase
    before = stack.items()
    wrong = stack.erase(form_post("/erase", {"token": token.group(1)}))
    assert wrong["statusCode"] == 400 and stack.items() == before
    confirm = stack.confirm(http_event("GET", "/confirm", query={"token": erase.group(1)}))
    assert confirm["headers"]["Location"].endswith(f"status={Outcome.INVALID.value}")
