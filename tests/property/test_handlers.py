"""Property-based tests of the HTTP adapter: whatever a client sends, no 5xx, no exception
text, the security headers, and the store unchanged when the input is rejected."""

from __future__ import annotations

import base64
import json
import re
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from regflow.http import Request
from tests.support.events import http_event
from tests.unit.fakes import World, world

SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# What must never show in a response body.
LEAK = re.compile(
    r"Traceback|Error:|Exception|File \"|line \d+|"
    r"\b(Value|Type|Key|Index|Attribute|Unicode\w*|JSONDecode|Recursion|Runtime|Assertion|"
    r"Name|Lookup|Overflow|ZeroDivision|OS|Binascii)Error\b|regflow\.|site-packages"
)

# Text that includes lone surrogates and control characters (st.text() leaves surrogates out).
any_char = st.one_of(
    st.characters(),
    st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF),
    st.sampled_from(["\x00", "\r", "\n", "\u2028", "\u0085", "%", "&", "=", "+", '"', "<"]),
)
any_text = st.text(any_char, max_size=60)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | any_text.filter(lambda s: not re.search("[\ud800-\udfff]", s)),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)

valid_names = st.sampled_from(["Jane", " Zoë ", "李", "<b>x</b>", "x" * 100])
valid_emails = st.sampled_from(
    ["jane@example.com", "JANE@example.com", "j+x@sub.example.org", "a@münchen.de"]
)
field_values = st.one_of(valid_names, valid_emails, json_values)


@st.composite
def registration_objects(draw: st.DrawFn) -> dict[str, Any]:
    """A JSON object that is often close to a real registration."""
    obj: dict[str, Any] = draw(st.dictionaries(st.text(max_size=8), json_values, max_size=3))
    if draw(st.booleans()):
        obj["name"] = draw(st.one_of(valid_names, field_values))
    if draw(st.booleans()):
        obj["email"] = draw(st.one_of(valid_emails, field_values))
    if draw(st.integers(0, 5)) == 0:
        obj["website"] = draw(json_values)
    return obj


def _deep(depth: int) -> str:
    return "[" * depth + "]" * depth


text_bodies = st.one_of(
    any_text,
    st.builds(json.dumps, json_values),
    st.builds(json.dumps, registration_objects()),
    st.builds(
        lambda d: urlencode(d),
        st.dictionaries(
            st.sampled_from(["name", "email", "website", "token", "x"]),
            st.one_of(valid_names, valid_emails, st.text(max_size=30)),
            max_size=4,
        ),
    ),
    st.builds(_deep, st.integers(1, 20_000)),
    st.builds(lambda n: '{"a":' * n + "1" + "}" * n, st.integers(1, 5000)),
    st.builds(lambda n: "1" * n, st.integers(4000, 5000)),  # int too long to convert
    st.builds(lambda n: "x" * n, st.integers(16_000, 40_000)),
)

content_types = st.one_of(
    st.sampled_from(
        [
            "application/json",
            "application/json; charset=utf-8",
            "application/x-www-form-urlencoded",
            "application/vnd.x+json",
            "text/plain",
            "multipart/form-data; boundary=zz",
            "",
            ";;;",
            "APPLICATION/JSON",
        ]
    ),
    any_text,
)

header_maps = st.dictionaries(
    st.one_of(
        st.sampled_from(["accept", "content-type", "x-forwarded-for", "cookie", "content-length"]),
        st.text(min_size=1, max_size=20),
    ),
    any_text,
    max_size=5,
)

methods = st.one_of(st.sampled_from(["GET", "POST", "PUT", "HEAD", "OPTIONS", "post"]), any_text)
queries = st.one_of(
    st.none(),
    any_text,
    st.dictionaries(st.sampled_from(["token", "status", "x"]), st.text(max_size=60), max_size=3),
    st.builds(lambda n: "&".join(f"t{i}=1" for i in range(n)) + "&token=x", st.integers(0, 120)),
)


@st.composite
def events(draw: st.DrawFn, path: str) -> dict[str, Any]:
    headers: dict[str, str] = draw(header_maps)
    if draw(st.booleans()):
        headers["content-type"] = draw(content_types)
    if draw(st.booleans()):
        headers["accept"] = draw(st.sampled_from(["text/html", "application/json", "*/*"]))
    body_kind = draw(st.sampled_from(["none", "text", "bytes", "base64-text"]))
    body: str | bytes | None
    if body_kind == "none":
        body = None
    elif body_kind == "bytes":
        body = draw(st.binary(max_size=200))
    else:
        body = draw(text_bodies)
    safe_text = isinstance(body, str) and not re.search("[\ud800-\udfff]", body)
    event = http_event(
        draw(methods),
        path,
        body=body if safe_text or not isinstance(body, str) else None,
        headers={k: v for k, v in headers.items() if not re.search("[\ud800-\udfff]", k + v)},
        query=draw(queries),
        source_ip=draw(st.sampled_from(["203.0.113.10", "2001:db8::1", "", "not an ip"])),
        base64=body_kind == "base64-text" and safe_text,
    )
    if isinstance(body, str) and not safe_text:
        event["body"] = body  # lone surrogates: no client can send them, a bug might
    # Flags and shapes a client cannot set through API Gateway, but a bug elsewhere might.
    flag = draw(st.integers(0, 9))
    if flag == 0:
        event["isBase64Encoded"] = not event["isBase64Encoded"]
    elif flag == 1:
        event["isBase64Encoded"] = draw(st.sampled_from(["true", "false", 1, None]))
    elif flag == 2:
        event["headers"] = draw(st.sampled_from([None, [], "x", {1: 2}]))
    elif flag == 3:
        event["body"] = draw(st.sampled_from([b"{}", 42, [], {"name": "J"}]))
    elif flag == 4:
        event["requestContext"] = draw(st.sampled_from([None, {}, {"http": None}, "x"]))
    elif flag == 5:
        event["queryStringParameters"] = draw(st.sampled_from([None, {"token": 5}, "x"]))
        event.pop("rawQueryString", None)
    return event


def _check_response(response: dict[str, Any]) -> None:
    assert isinstance(response, dict)
    status = response["statusCode"]
    assert isinstance(status, int)
    assert 200 <= status < 500, response
    body = response["body"]
    assert isinstance(body, str)
    assert not LEAK.search(body), body
    headers = response["headers"]
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    if "Location" in headers:
        assert "\n" not in headers["Location"]
        assert "\r" not in headers["Location"]
    if body and headers.get("Content-Type") == "application/json":
        payload = json.loads(body)
        assert isinstance(payload, dict)
        if status >= 400:
            assert isinstance(payload["error"], str)
            assert set(payload) <= {"error", "field"}
            assert payload.get("field", "name") in ("name", "email")


def _rejected(response: dict[str, Any]) -> bool:
    if response["statusCode"] >= 400:
        return True
    where = response["headers"].get("Location")
    return bool(where) and parse_qs(urlsplit(where).query).get("status") == ["error"]


def _fresh() -> tuple[World, tuple[Any, ...]]:
    w = world(BLOCKED_EMAIL_DOMAINS="blocked.example")
    return w, w.snapshot()


@SETTINGS
@given(event=events("/register"))
def test_register_never_fails_and_never_leaks(event: dict[str, Any]) -> None:
    w, before = _fresh()
    response = w.api(event)
    _check_response(response)
    if Request.from_event(event).method != "POST":  # the route table's only method here
        assert response["statusCode"] == 405
        assert response["headers"]["Allow"] == "POST"
    else:
        assert response["statusCode"] in (202, 303, 400, 413, 415, 429)
    if _rejected(response):
        assert w.snapshot() == before, "rejected input changed the store"
    else:
        # Accepted: at most one registration and its one owed mail, nothing else.
        assert len(w.store.by_id) <= 1
        assert len(w.owed()) == len(w.store.by_id)
        assert w.store.confirmed_by_address == {}


@SETTINGS
@given(obj=registration_objects(), form=st.booleans(), html=st.booleans())
def test_register_answers_field_errors_or_accepts(
    obj: dict[str, Any], form: bool, html: bool
) -> None:
    w, before = _fresh()
    if form:
        fields = {k: v if isinstance(v, str) else json.dumps(v) for k, v in obj.items()}
        body = urlencode(
            {k: v for k, v in fields.items() if not re.search("[\ud800-\udfff]", k + v)}
        )
        content_type = "application/x-www-form-urlencoded"
    else:
        body = json.dumps(obj)
        content_type = "application/json"
    headers = {"content-type": content_type, "accept": "text/html" if html else "*/*"}
    response = w.api(http_event("POST", "/register", body=body, headers=headers))
    _check_response(response)
    status = response["statusCode"]
    if status == 400:
        assert json.loads(response["body"])["field"] in ("name", "email")
    elif status == 303:
        assert form
    else:
        assert status == 202
        assert not form
    if _rejected(response):
        assert w.snapshot() == before


@SETTINGS
@given(event=events("/confirm"), mode=st.sampled_from(["link", "button"]))
def test_confirm_never_fails_and_never_leaks(event: dict[str, Any], mode: str) -> None:
    w = world(CONFIRM_MODE=mode)
    w.intake.register("Jane", "jane@example.com")
    before = w.snapshot()
    response = w.api(event)
    _check_response(response)
    status = response["statusCode"]
    assert status in (200, 302, 303, 405, 415)
    request = Request.from_event(event)
    if request.method not in ("GET", "POST"):  # HEAD (issue 9), or no method of the table
        assert status == 405
        assert response["headers"]["Allow"] == "GET, POST"
    elif status == 405:
        raise AssertionError("GET and POST are routes of /confirm")
    elif status == 415:  # a POST that is not a form (issue 9)
        assert request.method == "POST" and not request.is_form
    elif status == 200:
        assert mode == "button"
        assert response["headers"]["Content-Type"].startswith("text/html")
    else:
        where = urlsplit(response["headers"]["Location"])
        assert parse_qs(where.query)["status"][0] in (
            "confirmed",
            "already-confirmed",
            "expired",
            "invalid",
        )
    # No random input carries a genuine token: nothing may change.
    assert w.snapshot() == before


@SETTINGS
@given(
    prefix=any_text,
    suffix=any_text,
    method=st.sampled_from(["GET", "POST"]),
    base64_body=st.booleans(),
)
def test_confirm_with_a_genuine_token_among_noise(
    prefix: str, suffix: str, method: str, base64_body: bool
) -> None:
    """A genuine token confirms once; a token with anything glued to it confirms nothing."""
    w = world()
    w.intake.register("Jane", "jane@example.com")
    (reg,) = w.store.by_id.values()
    token = w.signer.issue(reg.id, reg.addr_key)
    glued = prefix + token + suffix
    if method == "GET":
        quoted = quote(glued, safe="", encoding="utf-8", errors="surrogatepass")
        event = http_event("GET", "/confirm", query=f"token={quoted}")
    else:
        raw = urlencode({"token": glued}, encoding="utf-8", errors="surrogatepass")
        event = http_event(
            "POST",
            "/confirm",
            body=raw.encode() if base64_body else raw,
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
    response = w.api(event)
    _check_response(response)
    outcome = parse_qs(urlsplit(response["headers"]["Location"]).query)["status"][0]
    if glued.strip() == token:
        assert outcome == "confirmed"
        assert len(w.owed()) == 2
    else:
        assert outcome == "invalid"
        assert w.store.confirmed_by_address == {}


@settings(max_examples=60, deadline=None)
@given(raw=st.binary(max_size=300), content_type=content_types)
def test_base64_bodies_of_arbitrary_bytes(raw: bytes, content_type: str) -> None:
    w, before = _fresh()
    event = http_event("POST", "/register", body=base64.b64encode(raw).decode(), headers={})
    event["headers"]["content-type"] = content_type
    event["isBase64Encoded"] = True
    response = w.api(event)
    _check_response(response)
    if _rejected(response):
        assert w.snapshot() == before
