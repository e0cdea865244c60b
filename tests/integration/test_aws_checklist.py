"""The seed's Verification Checklist, item by item, and every defect of the seed's handlers as a
regression test: under moto, with the table built from template.yaml, the real Lambda handlers
driven by real API Gateway HTTP API v2 events, the stream fed to the mail sender, and mail read
back from SES."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from regflow.domain import address_key
from tests.support.aws import SITE, TOKEN_RE, Faults, Stack, aws_stack
from tests.support.events import form_post, http_event, json_post

SUCCESS = f"{SITE}/confirmed.html"


@pytest.fixture
def stack() -> Iterator[Stack]:
    with aws_stack() as s:
        yield s


def register(
    stack: Stack, name: str = "Jane Doe", email: str = "jane@example.com"
) -> dict[str, Any]:
    response = stack.register(json_post("/register", {"name": name, "email": email}))
    assert response["statusCode"] == 202, response
    return response


def token_of(mail_text: str) -> str:
    match = re.search(TOKEN_RE, mail_text)
    assert match, mail_text
    return match.group(1)


def click(stack: Stack, token: str) -> str:
    response = stack.confirm(http_event("GET", "/confirm", query={"token": token}))
    assert response["statusCode"] == 302
    location: str = response["headers"]["Location"]
    assert location.startswith(SUCCESS + "?")
    return parse_qs(urlsplit(location).query)["status"][0]


def only_registration(stack: Stack) -> dict[str, Any]:
    regs = stack.items("REG#")
    assert len(regs) == 1
    return regs[0]


# --- the Verification Checklist ----------------------------------------------------------------


def test_verification_checklist(stack: Stack) -> None:
    before = int(time.time())
    # Form shows success message after submit
    response = register(stack)
    assert json.loads(response["body"])["message"].startswith("Thanks!")

    # DynamoDB shows PENDING record immediately after submit (ttl ~24h ahead)
    item = only_registration(stack)
    assert item["status"]["S"] == "PENDING"
    assert item["name"]["S"] == "Jane Doe"
    assert item["email"]["S"] == "jane@example.com"
    assert before + 24 * 3600 - 5 <= int(item["ttl"]["N"]) <= int(time.time()) + 24 * 3600 + 5
    stamp = datetime.fromisoformat(item["timestamp"]["S"])
    assert stamp.tzinfo is not None and stamp.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
    assert "confirmedAt" not in item
    assert stack.mail() == []  # no mail inside the request: it is owed through the stream

    # Verification email arrives in inbox, with the link to API_BASE_URL/confirm?token=...
    stack.pump()
    [mail] = stack.mail()
    assert mail.to == ["jane@example.com"]
    assert mail.subject == "Please verify your email address"
    assert f"{SITE}/confirm?token=" in mail.text
    assert f'href="{SITE}/confirm?token=' in mail.html
    assert "Verify my email" in mail.html
    assert "24 hours" in mail.text
    token = token_of(mail.text)
    assert token_of(mail.html) == token

    # Clicking link redirects to the confirmed page with a success outcome
    assert click(stack, token) == "confirmed"

    # DynamoDB record updated to CONFIRMED, ttl attribute removed, confirmedAt set
    item = only_registration(stack)
    assert item["status"]["S"] == "CONFIRMED"
    assert "ttl" not in item
    confirmed_at = datetime.fromisoformat(item["confirmedAt"]["S"])
    assert abs(confirmed_at.timestamp() - time.time()) < 30

    # Owner notification email received: once, with name, address and time
    stack.pump()
    mails = stack.mail()
    assert len(mails) == 2
    owner = mails[1]
    assert owner.to == ["owner@regflow.example"]
    assert "Jane Doe" in owner.subject
    assert "Name: Jane Doe" in owner.text
    assert "Email: jane@example.com" in owner.text
    assert confirmed_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") in owner.text

    # Clicking link again shows the already-verified outcome, and nobody is mailed again
    assert click(stack, token) == "already-confirmed"
    stack.pump()
    assert len(stack.mail()) == 2


# --- the seed's defects ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        ('{"name": "Jane", "email": ', "application/json", 400),  # malformed JSON
        (None, "application/json", 400),  # null body (seed: TypeError -> 500)
        ("null", "application/json", 400),  # JSON null
        ('[{"name": "Jane", "email": "jane@example.com"}]', "application/json", 400),  # array
        ('{"name": 42, "email": "jane@example.com"}', "application/json", 400),  # non-string
        ('{"name": "Jane", "email": ["jane@example.com"]}', "application/json", 400),
        ('{"name": "Jane", "email": "not-an-address"}', "application/json", 400),
        (
            '{"name": "Jane\\r\\nBcc: all@example.com", "email": "jane@example.com"}',
            "application/json",
            400,
        ),  # CR/LF in the name
        ("x" * (16 * 1024 + 1), "application/json", 413),
        ("name=Jane&email=jane@example.com", "text/plain", 415),
    ],
)
def test_bad_input_is_refused_cleanly(
    stack: Stack, body: str | None, content_type: str, status: int
) -> None:
    response = stack.register(
        http_event("POST", "/register", body=body, headers={"content-type": content_type})
    )
    assert response["statusCode"] == status
    payload = json.loads(response["body"])
    assert set(payload) <= {"error", "field"}
    for leak in ("Traceback", "Error", "Exception", "NoneType", 'File "', "expecting"):
        assert leak not in payload["error"]
    assert stack.items() == []  # nothing stored, no counter touched


def test_field_errors_name_the_field(stack: Stack) -> None:
    response = stack.register(json_post("/register", {"name": "Jane", "email": "nope"}))
    assert json.loads(response["body"])["field"] == "email"
    response = stack.register(json_post("/register", {"name": " ", "email": "jane@example.com"}))
    assert json.loads(response["body"])["field"] == "name"


def test_html_in_the_name_is_escaped_in_the_mail(stack: Stack) -> None:
    register(stack, name='<script>alert("x")</script> <b>Jane</b>')
    stack.pump()
    [mail] = stack.mail()
    assert "<script>" not in mail.html and "<b>Jane</b>" not in mail.html
    assert "&lt;script&gt;" in mail.html and "&lt;b&gt;Jane&lt;/b&gt;" in mail.html
    assert '<script>alert("x")</script> <b>Jane</b>' in mail.text  # plain text stays plain


def test_same_body_for_new_pending_and_confirmed_addresses(stack: Stack) -> None:
    bodies = [register(stack)["body"]]
    stack.pump()
    token = token_of(stack.mail()[0].text)
    bodies.append(register(stack, email="other@example.com")["body"])
    assert click(stack, token) == "confirmed"
    stack.dynamodb.delete_item(  # let the address post again at once (min interval)
        TableName=stack.table_name,
        Key={"pk": {"S": f"LIMIT#ADDR#{address_key('jane@example.com')}"}},
    )
    bodies.append(register(stack, email="JANE@example.com")["body"])  # already confirmed
    assert len(set(bodies)) == 1
    # the confirmed address is told it is registered already, and gets no new link
    stack.pump()
    last = stack.mail()[-1]
    assert last.to == ["JANE@example.com"] and last.subject == "You are already registered"
    assert "/confirm?token=" not in last.text


def test_form_post_redirects_to_the_page(stack: Stack) -> None:
    response = stack.register(form_post("/register", {"name": "Jane", "email": "jane@example.com"}))
    assert response["statusCode"] == 303
    assert response["headers"]["Location"] == f"{SITE}/?status=sent"
    assert only_registration(stack)["status"]["S"] == "PENDING"


def test_base64_form_body_is_decoded(stack: Stack) -> None:
    event = form_post("/register", {"name": "Jane", "email": "jane@example.com"})
    event = http_event("POST", "/register", body=event["body"].encode(), headers=event["headers"])
    assert event["isBase64Encoded"] is True
    assert stack.register(event)["statusCode"] == 303
    assert only_registration(stack)["email"]["S"] == "jane@example.com"


def test_expired_item_not_yet_deleted_by_ttl_is_refused(stack: Stack) -> None:
    register(stack)
    stack.pump()
    token = token_of(stack.mail()[0].text)
    item = only_registration(stack)
    stack.dynamodb.update_item(  # time ran out; TTL has not deleted the item (it lags by days)
        TableName=stack.table_name,
        Key={"pk": item["pk"]},
        UpdateExpression="SET #ttl = :past",
        ExpressionAttributeNames={"#ttl": "ttl"},
        ExpressionAttributeValues={":past": {"N": str(int(time.time()) - 1)}},
    )
    assert click(stack, token) == "expired"
    assert only_registration(stack)["status"]["S"] == "PENDING"
    stack.pump()
    assert len(stack.mail()) == 1  # no owner notification


@pytest.mark.parametrize("token", [None, "", "garbage", "A" * 64, "A" * 65])
def test_missing_or_bad_token_is_invalid(stack: Stack, token: str | None) -> None:
    event = http_event("GET", "/confirm", query=None if token is None else {"token": token})
    assert stack.confirm(event)["headers"]["Location"] == f"{SUCCESS}?status=invalid"


def test_same_address_confirmed_through_two_registrations(stack: Stack) -> None:
    register(stack, email="jane@example.com")
    stack.dynamodb.delete_item(
        TableName=stack.table_name,
        Key={"pk": {"S": f"LIMIT#ADDR#{address_key('jane@example.com')}"}},
    )
    register(stack, email="Jane@Example.com")
    stack.pump()
    first, second = (token_of(m.text) for m in stack.mail())
    assert click(stack, first) == "confirmed"
    assert click(stack, second) == "already-confirmed"
    stack.pump()
    owner_mails = [m for m in stack.mail() if m.to == ["owner@regflow.example"]]
    assert len(owner_mails) == 1
    statuses = sorted(i["status"]["S"] for i in stack.items("REG#"))
    assert statuses == ["CONFIRMED", "PENDING"]


def test_ses_failing_during_confirmation(stack: Stack) -> None:
    register(stack)
    stack.pump()
    token = token_of(stack.mail()[0].text)
    ses = Faults(stack.clients.sesv2(), "SendEmail").down("ServiceUnavailable")
    assert click(stack, token) == "confirmed"  # the user sees confirmed regardless
    assert ses.calls == 0  # confirmation never calls SES
    [response] = stack.pump()
    assert response == {"batchItemFailures": []}  # the stream moves on...
    assert ses.calls == 3  # ...after the policy's quick retries (no SDK retries on top)
    [parked] = stack.parked()  # ...and the notification waits, whole, in the table
    assert parked.message.kind.value == "owner-notification"
    assert stack.recover(later_by=0)["sent"] == 0  # not due yet
    assert len(stack.mail()) == 1
    ses.up()
    assert stack.recover(later_by=3 * 3600)["sent"] == 1
    owner = [m for m in stack.mail() if m.to == ["owner@regflow.example"]]
    assert len(owner) == 1
    assert stack.parked() == []
    assert stack.pump() == []
    assert stack.recover(later_by=3 * 3600)["sent"] == 0
    assert len(stack.mail()) == 2  # exactly once


def test_no_response_contains_exception_text(stack: Stack) -> None:
    Faults(stack.clients.dynamodb(), "TransactWriteItems").down("InternalServerError")
    responses = [
        stack.register(json_post("/register", {"name": "Jane", "email": "jane@example.com"})),
        stack.register(
            http_event("POST", "/register", body="{", headers={"content-type": "application/json"})
        ),
    ]
    for response in responses:
        assert response["statusCode"] in (400, 503)
        assert "injected" not in response["body"]
        assert "InternalServerError" not in response["body"]
        assert "Traceback" not in response["body"]
