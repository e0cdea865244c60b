"""CONFIRM_MODE=button with the sealed registration cookie: the browser that filled in the
form is confirmed by opening the link; a plain HTTP client without the cookie, or with one it
made up from the link, sees only the button and confirms nothing."""

from __future__ import annotations

import re
from typing import Any

from regflow.domain import Status
from regflow.tokens import browser_key, issue_handle, seal_handle
from tests.support.events import http_event, json_post
from tests.unit.fakes import World, world

KEY = browser_key(b"k" * 32)


def button_world() -> World:
    w = world(CONFIRM_MODE="button", ADDRESS_MIN_INTERVAL_SECONDS="0")
    w.api.cookie_key = KEY
    return w


def register(w: World, email: str = "jane@example.com") -> tuple[str, str]:
    """(the registration cookie's value, the link's token)."""
    response = w.api(json_post("/register", {"name": "Jane", "email": email}))
    (cookie,) = response["cookies"]
    value = re.match(r"regflow_reg=([^;]+);", cookie)
    assert value is not None and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    reg = max(w.store.by_id.values(), key=lambda r: r.id)
    return value.group(1), w.signer.issue(reg.id, reg.addr_key)


def open_link(w: World, token: str, cookie: str | None = None, **query: str) -> dict[str, Any]:
    headers = {"cookie": f"regflow_reg={cookie}"} if cookie else {}
    return w.api(http_event("GET", "/confirm", query={"token": token, **query}, headers=headers))


def statuses(w: World) -> list[Status]:
    return [r.status for r in w.store.by_id.values()]


def test_the_browser_with_the_cookie_is_confirmed_by_opening_the_link() -> None:
    w = button_world()
    cookie, token = register(w)
    response = open_link(w, token, cookie)
    assert response["statusCode"] == 302
    assert response["headers"]["Location"].endswith("/confirmed.html?status=confirmed")
    assert statuses(w) == [Status.CONFIRMED]


def test_without_the_cookie_only_the_button_and_one_reload() -> None:
    w = button_world()
    _, token = register(w)
    first = open_link(w, token)
    assert first["statusCode"] == 200 and 'id="confirm-button"' in first["body"]
    refresh = f'<meta http-equiv="refresh" content="0;url=confirm?token={token}&amp;same=1">'
    assert refresh in first["body"]
    again = open_link(w, token, same="1")  # the reload, still without a cookie
    assert again["statusCode"] == 200 and 'id="confirm-button"' in again["body"]
    assert "http-equiv" not in again["body"]  # no loop
    assert statuses(w) == [Status.PENDING]


def test_a_cookie_made_from_the_link_or_another_registration_is_not_enough() -> None:
    w = button_world()
    jane_cookie, _ = register(w)
    _, token = register(w, "john@example.com")
    parsed = w.intake.check_token(token)
    assert parsed is not None
    unsealed = issue_handle(*parsed)  # what a scanner could build from the token
    forged = seal_handle(browser_key(b"x" * 32), unsealed)
    for cookie in (unsealed, forged, jane_cookie, jane_cookie[:-2] + "AA"):
        response = open_link(w, token, cookie)
        assert response["statusCode"] == 200, cookie
    assert statuses(w) == [Status.PENDING, Status.PENDING]


def test_without_a_key_the_shortcut_is_off() -> None:
    w = world(CONFIRM_MODE="button")
    response = w.api(json_post("/register", {"name": "J", "email": "j@example.com"}))
    cookie = response["cookies"][0].split(";", 1)[0].split("=", 1)[1]
    (reg,) = w.store.by_id.values()
    token = w.signer.issue(reg.id, reg.addr_key)
    assert open_link(w, token, cookie)["statusCode"] == 200
    assert statuses(w) == [Status.PENDING]
