"""The OpenAPI document (src/regflow/openapi.yaml, which the HTTP API page is rendered from)
against real answers: for every status it documents, a request that gets that status from the
local gateway (the same `regflow.http` the Lambda handlers call), and the answer checked against
the document: the status is listed, every required header is there and matches its schema,
and a JSON body matches the documented schema. A documented status without a request here, or
a request here whose status is not documented, fails and names it."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import jsonschema
import pytest
import yaml
from starlette.testclient import TestClient

from regflow.challenge import issuer_for
from regflow.domain import StoreUnavailable
from regflow.local.app import GatewayConfig, create_app
from regflow.tokens import confirmation_code, read_handle
from tests.docs.support import SRC
from tests.unit.fakes import SECRET, World, world

DOC: dict[str, Any] = yaml.safe_load((SRC / "openapi.yaml").read_text(encoding="utf-8"))
HTML = {"accept": "text/html,application/xhtml+xml"}
JSON = {"content-type": "application/json"}
TEXT = {"content-type": "text/plain"}


def resolve(node: Any) -> Any:
    """`node` with every `$ref` replaced by what it points at."""
    if isinstance(node, dict):
        if "$ref" in node:
            target: Any = DOC
            for part in node["$ref"].lstrip("#/").split("/"):
                target = target[part]
            return resolve(target)
        return {k: resolve(v) for k, v in node.items()}
    if isinstance(node, list):
        return [resolve(v) for v in node]
    return node


def documented() -> set[tuple[str, str, str]]:
    return {
        (method.upper(), path, status)
        for path, item in DOC["paths"].items()
        for method, op in item.items()
        for status in op["responses"]
    }


Case = Callable[[World, TestClient], Any]


def _register(w: World, c: TestClient) -> Any:
    return c.post("/register", json={"name": "Jane", "email": "jane@example.com"})


def _token(w: World, c: TestClient) -> str:
    assert _register(w, c).status_code == 202
    reg = next(iter(w.store.by_id.values()))
    return w.signer.issue(reg.id, reg.addr_key)


def _busy(w: World, method: str) -> None:
    def down(*args: object, **kwargs: object) -> None:
        raise StoreUnavailable(retry_after=3)

    setattr(w.store, method, down)


def _limited(w: World, c: TestClient, **headers: str) -> Any:
    for i in range(2):
        answer = c.post(
            "/register", json={"name": "Jane", "email": f"j{i}@example.com"}, headers=headers
        )
    return answer


CASES: dict[tuple[str, str, str], list[tuple[dict[str, str], Case]]] = {
    ("POST", "/register", "202"): [({}, _register)],
    ("POST", "/register", "303"): [
        ({}, lambda w, c: c.post("/register", data={"name": "Jane", "email": "j@example.com"}))
    ],
    ("POST", "/register", "400"): [
        ({}, lambda w, c: c.post("/register", json={"name": "Jane", "email": "nope"}))
    ],
    ("POST", "/register", "413"): [
        ({}, lambda w, c: c.post("/register", json={"name": "J" * 20000, "email": "j@x.org"}))
    ],
    ("POST", "/register", "415"): [
        ({}, lambda w, c: c.post("/register", content=b"x", headers={"content-type": "text/plain"}))
    ],
    ("POST", "/register", "429"): [
        ({"IP_LIMIT_PER_HOUR": "1"}, _limited),
        ({"IP_LIMIT_PER_HOUR": "1"}, lambda w, c: _form_limited(w, c)),
    ],
    ("POST", "/register", "503"): [
        ({}, lambda w, c: _busy_register(w, c)),
        ({}, lambda w, c: _busy_register(w, c, **HTML)),
    ],
    ("GET", "/confirm", "302"): [
        ({}, lambda w, c: c.get("/confirm", params={"token": _token(w, c)}, follow_redirects=False))
    ],
    ("GET", "/confirm", "200"): [
        ({"CONFIRM_MODE": "button"}, lambda w, c: c.get("/confirm", params={"token": _token(w, c)}))
    ],
    ("GET", "/confirm", "503"): [
        ({}, lambda w, c: _busy_click(w, c)),
        ({}, lambda w, c: _busy_click(w, c, **HTML)),
    ],
    ("HEAD", "/confirm", "405"): [({}, lambda w, c: c.head("/confirm", params={"token": "x"}))],
    ("POST", "/confirm", "303"): [
        ({}, lambda w, c: c.post("/confirm", data={"token": _token(w, c)}, follow_redirects=False))
    ],
    ("POST", "/confirm", "415"): [({}, lambda w, c: c.post("/confirm", json={"token": "x"}))],
    ("POST", "/confirm", "503"): [({}, lambda w, c: _busy_button(w, c))],
    ("GET", "/erase", "200"): [
        ({}, lambda w, c: c.get("/erase", params={"token": _erase_token(w, c)})),
        ({}, lambda w, c: c.get("/erase", params={"status": "erased"})),
    ],
    ("GET", "/erase", "400"): [({}, lambda w, c: c.get("/erase", params={"token": "x" * 64}))],
    ("HEAD", "/erase", "405"): [({}, lambda w, c: c.head("/erase", params={"token": "x"}))],
    ("HEAD", "/challenge", "405"): [({}, lambda w, c: c.head("/challenge"))],
    ("POST", "/erase", "303"): [
        (
            {},
            lambda w, c: c.post(
                "/erase", data={"token": _erase_token(w, c)}, follow_redirects=False
            ),
        )
    ],
    ("POST", "/erase", "400"): [({}, lambda w, c: c.post("/erase", data={"token": "x" * 64}))],
    ("POST", "/erase", "413"): [({}, lambda w, c: c.post("/erase", data={"token": "x" * 20000}))],
    ("POST", "/erase", "415"): [({}, lambda w, c: c.post("/erase", json={"token": "x"}))],
    ("POST", "/erase", "503"): [({}, lambda w, c: _busy_erase(w, c))],
    # GET /challenge reads no store (an HMAC over fresh random bytes): no 503
    ("GET", "/challenge", "200"): [({"CHALLENGE": "pow"}, lambda w, c: _challenge(w, c))],
    ("GET", "/challenge", "204"): [({}, lambda w, c: c.get("/challenge"))],
    ("POST", "/confirm-code", "200"): [
        ({}, lambda w, c: _send_code(w, c, right=True)),
        ({}, lambda w, c: _send_code(w, c, right=True, again=True)),
    ],
    ("POST", "/confirm-code", "303"): [
        ({}, lambda w, c: _send_code(w, c, right=True, browser=True)),
        ({}, lambda w, c: _send_code(w, c, right=False, browser=True)),
    ],
    ("POST", "/confirm-code", "400"): [
        ({}, lambda w, c: _send_code(w, c, right=False)),
        ({}, lambda w, c: c.post("/confirm-code", json={"code": "123456"})),
        ({}, lambda w, c: _send_code(w, c, right=True, expired=True)),
    ],
    ("POST", "/confirm-code", "404"): [
        ({"CONFIRM_CODE": "off"}, lambda w, c: c.post("/confirm-code", json={"code": "1"}))
    ],
    ("POST", "/confirm-code", "413"): [
        ({}, lambda w, c: c.post("/confirm-code", data={"code": "1" * 20000}))
    ],
    ("POST", "/confirm-code", "415"): [
        ({}, lambda w, c: c.post("/confirm-code", content=b"code=1", headers=TEXT))
    ],
    ("POST", "/confirm-code", "503"): [({}, lambda w, c: _busy_code(w, c))],
    ("POST", "/resend", "202"): [
        ({}, lambda w, c: c.post("/resend", json={"token": _token(w, c)})),
        ({}, lambda w, c: c.post("/resend", json={"token": "x" * 64})),
    ],
    ("POST", "/resend", "303"): [
        ({}, lambda w, c: c.post("/resend", data={"token": _token(w, c)}, headers=HTML))
    ],
    ("POST", "/resend", "400"): [
        ({}, lambda w, c: c.post("/resend", content=b"{", headers=JSON)),
        ({}, lambda w, c: c.post("/resend", json=["token"])),
    ],
    ("POST", "/resend", "413"): [({}, lambda w, c: c.post("/resend", data={"token": "x" * 20000}))],
    ("POST", "/resend", "415"): [
        ({}, lambda w, c: c.post("/resend", content=b"token=x", headers=TEXT))
    ],
    ("POST", "/resend", "503"): [({}, lambda w, c: _busy_resend(w, c))],
}


def _challenge(w: World, c: TestClient) -> Any:
    # the runtimes give the issuer its key (regflow.challenge.issuer_for); this world has none
    w.intake.challenges = issuer_for(w.settings.rules, SECRET)
    return c.get("/challenge")


def _handle(answer: Any) -> str:
    """The registration cookie `POST /register` set (its value, sent back by hand: the
    cookie is `Secure`, and the test client talks plain http)."""
    assert answer.status_code == 202, answer.text
    match = re.search(r"regflow_reg=([^;]+)", answer.headers["set-cookie"])
    assert match, answer.headers["set-cookie"]
    return match.group(1)


def _send_code(
    w: World,
    c: TestClient,
    *,
    right: bool,
    again: bool = False,
    expired: bool = False,
    browser: bool = False,
) -> Any:
    handle = _handle(_register(w, c))
    parsed = read_handle(handle)
    assert parsed is not None
    code = confirmation_code(w.signer, *parsed)
    if not right:
        code = f"{(int(code) + 1) % 1_000_000:06d}"
    if expired:
        w.clock.advance(hours=25)
    cookie = {"cookie": f"regflow_reg={handle}"}
    if browser:  # a plain form post
        return c.post("/confirm-code", data={"code": code}, headers={**HTML, **cookie})
    if again:
        assert c.post("/confirm-code", json={"code": code}, headers=cookie).status_code == 200
    return c.post("/confirm-code", json={"code": code}, headers=cookie)


def _busy_code(w: World, c: TestClient) -> Any:
    handle = _handle(_register(w, c))
    _busy(w, "confirm_code")
    cookie = {"cookie": f"regflow_reg={handle}"}
    return c.post("/confirm-code", json={"code": "123456"}, headers=cookie)


def _busy_resend(w: World, c: TestClient) -> Any:
    token = _token(w, c)
    _busy(w, "get")
    return c.post("/resend", json={"token": token})


def _erase_token(w: World, c: TestClient) -> str:
    assert _register(w, c).status_code == 202
    reg = next(iter(w.store.by_id.values()))
    return w.signer.for_erasure().issue(reg.id, reg.addr_key)


def _busy_erase(w: World, c: TestClient) -> Any:
    token = _erase_token(w, c)
    _busy(w, "erase")
    return c.post("/erase", data={"token": token})


def _busy_register(w: World, c: TestClient, **headers: str) -> Any:
    _busy(w, "create_pending")
    if headers:  # a browser's plain form post
        return c.post("/register", data={"name": "J", "email": "j@x.org"}, headers=headers)
    return _register(w, c)


def _busy_click(w: World, c: TestClient, **headers: str) -> Any:
    token = _token(w, c)
    _busy(w, "confirm")
    return c.get("/confirm", params={"token": token}, headers=headers)


def _busy_button(w: World, c: TestClient) -> Any:
    token = _token(w, c)
    _busy(w, "confirm")
    return c.post("/confirm", data={"token": token})


def _form_limited(w: World, c: TestClient) -> Any:
    for i in range(2):
        answer = c.post(
            "/register", data={"name": "Jane", "email": f"j{i}@example.com"}, headers=HTML
        )
    return answer


def test_every_documented_status_has_a_request_and_every_request_is_documented() -> None:
    missing = sorted(documented() - set(CASES))
    extra = sorted(set(CASES) - documented())
    assert not missing, f"documented in openapi.yaml, no request in this test: {missing}"
    assert not extra, f"answered by the server, not documented in openapi.yaml: {extra}"


def _cases() -> Iterator[Any]:
    for key, variants in CASES.items():
        for n, (env, case) in enumerate(variants):
            yield pytest.param(key, env, case, id=f"{key[0]} {key[1]} {key[2]} #{n}")


@pytest.mark.parametrize(("key", "env", "case"), list(_cases()))
def test_the_answer_matches_the_document(
    key: tuple[str, str, str], env: dict[str, str], case: Case
) -> None:
    method, path, status = key
    w = world(**env)
    with TestClient(
        create_app(GatewayConfig(api=w.api)), follow_redirects=False, raise_server_exceptions=True
    ) as client:
        answer = case(w, client)
    assert str(answer.status_code) == status, f"{method} {path}: {answer.status_code} {answer.text}"
    response = resolve(DOC["paths"][path][method.lower()]["responses"][status])
    for name, header in response.get("headers", {}).items():
        value = answer.headers.get(name)
        if header.get("required"):
            assert value is not None, f"{method} {path} {status}: no {name} header"
        if value is not None:
            jsonschema.validate(value, header["schema"])
    content = response.get("content", {})
    kind = answer.headers.get("content-type", "").split(";")[0].strip()
    if content:
        assert kind in content, f"{method} {path} {status}: {kind} is not a documented body"
        if kind == "application/json":
            jsonschema.validate(json.loads(answer.content), content[kind]["schema"])
    elif method != "HEAD":
        assert status.startswith("3") or not answer.content or kind == "application/json", (
            f"{method} {path} {status}: a body the document does not describe ({kind})"
        )
