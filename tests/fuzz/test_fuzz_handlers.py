"""The fuzzer, in process (issue 9): v2 events into the very functions the Lambda handlers
call, over the in-memory store and over DynamoDB (moto). Invariants: never a 5xx, never
exception text, every log record one JSON line without a traceback, the store unchanged by
rejected input, and identical answers for every accepted address state."""

from __future__ import annotations

import base64
import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from regflow import logs
from tests.fuzz.strategies import any_text, content_types, emails, names, register_bodies
from tests.support.events import http_event
from tests.unit.fakes import world

FUZZ = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,  # `records` is cleared by each example
    ],
)
LEAK = re.compile(r"Traceback|File \"|site-packages|regflow\.|Error:")


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def records() -> Iterator[_Records]:
    handler = _Records()
    root = logging.getLogger("regflow")
    root.addHandler(handler)
    old = root.level
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(old)


def check_logs(handler: _Records) -> None:
    formatter = logs.JsonFormatter()
    for record in handler.records:
        assert record.levelno < logging.ERROR, record.getMessage()
        assert record.exc_info is None
        line = formatter.format(record)
        assert "\n" not in line and "Traceback" not in line
        line.encode("utf-8")
        json.loads(line)
    handler.records.clear()


def check_response(response: dict[str, Any]) -> int:
    status = int(response["statusCode"])
    assert 200 <= status < 500, response
    body = response.get("body") or ""
    assert not LEAK.search(body), body
    assert response["headers"]["X-Content-Type-Options"] == "nosniff"
    return status


def register_event(body: bytes, content_type: str, b64: bool) -> dict[str, Any]:
    headers = {"content-type": content_type} if content_type else {}
    if b64:
        return http_event("POST", "/register", body=body, headers=headers)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return http_event("POST", "/register", body=body, headers=headers)
    return http_event("POST", "/register", body=text, headers=headers)


# --- the failing examples it found, kept as regression tests ------------------------------------

FOUND = [
    (b'{"name": "\\ud800x", "email": "jane@example.com"}', "application/json"),
    (b'{"name": "Jane", "email": "jane\\udc00@example.com"}', "application/json"),
    (b'{"name": "Jane", "email": "jane@\\ud800.com"}', "application/json"),
    (b'{"name": "\\u202eJane", "email": "jane@example.com"}', "application/json"),
    (
        ("name=Jane&email=" + "a" * 65 + "%40example.com").encode(),
        "application/x-www-form-urlencoded",
    ),
]


@FUZZ
@given(body=register_bodies(), content_type=content_types, b64=st.booleans())
@example(body=FOUND[0][0], content_type=FOUND[0][1], b64=False)
@example(body=FOUND[1][0], content_type=FOUND[1][1], b64=False)
@example(body=FOUND[2][0], content_type=FOUND[2][1], b64=False)
@example(body=FOUND[3][0], content_type=FOUND[3][1], b64=False)
@example(body=FOUND[4][0], content_type=FOUND[4][1], b64=True)
def test_register_never_fails(records: _Records, body: bytes, content_type: str, b64: bool) -> None:
    w = world()
    before = w.snapshot()
    response = w.api(register_event(body, content_type, b64))
    status = check_response(response)
    if status >= 400:
        assert w.snapshot() == before
    check_logs(records)


@FUZZ
@given(
    method=st.sampled_from(["GET", "POST", "HEAD", "PUT"]),
    query=any_text,
    body=st.binary(max_size=200),
    content_type=content_types,
    mode=st.sampled_from(["link", "button"]),
)
@example(method="HEAD", query="token=" + "A" * 64, body=b"", content_type="", mode="link")
@example(method="POST", query="", body=b"token=x", content_type="text/plain", mode="link")
def test_confirm_never_fails(
    records: _Records, method: str, query: str, body: bytes, content_type: str, mode: str
) -> None:
    w = world(CONFIRM_MODE=mode)
    w.intake.register("Jane", "jane@example.com")
    before = w.snapshot()
    raw_query = query.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    event = http_event(
        method,
        "/confirm",
        body=body or None,
        headers={"content-type": content_type} if content_type else {},
        query=raw_query,
    )
    check_response(w.api(event))
    assert w.snapshot() == before  # no genuine token: nothing changes
    check_logs(records)


@FUZZ
@given(name=names, email=emails)
def test_accepted_addresses_get_one_answer_whatever_their_state(name: str, email: str) -> None:
    """Unknown, pending, limited and confirmed: the same status, headers and body."""
    w = world()
    event = http_event(
        "POST",
        "/register",
        body=json.dumps({"name": name, "email": email}),
        headers={"content-type": "application/json"},
    )
    first = w.api(event)  # unknown
    if first["statusCode"] != 202:
        return
    answers = [first, w.api(event)]  # pending (and limited)
    entry = w.owed()[0]
    token = w.signer.issue(entry.registration.id, entry.registration.addr_key)
    w.intake.confirm(token)
    answers.append(w.api(event))  # confirmed
    # CONFIRM_CODE's registration cookie: one shape, a fresh random id in each (set aside)
    for answer in answers:
        (cookie,) = answer["cookies"]
        answer["cookies"] = [re.sub(r"^regflow_reg=[A-Za-z0-9_-]{43};", "HANDLE;", cookie)]
    assert len({json.dumps(a, sort_keys=True) for a in answers}) == 1


# --- the same against DynamoDB (moto): fewer examples, each is a real transaction ---------------


@pytest.fixture(scope="module")
def stack() -> Iterator[Any]:
    from tests.support.aws import aws_stack

    with aws_stack() as s:
        yield s


@settings(FUZZ, max_examples=40)
@given(body=register_bodies(), content_type=content_types)
@example(body=FOUND[0][0], content_type=FOUND[0][1])
@example(body=FOUND[2][0], content_type=FOUND[2][1])
def test_register_never_fails_on_dynamodb(stack: Any, body: bytes, content_type: str) -> None:
    before = stack.items()
    event = register_event(body, content_type, b64=False)
    event["requestContext"]["http"]["sourceIp"] = "198.51.100." + str(len(before) % 250)
    status = check_response(stack.register(event))
    if status >= 400:
        assert stack.items() == before


def test_base64_bodies_decode_the_same() -> None:
    w = world()
    body = json.dumps({"name": "Jane", "email": "jane@example.com"}).encode()
    event = http_event(
        "POST",
        "/register",
        body=body,  # bytes travel base64-encoded, as API Gateway sends binary media
        headers={"content-type": "application/json"},
    )
    assert event["isBase64Encoded"] and base64.b64decode(event["body"]) == body
    assert w.api(event)["statusCode"] == 202
