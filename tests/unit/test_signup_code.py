"""CONFIRM_CODE through the HTTP adapter: the registration cookie, POST /confirm-code and the
code in the verification mail (memory store; the stores' side: tests/contract)."""

from __future__ import annotations

import json
import re
from typing import Any

from regflow.domain import Status
from regflow.tokens import confirmation_code, read_handle
from tests.support.events import form_post, json_post, say
from tests.unit.fakes import World, world

COOKIE = re.compile(
    r"regflow_reg=([A-Za-z0-9_-]{43}); Path=/; Max-Age=86400; HttpOnly; SameSite=Strict; Secure"
)


def register(w: World, email: str = "jane@example.com", **kwargs: Any) -> str:
    """POST /register; the registration cookie's value."""
    response = w.api(json_post("/register", {"name": "Jane", "email": email}, **kwargs))
    assert response["statusCode"] == 202
    (cookie,) = response["cookies"]
    match = COOKIE.fullmatch(cookie)
    assert match, cookie
    return match.group(1)


def send_code(w: World, handle: str | None, code: str) -> dict[str, Any]:
    headers = {"cookie": f"regflow_reg={handle}"} if handle else {}
    return w.api(json_post("/confirm-code", {"code": code}, headers=headers))


def right_code(w: World, handle: str) -> str:
    parsed = read_handle(handle)
    assert parsed is not None
    return confirmation_code(w.signer, *parsed)


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def body(response: dict[str, Any]) -> Any:
    return json.loads(response["body"])


def test_the_mail_carries_the_code_and_the_code_confirms() -> None:
    w = world()
    handle = register(w)
    w.drain()
    (mail,) = w.mailer.sent
    code = right_code(w, handle)
    assert re.fullmatch(r"[0-9]{6}", code)
    assert code in mail.text and code in (mail.html or "")
    response = send_code(w, handle, code)
    assert response["statusCode"] == 200
    assert body(response) == {
        "status": "confirmed",
        "message": say("api.signup_code.confirmed"),
        "location": "https://www.example.org/confirmed.html?status=confirmed",
    }
    assert response["cookies"][0].startswith("regflow_reg=; Path=/; Max-Age=0;")
    (reg,) = w.store.by_id.values()
    assert reg.status is Status.CONFIRMED
    # replayed: nothing more happens
    again = send_code(w, handle, code)
    assert again["statusCode"] == 200 and body(again)["status"] == "already-confirmed"


def test_wrong_codes_then_dead_while_the_link_still_works() -> None:
    w = world()
    handle = register(w)
    code = right_code(w, handle)
    invalid = {"error": say("error.signup_code.invalid"), "field": "code"}
    for _ in range(5):
        response = send_code(w, handle, wrong(code))
        assert response["statusCode"] == 400 and body(response) == invalid
    sixth = send_code(w, handle, code)  # the right code, too late
    assert sixth["statusCode"] == 400 and body(sixth) == invalid
    (reg,) = w.store.by_id.values()
    assert reg.status is Status.PENDING
    token = w.signer.issue(reg.id, reg.addr_key)
    assert w.intake.confirm(token).value == "confirmed"


def test_expired_code() -> None:
    w = world()
    handle = register(w)
    w.clock.advance(hours=25)
    response = send_code(w, handle, right_code(w, handle))
    assert response["statusCode"] == 400
    assert body(response) == {"error": say("error.signup_code.expired"), "field": "code"}


def test_without_the_cookie_or_with_a_forged_one_nothing_confirms() -> None:
    w = world()
    handle = register(w)
    code = right_code(w, handle)
    for cookie in (None, "x" * 43, handle[:-1] + ("A" if handle[-1] != "A" else "B")):
        response = send_code(w, cookie, code)
        assert response["statusCode"] == 400 and body(response)["field"] == "code"
    (reg,) = w.store.by_id.values()
    assert reg.status is Status.PENDING


def test_a_limited_or_trapped_post_gets_a_cookie_like_any_other_that_confirms_nothing() -> None:
    w = world(ADDRESS_MIN_INTERVAL_SECONDS="0", ADDRESS_LIMIT_PER_DAY="1")
    first = register(w)
    limited = register(w)  # nothing stored: the address limit said no
    assert len(w.store.by_id) == 1 and first != limited
    # the code such a registration would have had, answered as any wrong code
    response = send_code(w, limited, right_code(w, limited))
    assert response["statusCode"] == 400
    assert body(response) == {"error": say("error.signup_code.invalid"), "field": "code"}
    trapped = w.api(json_post("/register", {"name": "B", "email": "b@example.com", "website": "x"}))
    assert COOKIE.fullmatch(trapped["cookies"][0])


def test_plain_form_post_of_the_code() -> None:
    w = world()
    handle = register(w)
    headers = {"cookie": f"regflow_reg={handle}"}
    bad = w.api(form_post("/confirm-code", {"code": "abc"}, headers=headers))
    assert bad["statusCode"] == 303
    assert bad["headers"]["Location"] == "https://www.example.org/?status=code-error"
    good = w.api(form_post("/confirm-code", {"code": right_code(w, handle)}, headers=headers))
    assert good["statusCode"] == 303
    assert good["headers"]["Location"].endswith("/confirmed.html?status=confirmed")


def test_confirm_code_off() -> None:
    w = world(CONFIRM_CODE="off")
    response = w.api(json_post("/register", {"name": "J", "email": "j@example.com"}))
    assert response["statusCode"] == 202 and "cookies" not in response
    w.drain()
    (mail,) = w.mailer.sent
    assert not re.search(r"\b[0-9]{6}\b", mail.text)
    refused = w.api(json_post("/confirm-code", {"code": "123456"}))
    assert refused["statusCode"] == 404
