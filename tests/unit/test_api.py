"""The HTTP adapter, driven with API Gateway HTTP API v2 events (as the Lambda handlers and
the embedded server drive it)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from regflow import http
from regflow.domain import Outcome, Status, StoreUnavailable
from regflow.views.confirm import confirm_page
from tests.support.events import ACCEPTED, form_post, http_event, json_post
from tests.unit.fakes import START, World, world

REGISTER_PAGE = "https://www.example.org/"
SUCCESS = "https://www.example.org/confirmed.html"


def assert_security_headers(response: Mapping[str, Any]) -> None:
    headers = response["headers"]
    csp = headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"


def post_json(w: World, payload: Any, **kwargs: Any) -> dict[str, Any]:
    response = w.api(json_post("/register", payload, **kwargs))
    assert_security_headers(response)
    return response


def body_of(response: Mapping[str, Any]) -> Any:
    assert response["headers"]["Content-Type"] == "application/json"
    return json.loads(response["body"])


def location(response: Mapping[str, Any]) -> tuple[str, dict[str, list[str]]]:
    parts = urlsplit(response["headers"]["Location"])
    return f"{parts.scheme}://{parts.netloc}{parts.path}", parse_qs(parts.query)


def token_for(w: World, index: int = 0) -> str:
    reg = list(w.store.by_id.values())[index]
    return w.signer.issue(reg.id, reg.addr_key)


def confirm_get(w: World, token: str | None = None, **kwargs: Any) -> dict[str, Any]:
    query = None if token is None else {"token": token}
    response = w.api(http_event("GET", "/confirm", query=query, **kwargs))
    assert_security_headers(response)
    return response


# --- POST /register ---------------------------------------------------------------------


def test_accepted() -> None:
    w = world()
    response = post_json(w, {"name": "Jane", "email": "jane@example.com"})
    assert response["statusCode"] == 202
    assert body_of(response) == {"message": ACCEPTED, "sender": "no-reply@example.org"}
    (reg,) = w.store.by_id.values()
    assert reg.status is Status.PENDING
    assert reg.email == "jane@example.com"


def test_same_answer_for_unknown_pending_confirmed_and_limited_addresses() -> None:
    w = world(ADDRESS_MIN_INTERVAL_SECONDS="0", ADDRESS_LIMIT_PER_DAY="3")
    ip = {"source_ip": "198.51.100.1"}
    unknown = post_json(w, {"name": "Jane", "email": "jane@example.com"}, **ip)
    pending = post_json(w, {"name": "Jane", "email": "jane@example.com"}, **ip)
    assert w.api(http_event("GET", "/confirm", query={"token": token_for(w)}))
    confirmed = post_json(w, {"name": "Jane", "email": "jane@example.com"}, **ip)
    limited = post_json(w, {"name": "Jane", "email": "jane@example.com"}, **ip)
    honeypot = post_json(w, {"name": "B", "email": "b@example.com", "website": "x"}, **ip)
    assert len(w.store.by_id) == 3  # the limited post and the bot stored nothing
    answers = [unknown, pending, confirmed, limited, honeypot]
    # CONFIRM_CODE: every accepted post gets a registration cookie of one shape, a fresh
    # random id each time (tests/unit/test_signup_code.py), so the value is set aside here
    for answer in answers:
        (cookie,) = answer.pop("cookies")
        assert re.fullmatch(r"regflow_reg=[A-Za-z0-9_-]{43}; Path=/; .*", cookie), cookie
    for answer in answers:
        assert answer == unknown, "the answer tells the cases apart"
    assert unknown["statusCode"] == 202


def test_client_limit_gives_429_with_retry_after() -> None:
    w = world(IP_LIMIT_PER_HOUR="3")
    for i in range(3):
        ok = post_json(w, {"name": "J", "email": f"j{i}@example.com"}, source_ip="198.51.100.9")
        assert ok["statusCode"] == 202
    before = w.snapshot()
    limited = post_json(w, {"name": "J", "email": "j9@example.com"}, source_ip="198.51.100.9")
    assert limited["statusCode"] == 429
    assert int(limited["headers"]["Retry-After"]) == 3600
    payload = body_of(limited)
    assert set(payload) == {"error"}
    assert payload["error"]
    assert w.snapshot() == before
    # The limit is keyed on the API Gateway source IP, not on a header the client controls.
    spoofed = post_json(
        w,
        {"name": "J", "email": "j10@example.com"},
        source_ip="198.51.100.9",
        headers={"x-forwarded-for": "192.0.2.77"},
    )
    assert spoofed["statusCode"] == 429
    other = post_json(w, {"name": "J", "email": "j9@example.com"}, source_ip="198.51.100.10")
    assert other["statusCode"] == 202


def test_client_limit_counts_down_in_retry_after_and_expires() -> None:
    w = world(IP_LIMIT_PER_HOUR="1")
    assert post_json(w, {"name": "J", "email": "a@example.com"})["statusCode"] == 202
    w.clock.advance(minutes=50)
    limited = post_json(w, {"name": "J", "email": "b@example.com"})
    assert limited["statusCode"] == 429
    assert limited["headers"]["Retry-After"] == "600"
    w.clock.advance(minutes=10)
    assert post_json(w, {"name": "J", "email": "b@example.com"})["statusCode"] == 202


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": "", "email": "jane@example.com"}, "name"),
        ({"name": "   ", "email": "jane@example.com"}, "name"),
        ({"email": "jane@example.com"}, "name"),
        ({"name": None, "email": "jane@example.com"}, "name"),
        ({"name": 42, "email": "jane@example.com"}, "name"),
        ({"name": ["Jane"], "email": "jane@example.com"}, "name"),
        ({"name": "x" * 101, "email": "jane@example.com"}, "name"),
        ({"name": "Jane\nDoe", "email": "jane@example.com"}, "name"),
        ({"name": "Jane"}, "email"),
        ({"name": "Jane", "email": "jane"}, "email"),
        ({"name": "Jane", "email": "jane@example"}, "email"),
        ({"name": "Jane", "email": {"a": 1}}, "email"),
        ({"name": "Jane", "email": "x" * 250 + "@example.com"}, "email"),
    ],
)
def test_invalid_fields_give_400_with_field(payload: Any, field: str) -> None:
    w = world()
    response = post_json(w, payload)
    assert response["statusCode"] == 400
    body = body_of(response)
    assert set(body) == {"error", "field"}
    assert body["field"] == field
    assert isinstance(body["error"], str)
    assert body["error"]
    assert w.snapshot() == world().snapshot()


@pytest.mark.parametrize(
    "raw",
    ["", "null", "[]", '["Jane", "jane@example.com"]', '"text"', "42", "{", "{'a': 1}", "\xff"],
)
def test_bodies_that_are_not_an_object_give_400(raw: str) -> None:
    w = world()
    response = w.api(
        http_event("POST", "/register", body=raw, headers={"content-type": "application/json"})
    )
    assert response["statusCode"] == 400
    assert set(body_of(response)) == {"error"}
    assert w.store.by_id == {}


def test_missing_body_gives_400() -> None:
    w = world()
    event = http_event("POST", "/register", headers={"content-type": "application/json"})
    response = w.api(event)
    assert response["statusCode"] == 400


def test_deeply_nested_json_gives_400_not_500() -> None:
    w = world()
    raw = "[" * 8000 + "]" * 8000
    response = w.api(
        http_event("POST", "/register", body=raw, headers={"content-type": "application/json"})
    )
    assert response["statusCode"] in (400, 413)


@pytest.mark.parametrize("base64_body", [False, True])
def test_too_large_body_gives_413(base64_body: bool) -> None:
    w = world()
    payload = json.dumps({"name": "J", "email": "j@example.com", "pad": "x" * 17000})
    event = http_event(
        "POST",
        "/register",
        body=payload,
        headers={"content-type": "application/json"},
        base64=base64_body,
    )
    response = w.api(event)
    assert response["statusCode"] == 413
    assert_security_headers(response)
    assert set(body_of(response)) == {"error"}
    assert w.store.by_id == {}


def test_body_just_under_the_limit_is_read() -> None:
    w = world()
    base = {"name": "Jane", "email": "jane@example.com", "pad": ""}
    pad = http.MAX_BODY_BYTES - len(json.dumps(base))
    payload = json.dumps({**base, "pad": "x" * pad})
    assert len(payload) == http.MAX_BODY_BYTES
    response = w.api(
        http_event("POST", "/register", body=payload, headers={"content-type": "application/json"})
    )
    assert response["statusCode"] == 202


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "multipart/form-data; boundary=x", "application/xml", "json"],
)
def test_other_content_types_give_415(content_type: str | None) -> None:
    w = world()
    headers = {} if content_type is None else {"content-type": content_type}
    event = http_event(
        "POST", "/register", body='{"name":"J","email":"j@example.com"}', headers=headers
    )
    response = w.api(event)
    assert response["statusCode"] == 415
    assert_security_headers(response)
    assert set(body_of(response)) == {"error"}


@pytest.mark.parametrize(
    "content_type",
    ["application/json; charset=utf-8", "Application/JSON", "application/vnd.api+json"],
)
def test_json_content_type_variants_are_accepted(content_type: str) -> None:
    w = world()
    event = http_event(
        "POST",
        "/register",
        body='{"name":"J","email":"j@example.com"}',
        headers={"content-type": content_type},
    )
    assert w.api(event)["statusCode"] == 202


def test_base64_encoded_json_body() -> None:
    w = world()
    raw = json.dumps({"name": "Zoë", "email": "zoe@example.com"}).encode()
    event = http_event("POST", "/register", body=raw, headers={"content-type": "application/json"})
    assert event["isBase64Encoded"] is True
    response = w.api(event)
    assert response["statusCode"] == 202
    (reg,) = w.store.by_id.values()
    assert reg.name == "Zoë"


def test_invalid_base64_body_gives_400() -> None:
    w = world()
    event = http_event(
        "POST", "/register", body="not base64!!", headers={"content-type": "application/json"}
    )
    event["isBase64Encoded"] = True
    response = w.api(event)
    assert response["statusCode"] == 400
    assert w.store.by_id == {}


def test_form_post_redirects_to_sent() -> None:
    w = world()
    response = w.api(
        form_post("/register", {"name": "Jane", "email": "jane@example.com", "website": ""})
    )
    assert response["statusCode"] == 303
    assert_security_headers(response)
    assert location(response) == (REGISTER_PAGE, {"status": ["sent"]})
    assert len(w.store.by_id) == 1


def test_base64_form_post() -> None:
    w = world()
    event = http_event(
        "POST",
        "/register",
        body=urlencode({"name": "Jane", "email": "jane@example.com"}).encode(),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert w.api(event)["statusCode"] == 303
    assert len(w.store.by_id) == 1


def test_form_honeypot_redirects_to_sent_and_stores_nothing() -> None:
    w = world()
    response = w.api(
        form_post("/register", {"name": "Bot", "email": "bot@example.com", "website": "spam"})
    )
    assert location(response) == (REGISTER_PAGE, {"status": ["sent"]})
    assert w.snapshot() == world().snapshot()


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": "", "email": "jane@example.com"}, "name"),
        ({"name": "Jane", "email": "nope"}, "email"),
        ({"email": "jane@example.com"}, "name"),
    ],
)
def test_form_error_from_a_browser_redirects_with_the_field(
    fields: dict[str, str], field: str
) -> None:
    w = world()
    response = w.api(form_post("/register", fields))
    assert response["statusCode"] == 303
    assert_security_headers(response)
    assert location(response) == (REGISTER_PAGE, {"status": ["error"], "field": [field]})
    assert w.store.by_id == {}


def test_form_error_without_html_accept_gives_json_400() -> None:
    w = world()
    event = form_post(
        "/register", {"name": "Jane", "email": "nope"}, headers={"accept": "application/json"}
    )
    response = w.api(event)
    assert response["statusCode"] == 400
    assert body_of(response)["field"] == "email"


def test_form_with_too_many_fields_gives_400() -> None:
    w = world()
    fields = {f"f{i}": "x" for i in range(60)}
    response = w.api(form_post("/register", {**fields, "name": "J"}))
    assert response["statusCode"] == 400


def test_store_unavailable_gives_503_with_retry_after(monkeypatch: pytest.MonkeyPatch) -> None:
    w = world()

    def down(*args: object, **kwargs: object) -> None:
        raise StoreUnavailable(retry_after=7)

    monkeypatch.setattr(w.store, "create_pending", down)
    response = post_json(w, {"name": "Jane", "email": "jane@example.com"})
    assert response["statusCode"] == 503
    assert response["headers"]["Retry-After"] == "7"
    assert set(body_of(response)) == {"error"}


def test_unexpected_error_gives_500_without_exception_text(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    w = world()

    def broken(*args: object, **kwargs: object) -> None:
        raise KeyError("secret internal detail")

    monkeypatch.setattr(w.store, "create_pending", broken)
    response = post_json(w, {"name": "Jane", "email": "jane@example.com"})
    assert response["statusCode"] == 500
    assert "secret internal detail" not in response["body"]
    assert "KeyError" not in response["body"]
    assert "Traceback" not in response["body"]


# --- GET /confirm -----------------------------------------------------------------------


def _registered(**env: str) -> tuple[World, str]:
    w = world(**env)
    post_json(w, {"name": "Jane", "email": "jane@example.com"})
    return w, token_for(w)


def test_confirm_outcomes_redirect_to_success_url() -> None:
    w, token = _registered()
    first = confirm_get(w, token)
    assert first["statusCode"] == 302
    assert location(first) == (SUCCESS, {"status": ["confirmed"]})
    assert first["body"] == ""
    (reg,) = w.store.by_id.values()
    assert reg.status is Status.CONFIRMED
    again = confirm_get(w, token)
    assert location(again) == (SUCCESS, {"status": ["already-confirmed"]})


def test_confirm_expired() -> None:
    w, token = _registered()
    w.clock.advance(hours=24)
    response = confirm_get(w, token)
    assert location(response) == (SUCCESS, {"status": ["expired"]})
    (reg,) = w.store.by_id.values()
    assert reg.status is Status.PENDING


@pytest.mark.parametrize(
    "query",
    [None, "", "token=", "token=abc", "token=" + "A" * 64, "tok=x", "token=a&token=b"],
)
def test_confirm_invalid(query: str | None) -> None:
    w, _ = _registered()
    before = w.snapshot()
    response = w.api(http_event("GET", "/confirm", query=query))
    assert response["statusCode"] == 302
    assert location(response) == (SUCCESS, {"status": ["invalid"]})
    assert w.snapshot() == before


def test_confirm_with_a_huge_query_string_is_invalid_not_500() -> None:
    w, token = _registered()
    query = "&".join(f"p{i}=1" for i in range(200)) + f"&token={token}"
    response = w.api(http_event("GET", "/confirm", query=query))
    assert response["statusCode"] == 302
    assert location(response) == (SUCCESS, {"status": ["invalid"]})


def test_confirm_reads_query_string_parameters_without_raw_query() -> None:
    w, token = _registered()
    event = http_event("GET", "/confirm", query={"token": token})
    del event["rawQueryString"]
    assert location(w.api(event))[1] == {"status": ["confirmed"]}


def test_success_url_with_its_own_query_keeps_it() -> None:
    w, token = _registered(SUCCESS_URL="https://www.example.org/done?lang=en")
    response = confirm_get(w, token)
    assert (
        response["headers"]["Location"] == "https://www.example.org/done?lang=en&status=confirmed"
    )


# --- CONFIRM_MODE=button ----------------------------------------------------------------


def test_button_mode_get_shows_a_page_and_changes_nothing() -> None:
    w, token = _registered(CONFIRM_MODE="button")
    before = w.snapshot()
    for _ in range(3):  # a scanner fetching the link several times
        response = confirm_get(w, token)
        assert response["statusCode"] == 200
        assert response["headers"]["Content-Type"] == "text/html; charset=utf-8"
        page = response["body"]
        assert "Confirm my email" in page
        assert 'method="post"' in page
        assert 'action="confirm"' in page
        assert f'name="token" value="{token}"' in page
    assert w.snapshot() == before


def test_button_mode_post_confirms() -> None:
    w, token = _registered(CONFIRM_MODE="button")
    event = form_post("/confirm", {"token": token})
    response = w.api(event)
    assert response["statusCode"] == 303
    assert_security_headers(response)
    assert location(response) == (SUCCESS, {"status": ["confirmed"]})
    (reg,) = w.store.by_id.values()
    assert reg.status is Status.CONFIRMED
    assert len(w.owed()) == 2  # verification + owner notification
    again = w.api(form_post("/confirm", {"token": token}))
    assert location(again) == (SUCCESS, {"status": ["already-confirmed"]})


@pytest.mark.parametrize("query", [None, "token=forged", "token=" + "A" * 64])
def test_button_mode_get_with_a_bad_token_redirects_invalid(query: str | None) -> None:
    w, _ = _registered(CONFIRM_MODE="button")
    response = w.api(http_event("GET", "/confirm", query=query))
    assert response["statusCode"] == 302
    assert location(response) == (SUCCESS, {"status": ["invalid"]})


def test_button_mode_get_of_expired_token_still_changes_nothing() -> None:
    w, token = _registered(CONFIRM_MODE="button")
    w.clock.advance(hours=25)
    before = w.snapshot()
    assert confirm_get(w, token)["statusCode"] == 200
    assert w.snapshot() == before
    response = w.api(form_post("/confirm", {"token": token}))
    assert location(response) == (SUCCESS, {"status": ["expired"]})


@pytest.mark.parametrize("body", [None, "", "token=", "garbage", "token=%ff%fe"])
def test_post_confirm_with_a_bad_body_is_invalid(body: str | None) -> None:
    w, _ = _registered(CONFIRM_MODE="button")
    before = w.snapshot()
    event = http_event(
        "POST",
        "/confirm",
        body=body,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    response = w.api(event)
    assert response["statusCode"] == 303
    assert location(response) == (SUCCESS, {"status": [Outcome.INVALID.value]})
    assert w.snapshot() == before


def test_confirm_page_escapes_the_token_and_site_name() -> None:
    w = world(CONFIRM_MODE="button", SITE_NAME="<Club & Co>")
    page = confirm_page(w.api, '"><script>alert(1)</script>', "en")
    assert "<script>" not in page
    assert 'value="&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"' in page
    assert "&lt;Club &amp; Co&gt;" in page


def test_link_mode_is_the_default_and_the_clock_is_respected() -> None:
    w, token = _registered()
    assert w.clock.now == START
    assert confirm_get(w, token)["statusCode"] == 302


def test_base64_encoded_post_confirm() -> None:
    w, token = _registered(CONFIRM_MODE="button")
    event = http_event(
        "POST",
        "/confirm",
        body=f"token={token}".encode(),  # bytes: sent base64-encoded, as for binary media
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert event["isBase64Encoded"] is True
    assert location(w.api(event))[1] == {"status": ["confirmed"]}


# --- the client address behind CloudFront -----------------------------------------------

EDGE_IP = "130.176.1.1"  # a CloudFront edge: the API Gateway source IP of every viewer


def _via_cloudfront(w: World, address: str, viewer: str, verify: str) -> int:
    headers = {"cloudfront-viewer-address": viewer, "x-origin-verify": verify}
    response = post_json(w, {"name": "J", "email": address}, source_ip=EDGE_IP, headers=headers)
    return int(response["statusCode"])


def test_viewer_address_counts_only_with_the_origin_verify_value() -> None:
    w = world(IP_LIMIT_PER_HOUR="1", ORIGIN_VERIFY_SECRET="edge-secret-value")
    # Two viewers behind the same edge are limited separately...
    assert _via_cloudfront(w, "a@example.com", "198.51.100.7:40000", "edge-secret-value") == 202
    assert _via_cloudfront(w, "b@example.com", "[2001:db8::7]:40001", "edge-secret-value") == 202
    assert _via_cloudfront(w, "c@example.com", "2001:db8:0:1::8:40002", "edge-secret-value") == 202
    assert _via_cloudfront(w, "d@example.com", "198.51.100.7:40003", "edge-secret-value") == 429
    # ...and a request without the right value is keyed on its source IP, whatever it claims.
    assert _via_cloudfront(w, "e@example.com", "192.0.2.1:1", "wrong") == 202
    assert _via_cloudfront(w, "f@example.com", "192.0.2.2:1", "") == 429
    assert _via_cloudfront(w, "g@example.com", "not-an-address", "edge-secret-value") == 429


def test_viewer_address_is_ignored_without_an_origin_verify_secret() -> None:
    w = world(IP_LIMIT_PER_HOUR="1")
    assert _via_cloudfront(w, "a@example.com", "198.51.100.7:1", "anything") == 202
    assert _via_cloudfront(w, "b@example.com", "198.51.100.8:1", "anything") == 429


# --- a browser that navigated to the API gets a page, never raw JSON ---------------------------


def test_a_form_post_over_the_client_limit_gets_a_page_in_its_language() -> None:
    w = world(IP_LIMIT_PER_HOUR="1")
    first = {"name": "Jane", "email": "jane@example.com", "lang": "de"}
    assert w.api(form_post("/register", first))["statusCode"] == 303
    second = {"name": "Joe", "email": "joe@example.com", "lang": "de"}
    response = w.api(form_post("/register", second))
    assert response["statusCode"] == 429
    assert int(response["headers"]["Retry-After"]) >= 1
    assert response["headers"]["Content-Type"] == "text/html; charset=utf-8"
    assert_security_headers(response)
    assert '<html lang="de">' in response["body"]
    assert "Zu viele Anmeldungen" in response["body"]
    assert f'href="{REGISTER_PAGE}"' in response["body"]
    # a script posting JSON still gets JSON
    third = w.api(json_post("/register", {"name": "Al", "email": "al@example.com"}))
    assert third["statusCode"] == 429 and set(body_of(third)) == {"error"}


@pytest.mark.parametrize(
    ("fault", "status", "text"),
    [
        (StoreUnavailable(retry_after=3), 503, "We are busy right now"),
        (KeyError("secret internal detail"), 500, "Something went wrong"),
    ],
)
def test_a_link_clicked_while_the_store_fails_gets_a_page(
    monkeypatch: pytest.MonkeyPatch, fault: Exception, status: int, text: str
) -> None:
    w = world()
    w.intake.register("Jane", "jane@example.com")
    token = token_for(w)

    def down(*args: object, **kwargs: object) -> None:
        raise fault

    monkeypatch.setattr(w.store, "confirm", down)
    event = http_event(
        "GET", "/confirm", query={"token": token}, headers={"accept": "text/html,*/*;q=0.8"}
    )
    response = w.api(event)
    assert response["statusCode"] == status
    assert response["headers"]["Content-Type"] == "text/html; charset=utf-8"
    assert text in response["body"]
    assert "secret internal detail" not in response["body"] and "KeyError" not in response["body"]
    assert ("Retry-After" in response["headers"]) is (status == 503)
    assert_security_headers(response)


def test_a_busy_store_answers_a_form_in_its_language_and_a_script_in_json(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    w = world()

    def down(*args: object, **kwargs: object) -> None:
        raise StoreUnavailable(retry_after=2)

    monkeypatch.setattr(w.store, "create_pending", down)
    form = form_post(
        "/register",
        {"name": "Jane", "email": "jane@example.com", "lang": "de"},
        headers={"accept-language": "en"},
    )
    page = w.api(form)
    assert page["statusCode"] == 503 and '<html lang="de">' in page["body"]
    script = json_post(
        "/register", {"name": "Jane", "email": "jane@example.com"}, headers={"accept": "text/html"}
    )
    answer = w.api(script)
    assert answer["statusCode"] == 503 and set(body_of(answer)) == {"error"}
