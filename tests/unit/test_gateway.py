"""The local gateway: HTTP -> the API Gateway v2 event -> regflow.http -> HTTP, in process."""

from __future__ import annotations

import base64
import ipaddress
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from regflow import http
from regflow.adapters.mailbox import MailboxMailer
from regflow.adapters.memory import MemoryStore
from regflow.config import Settings
from regflow.delivery import DeliveryService
from regflow.domain import Channel
from regflow.intake import IntakeService
from regflow.local.app import GatewayConfig, create_app
from regflow.local.events import build_event, source_ip
from regflow.tokens import TokenSigner
from tests.support.events import ACCEPTED, http_event

PROXIES = (ipaddress.ip_network("10.0.0.0/8"),)


def scope(
    method: str = "POST",
    path: str = "/register",
    query: bytes = b"",
    headers: list[tuple[bytes, bytes]] | None = None,
    client: tuple[str, int] = ("192.0.2.7", 50000),
) -> dict[str, Any]:
    return {
        "type": "http",
        "method": method,
        "path": path,
        "query_string": query,
        "headers": headers or [],
        "client": client,
        "http_version": "1.1",
    }


def test_event_has_the_v2_shape() -> None:
    event = build_event(
        scope(
            "GET",
            "/confirm",
            b"token=a&x=1&x=2",
            [
                (b"Host", b"127.0.0.1:8000"),
                (b"User-Agent", b"ua/1"),
                (b"Accept", b"a"),
                (b"Accept", b"b"),
                (b"Cookie", b"c1=1; c2=2"),
            ],
        ),
        b"",
        route_key="GET /confirm",
    )
    assert event["version"] == "2.0"
    assert event["routeKey"] == "GET /confirm"
    assert event["rawPath"] == "/confirm"
    assert event["rawQueryString"] == "token=a&x=1&x=2"
    assert event["queryStringParameters"] == {"token": "a", "x": "1,2"}
    assert event["headers"] == {"host": "127.0.0.1:8000", "user-agent": "ua/1", "accept": "a,b"}
    assert event["cookies"] == ["c1=1", "c2=2"]
    http = event["requestContext"]["http"]
    assert http == {
        "method": "GET",
        "path": "/confirm",
        "protocol": "HTTP/1.1",
        "sourceIp": "192.0.2.7",
        "userAgent": "ua/1",
    }
    assert uuid.UUID(event["requestContext"]["requestId"]).version == 4
    assert event["isBase64Encoded"] is False
    assert "body" not in event


def test_text_bodies_stay_text_and_binary_bodies_are_base64() -> None:
    text = build_event(
        scope(headers=[(b"content-type", b"application/json")]),
        '{"name": "Zoë"}'.encode(),
        route_key="POST /register",
    )
    assert (text["body"], text["isBase64Encoded"]) == ('{"name": "Zoë"}', False)
    raw = b"\xff\x00binary"
    binary = build_event(
        scope(headers=[(b"content-type", b"application/octet-stream")]),
        raw,
        route_key="POST /register",
    )
    assert binary["isBase64Encoded"] is True
    assert base64.b64decode(binary["body"]) == raw


@pytest.mark.parametrize(
    ("peer", "xff", "expected"),
    [
        ("192.0.2.7", "198.51.100.1", "192.0.2.7"),  # untrusted peer: its header is ignored
        ("10.0.0.5", "198.51.100.1", "198.51.100.1"),
        (
            "10.0.0.5",
            "203.0.113.66, 198.51.100.1, 10.0.0.9",
            "198.51.100.1",
        ),  # right-most untrusted
        ("10.0.0.5", "10.1.1.1, 10.2.2.2", "10.1.1.1"),  # all trusted: the origin
        ("10.0.0.5", "nonsense, 198.51.100.1", "198.51.100.1"),
        ("10.0.0.5", "198.51.100.1, nonsense", "10.0.0.5"),  # malformed hop: trust none of it
        ("10.0.0.5", None, "10.0.0.5"),
    ],
)
def test_source_ip_honours_x_forwarded_for_only_from_trusted_proxies(
    peer: str, xff: str | None, expected: str
) -> None:
    assert source_ip(peer, xff, PROXIES) == expected


class GatewayClient(TestClient):
    """The test client, with what the tests look at behind the gateway."""

    delivery: DeliveryService
    api: http.HttpApi
    store: MemoryStore
    wakes: list[int]


@pytest.fixture
def client(tmp_path: Path) -> GatewayClient:
    web = tmp_path / "web"
    web.mkdir()
    (web / "index.html").write_text("<!doctype html><title>Sign up</title>")
    (web / "styles.css").write_text("body{}")
    (tmp_path / "secret.txt").write_text("outside web/")
    settings = Settings.from_env(
        {
            "SENDER_EMAIL": "no-reply@localhost",
            "OWNER_EMAIL": "owner@localhost",
            "API_BASE_URL": "http://testserver",
            "SUCCESS_URL": "http://testserver/confirmed.html",
        }
    )
    mailbox = MailboxMailer(tmp_path / "mailbox")
    store = MemoryStore()
    signer = TokenSigner(b"k" * 32)
    intake = IntakeService(store=store, rules=settings.rules, signer=signer)
    delivery = DeliveryService(
        store=store,
        outbox=store,
        settings=settings.mail,
        signer=signer,
        channels={Channel.EMAIL: mailbox},
    )
    wakes: list[int] = []
    http_api = http.HttpApi(intake, settings.http)
    app = create_app(
        GatewayConfig(
            api=http_api,
            web_dir=web,
            mailbox=mailbox,
            on_write=lambda: wakes.append(1),
        )
    )
    test_client = GatewayClient(app, follow_redirects=False)
    test_client.delivery = delivery
    test_client.api = http_api
    test_client.store = store
    test_client.wakes = wakes
    return test_client


def assert_secure(response: Any) -> None:
    for name, value in http.SECURITY_HEADERS.items():
        assert response.headers[name] == value, name


def test_register_and_confirm_through_the_handlers(client: GatewayClient) -> None:
    r = client.post("/register", json={"name": "Zoë", "email": "zoe@example.com"})
    assert r.status_code == 202
    assert r.json()["message"] == ACCEPTED
    assert uuid.UUID(r.headers["x-request-id"])
    assert_secure(r)
    assert client.wakes == [1]
    form = client.post(
        "/register", data={"name": "Al", "email": "al@example.com"}, headers={"accept": "text/html"}
    )
    assert (form.status_code, form.headers["location"]) == (303, "/?status=sent")

    [first, _] = client.store.claim_due(time.time(), 10)
    client.delivery.deliver_claimed(first)
    page = client.get("/_mailbox")
    assert page.status_code == 200
    assert_secure(page)
    [href] = re.findall(r'href="(/_mailbox/[^"]+)"', page.text)
    message = client.get(href)
    assert message.status_code == 200
    assert "<script" not in message.text and "style=" not in message.text
    links = re.findall(r'class="mail-link" href="([^"]+)"', message.text)
    [link] = [href for href in links if "/confirm?" in href]  # the other: the erasure link
    confirmed = client.get(link)
    assert confirmed.status_code == 302
    assert confirmed.headers["location"] == "http://testserver/confirmed.html?status=confirmed"
    again = client.get(link)
    assert again.headers["location"].endswith("status=already-confirmed")


def test_oversized_bodies_are_refused_with_413(client: GatewayClient) -> None:
    big = b"x" * (http.MAX_BODY_BYTES + 1)
    declared = client.post("/register", content=big, headers={"content-type": "application/json"})
    assert declared.status_code == 413
    assert_secure(declared)

    def chunks() -> Iterator[bytes]:
        for _ in range(40):  # no content-length: counted while streaming
            yield b"y" * 1024

    streamed = client.post(
        "/register", content=chunks(), headers={"content-type": "application/json"}
    )
    assert streamed.status_code == 413
    assert streamed.json() == {"error": "The request is too large."}


def test_errors_are_json_and_carry_the_security_headers(client: GatewayClient) -> None:
    missing = client.get("/no/such/thing")
    assert (missing.status_code, missing.json()) == (404, {"error": "Not found."})
    assert_secure(missing)
    wrong = client.get("/register")
    assert wrong.status_code == 405
    assert wrong.json() == {"error": "Method not allowed."}
    assert "POST" in wrong.headers["allow"]
    assert_secure(wrong)
    assert client.get("/_mailbox/..%2F..%2Fsecret").status_code == 404
    assert client.get("/_health").json() == {"status": "ok"}


def test_static_pages_and_no_escape_from_web_dir(client: GatewayClient) -> None:
    index = client.get("/")
    assert index.status_code == 200
    assert index.headers["content-type"].startswith("text/html")
    assert "Sign up" in index.text
    assert_secure(index)
    assert client.get("/styles.css").headers["content-type"].startswith("text/css")
    for path in ("/../secret.txt", "/%2e%2e/secret.txt", "/..%2fsecret.txt"):
        assert client.get(path).status_code == 404


@pytest.mark.parametrize("path", ["/register", "/confirm"])
def test_a_body_over_the_limit_is_the_same_413_locally_and_on_lambda(
    client: GatewayClient, path: str
) -> None:
    body = "token=" + "x" * (http.MAX_BODY_BYTES + 10)
    headers = {"content-type": "application/x-www-form-urlencoded"}
    local = client.post(path, content=body, headers=headers)
    event = http_event("POST", path, body=body, headers=headers)
    on_lambda = client.api(event)
    assert local.status_code == on_lambda["statusCode"] == 413
    assert local.content == on_lambda["body"].encode()
