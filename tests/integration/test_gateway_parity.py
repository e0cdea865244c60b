"""Parity of the two front doors: the same API Gateway HTTP API (payload format 2.0) requests,
recorded as AWS sends them (tests/fixtures/apigw_v2/), go straight into the Lambda handlers and,
as the HTTP request they describe, through the local gateway (`regflow serve`'s Starlette app,
driven by an ASGI client); both must answer with the same status, body and headers.

Each side gets a world of its own, built the same way: moto with the table from template.yaml,
the token secret in Secrets Manager, and the service each Lambda function builds (DynamoDB).
A confirmation token, where a request needs one, comes from a registration made and mailed
(through the mail sender) on that side, and replaces `__TOKEN__` in the fixture."""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from regflow import aws
from regflow.local.app import GatewayConfig, create_app
from tests.support.aws import TOKEN_RE, Stack, aws_stack
from tests.support.events import json_post

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "apigw_v2"
PLACEHOLDER = "__TOKEN__"

# Headers that legitimately differ between the two, ignored when comparing responses:
IGNORED_HEADERS = frozenset(
    {
        "date",  # added by the HTTP server / API Gateway at send time
        "server",  # the HTTP server's name (uvicorn; API Gateway sends none)
        "content-length",  # computed by the HTTP server / API Gateway from the body
        "connection",  # hop-by-hop: each server manages its own connections
        "x-request-id",  # the local gateway's request id (a new uuid per request)
        "apigw-requestid",  # API Gateway's request id (a new one per request)
    }
)

# fixture -> the status both must give (link mode, button mode): parity of two 500s is no parity
EXPECTED_STATUS = {
    "register_json_valid": (202, 202),
    "register_json_invalid_email": (400, 400),
    "register_json_invalid_name": (400, 400),
    "register_json_wrong_content_type": (415, 415),
    "register_json_too_large": (413, 413),
    "register_json_base64": (202, 202),
    "register_form": (303, 303),
    "confirm_get_valid": (302, 200),  # button mode: the page whose button confirms
    "confirm_get_invalid": (302, 302),
    "confirm_get_missing": (302, 302),
    "confirm_post_button": (303, 303),
}
REGISTER_CASES = [name for name in EXPECTED_STATUS if name.startswith("register_")]
CONFIRM_CASES = [name for name in EXPECTED_STATUS if name.startswith("confirm_")]


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


def load_event(name: str) -> dict[str, Any]:
    data = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def with_token(event: dict[str, Any], token: str) -> dict[str, Any]:
    """`event` with the placeholder replaced by `token`, its content-length kept true."""
    out: dict[str, Any] = json.loads(json.dumps(event).replace(PLACEHOLDER, token))
    if "body" in out and "content-length" in out["headers"]:
        out["headers"]["content-length"] = str(len(request_body(out)))
    return out


def request_body(event: dict[str, Any]) -> bytes:
    body = event.get("body")
    if body is None:
        return b""
    assert isinstance(body, str)
    return base64.b64decode(body) if event["isBase64Encoded"] else body.encode("utf-8")


def lambda_answer(result: dict[str, Any]) -> Answer:
    """A Lambda proxy response (format 2.0) as the client receives it from API Gateway."""
    raw = result.get("body") or ""
    body = base64.b64decode(raw) if result.get("isBase64Encoded") else raw.encode("utf-8")
    headers = {k.lower(): str(v) for k, v in (result.get("headers") or {}).items()}
    cookies = result.get("cookies") or []
    assert len(cookies) <= 1, "a response sets at most one cookie (CONFIRM_CODE's)"
    if cookies:  # API Gateway sends each as a Set-Cookie header
        headers["set-cookie"] = cookies[0]
    return Answer(int(result["statusCode"]), headers, body)


def http_request(event: dict[str, Any]) -> httpx.Request:
    """The HTTP request `event` describes, as the client sent it to API Gateway."""
    http = event["requestContext"]["http"]
    headers = [(k, v) for k, v in event["headers"].items() if k != "content-length"]
    if event.get("cookies"):
        headers.append(("cookie", "; ".join(event["cookies"])))
    query = event["rawQueryString"]
    url = f"https://{event['headers']['host']}{event['rawPath']}" + (f"?{query}" if query else "")
    return httpx.Request(http["method"], url, headers=headers, content=request_body(event))


def gateway_answer(stack: Stack, event: dict[str, Any]) -> Answer:
    # The service of the Lambda functions (the confirmation function's: it also registers),
    # so the two sides differ in their front door only.
    app = create_app(GatewayConfig(api=aws.http_api(aws.Role.CONFIRM)))
    peer = (event["requestContext"]["http"]["sourceIp"], 50123)

    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, client=peer)
        async with httpx.AsyncClient(transport=transport) as client:
            return await client.send(http_request(event))

    # A thread with a loop of its own: this one may be running Playwright's (the e2e tests')
    with ThreadPoolExecutor(max_workers=1) as pool:
        response = pool.submit(asyncio.run, send()).result()
    headers: dict[str, str] = {}
    for key, value in response.headers.multi_items():
        assert key not in headers, f"header {key} sent twice"
        headers[key] = value
    return Answer(response.status_code, headers, response.content)


def issued_token(stack: Stack) -> str:
    """Registers someone on this side and returns the token of the link mailed to them."""
    event = json_post("/register", {"name": "Jane Doe", "email": "jane.doe@example.com"})
    assert stack.register(event)["statusCode"] == 202
    stack.pump()
    match = re.search(TOKEN_RE, stack.mail()[-1].text)
    assert match, "no verification mail"
    return match.group(1)


def answer(side: str, name: str, mode: str) -> Answer:
    """The answer of one side, its own token (if any) written back as the placeholder."""
    event = load_event(name)
    token = None
    # no challenge key on either side (an unsealed cookie, as the gateway here sets it)
    with aws_stack(CONFIRM_MODE=mode, CHALLENGE_SECRET_ARN="") as stack:
        if PLACEHOLDER in json.dumps(event):
            token = issued_token(stack)
            event = with_token(event, token)
        if side == "gateway":
            got = gateway_answer(stack, event)
        elif event["rawPath"] == "/register":
            got = lambda_answer(stack.register(copy.deepcopy(event)))
        else:
            got = lambda_answer(stack.confirm(copy.deepcopy(event)))
    if token is None:
        return got
    return Answer(
        got.status,
        {k: v.replace(token, PLACEHOLDER) for k, v in got.headers.items()},
        got.body.replace(token.encode("ascii"), PLACEHOLDER.encode("ascii")),
    )


def comparable(answer: Answer) -> tuple[int, dict[str, str], bytes]:
    headers = {k: v for k, v in answer.headers.items() if k not in IGNORED_HEADERS}
    if "set-cookie" in headers:  # the registration cookie: a fresh random handle each time
        headers["set-cookie"] = re.sub(
            r"^regflow_reg=[A-Za-z0-9_-]{43};", "regflow_reg=HANDLE;", headers["set-cookie"]
        )
    return answer.status, headers, answer.body


@pytest.mark.parametrize("mode", ["link", "button"])
@pytest.mark.parametrize("name", REGISTER_CASES + CONFIRM_CASES)
def test_local_gateway_answers_as_the_lambda_handlers_do(name: str, mode: str) -> None:
    on_lambda = answer("lambda", name, mode)
    local = answer("gateway", name, mode)
    assert on_lambda.status == EXPECTED_STATUS[name][mode == "button"], on_lambda
    assert comparable(local) == comparable(on_lambda)


def test_the_fixtures_have_the_v2_shape() -> None:
    names = sorted(p.stem for p in FIXTURES.glob("*.json"))
    assert names == sorted(REGISTER_CASES + CONFIRM_CASES)
    top = {"version", "routeKey", "rawPath", "rawQueryString", "headers", "requestContext"}
    context = {
        "accountId",
        "apiId",
        "domainName",
        "domainPrefix",
        "http",
        "requestId",
        "routeKey",
        "stage",
        "time",
        "timeEpoch",
    }
    for name in names:
        event = load_event(name)
        assert event["version"] == "2.0", name
        assert (
            top
            <= set(event)
            <= top | {"cookies", "queryStringParameters", "body"} | {"isBase64Encoded"}
        ), name
        assert set(event["requestContext"]) == context, name
        http = event["requestContext"]["http"]
        assert set(http) == {"method", "path", "protocol", "sourceIp", "userAgent"}, name
        assert event["routeKey"] == f"{http['method']} {event['rawPath']}", name
        assert all(k == k.lower() for k in event["headers"]), name  # AWS lowercases names
        assert ("body" in event) == ("content-length" in event["headers"]), name
        if "body" not in event:
            assert event["isBase64Encoded"] is False, name
