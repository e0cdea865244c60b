"""The OpenAPI document against the embedded server, over loopback, with schemathesis.

`regflow serve` runs as a subprocess (as a user starts it); schemathesis loads the document the
server itself serves at /openapi.yaml, generates requests from it (valid and invalid ones), and
checks every answer: no 5xx, only documented status codes, content types, headers and bodies.
The security headers are documented as required on every response, so they are checked too.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.support.server import RunningServer, regflow_server

pytestmark = pytest.mark.slow

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
MAX_EXAMPLES = 40
POSITIVE, NEGATIVE = GenerationMode.POSITIVE, GenerationMode.NEGATIVE
PACKAGED = Path(__file__).resolve().parents[2] / "src" / "regflow" / "openapi.yaml"


@contextlib.contextmanager
def _server(tmp_path_factory: pytest.TempPathFactory, mode: str) -> Iterator[RunningServer]:
    data_dir = tmp_path_factory.mktemp(f"schemathesis-{mode}") / "data"
    # The per-client limit is off so that generated requests reach validation and the store
    # (the 429 is covered by tests/unit/test_api.py); every other setting is the default.
    env = {"CONFIRM_MODE": mode, "IP_LIMIT_PER_HOUR": "0"}
    with regflow_server(data_dir, env) as running:
        yield running


@pytest.fixture(scope="module")
def link_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with _server(tmp_path_factory, "link") as running:
        yield running


@pytest.fixture(scope="module")
def button_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with _server(tmp_path_factory, "button") as running:
        yield running


def _schema(server: RunningServer) -> Any:
    """The document as the server serves it (not the file in the repository)."""
    return schemathesis.openapi.from_url(server.url("/openapi.yaml"), timeout=5)


def _conforms(server: RunningServer, method: str, path: str, mode: GenerationMode) -> set[int]:
    """Run schemathesis over one operation; the status codes seen."""
    operation = _schema(server)[path][method]
    statuses: list[int] = []

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def run(case: Any) -> None:
        response = case.call_and_validate(base_url=server.base_url, checks=CHECKS, timeout=10)
        statuses.append(response.status_code)

    run()  # hypothesis drives it directly: schemathesis's lazy pytest loader needs pytest < 9
    assert len(statuses) >= 5, "schemathesis made (almost) no requests"
    return set(statuses)


@pytest.mark.parametrize(
    ("method", "path", "mode", "expected"),
    [
        ("POST", "/register", POSITIVE, {202, 303, 400}),
        # Schema-invalid is not always server-invalid: a name over 100 characters only before
        # trimming, or a non-string honeypot that is falsy (0, false), is still accepted.
        ("POST", "/register", NEGATIVE, {202, 303, 400, 413, 415}),
        ("GET", "/confirm", POSITIVE, {302}),
        ("GET", "/confirm", NEGATIVE, {302}),
        ("POST", "/confirm", POSITIVE, {303}),
    ],
)
def test_link_mode_conforms(
    link_server: RunningServer, method: str, path: str, mode: GenerationMode, expected: set[int]
) -> None:
    assert _conforms(link_server, method, path, mode) <= expected


@pytest.mark.parametrize(("method", "path"), [("GET", "/confirm"), ("POST", "/confirm")])
def test_button_mode_conforms(button_server: RunningServer, method: str, path: str) -> None:
    # No generated token is genuine: GET redirects `invalid`, POST answers 303.
    assert _conforms(button_server, method, path, POSITIVE) <= {302, 303}


def _verify_link(server: RunningServer, to: str, timeout: float = 15.0) -> str:
    """The verify link of the mail to `to` that the server's outbox worker delivered."""
    deadline = time.monotonic() + timeout
    while True:
        for path in server.data_dir.rglob("*.eml"):
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            if message["To"] == to:
                body = message.get_body(("plain",))
                assert body is not None
                for word in body.get_content().split():
                    if "/confirm?token=" in word:
                        return str(word)
        if time.monotonic() > deadline:
            raise AssertionError(f"no verification mail to {to} within {timeout}s")
        time.sleep(0.1)  # the worker is another process: poll its mailbox directory


def test_button_mode_page_and_post_conform(button_server: RunningServer) -> None:
    server = button_server
    schema = _schema(server)
    register = schema["/register"]["POST"].Case(
        body={"name": "Schema Thesis", "email": "schemathesis@example.com"},
        media_type="application/json",
    )
    assert register.call_and_validate(base_url=server.base_url, checks=CHECKS).status_code == 202
    token = parse_qs(urlsplit(_verify_link(server, "schemathesis@example.com")).query)["token"][0]

    page = schema["/confirm"]["GET"].Case(query={"token": token})
    shown = page.call_and_validate(base_url=server.base_url, checks=CHECKS)
    assert shown.status_code == 200
    assert "Confirm my email" in shown.text
    assert server.status_of("schemathesis@example.com") == ["PENDING"]

    button = schema["/confirm"]["POST"].Case(
        body={"token": token}, media_type="application/x-www-form-urlencoded"
    )
    pressed = button.call_and_validate(
        base_url=server.base_url, checks=CHECKS, allow_redirects=False
    )
    assert pressed.status_code == 303
    assert pressed.headers["location"][0].endswith("status=confirmed")
    assert server.status_of("schemathesis@example.com") == ["CONFIRMED"]


def test_the_served_document_is_the_packaged_one(link_server: RunningServer) -> None:
    served = httpx.get(link_server.url("/openapi.yaml"), timeout=5)
    assert served.status_code == 200
    assert served.text == PACKAGED.read_text(encoding="utf-8")
