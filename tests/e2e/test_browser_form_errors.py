"""Field errors, server answers for a person, and the keyboard, on the registration page."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import Visit
from tests.e2e.flow import unique_address
from tests.support.server import RunningServer

pytestmark = pytest.mark.browser


def _register_requests(page: Any) -> list[Any]:
    seen: list[Any] = []
    page.on("request", lambda r: seen.append(r) if r.url.endswith("/register") else None)
    return seen


CLIENT_CASES = [
    ("Alan Turing", "not-an-address", "email", "valid email address"),
    ("Alan Turing", "alan@example..com", "email", "valid email address"),
    ("Alan Turing", "alan@-example.com", "email", "valid email address"),
    ("Alan Turing", "alan@example.123", "email", "valid email address"),
    ("Alan Turing", "a" * 250 + "@x.io", "email", "at most 254 characters"),
    ("Alan Turing", "   ", "email", "Please enter your email address."),
    ("   ", "alan@example.com", "name", "Please enter your name."),
    ("x" * 101, "alan@example.com", "name", "at most 100 characters"),
    ("Alan\u2028Turing", "alan@example.com", "name", "not allowed"),
]


def _set(page: Any, selector: str, value: str) -> None:
    # Bypasses maxlength (which stops typing past the limit) to test the check itself.
    page.locator(selector).evaluate("(el, v) => { el.value = v; }", value)


def test_client_side_checks_show_the_error_next_to_the_field(visit: Visit) -> None:
    page = visit.page
    page.goto("/")
    posts = _register_requests(page)
    button = page.get_by_role("button", name="Register")
    for name, email, field, message in CLIENT_CASES:
        _set(page, "#name", name)
        _set(page, "#email", email)
        button.click()
        error = page.locator(f"#{field}-error")
        expect(error).to_be_visible()
        expect(error).to_contain_text(message)
        field_input = page.locator(f"#{field}")
        expect(field_input).to_have_attribute("aria-invalid", "true")
        expect(field_input).to_have_attribute("aria-describedby", re.compile(rf"\b{field}-error\b"))
        expect(field_input).to_be_focused()
        expect(page.locator("#form-status")).to_have_class("status status--error")
        other = "name" if field == "email" else "email"
        expect(page.locator(f"#{other}")).not_to_have_attribute("aria-invalid", "true")
        expect(page.locator(f"#{other}-error")).to_be_hidden()
        if email == "not-an-address":
            visit.shot("client-error")
    assert posts == [], "the form was sent despite a failed check"

    # Typing in a marked field clears its mark.
    page.locator("#name").press("Backspace")
    expect(page.locator("#name")).not_to_have_attribute("aria-invalid", "true")
    expect(page.locator("#name-error")).to_be_hidden()
    visit.assert_clean()


def test_a_field_error_from_the_server_is_shown_next_to_the_field(
    visit: Visit, server: RunningServer
) -> None:
    page = visit.page
    page.goto("/")
    cases = [
        # Syntactically fine, so the page lets them through; the server refuses them.
        ("someone@blocked.example", "not accepted"),  # BLOCKED_EMAIL_DOMAINS of the fixture
        ("someone@example.invalid", "valid email address"),  # email-validator: reserved name
    ]
    for email, message in cases:
        page.get_by_label("Name").fill("Alan Turing")
        page.get_by_label("Email address").fill(email)
        with page.expect_response("**/register") as answered:
            page.get_by_role("button", name="Register").click()
        response = answered.value
        assert response.status == 400
        assert response.json()["field"] == "email"

        error = page.locator("#email-error")
        expect(error).to_be_visible()
        expect(error).to_contain_text(message)
        expect(page.locator("#email")).to_have_attribute("aria-invalid", "true")
        expect(page.locator("#email")).to_be_focused()
        expect(page.locator("#email")).to_have_value(email)  # kept, so it can be corrected
        expect(page.get_by_role("button", name="Register")).to_be_enabled()
        if "blocked" in email:
            visit.shot("server-error")
        assert server.status_of(email) == []
    # A 400 is an expected answer, which Chromium logs as a failed resource; nothing else.
    assert [e for e in visit.problems.all() if "status of 400" not in e] == []


FAILURES = [
    (429, {"Retry-After": "600"}, {"error": "Too many"}, "try again in 10 minutes"),
    (503, {"Retry-After": "2"}, {"error": "busy"}, "We are busy right now"),
    (500, {}, {"error": "x"}, "Something went wrong on our side"),
    (502, {}, None, "Something went wrong on our side"),
]


def test_the_button_is_disabled_while_sending_and_failures_read_well(visit: Visit) -> None:
    """The server's 429/5xx are provoked in the browser (a held, then fulfilled request): the
    real server's limits are tested against the server itself."""
    page = visit.page
    held: list[Any] = []
    page.route("**/register", lambda route: held.append(route))
    page.goto("/")
    page.get_by_label("Name").fill("Alan Turing")
    page.get_by_label("Email address").fill(unique_address("held"))
    button = page.locator("#submit-button")
    status_box = page.locator("#form-status")
    for status, headers, body, expected in FAILURES:
        held.clear()
        button.click()
        expect(button).to_be_disabled()
        expect(button).to_have_text("Sending\u2026")
        expect(page.locator("#register-form")).to_have_attribute("aria-busy", "true")
        assert len(held) == 1
        request = held[0].request
        assert request.headers["content-type"] == "application/json"
        assert request.headers["accept"] == "application/json"
        sent = json.loads(request.post_data)
        assert set(sent) == {"name", "email", "website", "lang"}
        assert sent["lang"] == "en"  # the language the page shows
        assert sent["website"] == ""

        if body is None:
            held[0].fulfill(
                status=status, body="<html>Bad gateway</html>", content_type="text/html"
            )
        else:
            held[0].fulfill(status=status, headers=headers, json=body)
        expect(status_box).to_contain_text(expected)
        expect(status_box).to_have_class("status status--error")
        expect(button).to_be_enabled()
        expect(button).to_have_text("Register")
        expect(page.get_by_label("Name")).to_have_value("Alan Turing")  # nothing typed is lost
        if status == 429:
            visit.shot("rate-limited")

    page.unroute("**/register")
    page.route("**/register", lambda route: route.abort("connectionrefused"))
    button.click()
    expect(status_box).to_contain_text("could not reach the server")
    expect(button).to_be_enabled()


def test_keyboard_only_registration(visit: Visit, server: RunningServer) -> None:
    """Tab reaches name, email and the button in order (never the honeypot), focus is
    visible, and Enter sends the form."""
    page = visit.page
    email = unique_address("keys")
    page.goto("/")
    page.keyboard.press("Tab")
    expect(page.locator("#name")).to_be_focused()
    outline = page.locator("#name").evaluate("el => getComputedStyle(el).outlineStyle")
    assert outline == "solid"
    page.keyboard.type("Katherine Johnson")
    page.keyboard.press("Tab")
    expect(page.locator("#email")).to_be_focused()
    page.keyboard.type(email)
    page.keyboard.press("Tab")
    expect(page.locator("#submit-button")).to_be_focused()
    visit.shot("keyboard-focus")
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Enter")
    expect(page.locator("#form-status")).to_contain_text("on its way")
    assert server.status_of(email) == ["PENDING"]
    visit.assert_clean()


def test_honeypot_is_hidden_from_people_and_a_filled_one_stores_nothing(
    visit: Visit, server: RunningServer
) -> None:
    page = visit.page
    page.goto("/")
    trap = page.locator('input[name="website"]')
    expect(trap).to_have_attribute("tabindex", "-1")
    expect(trap).to_have_attribute("autocomplete", "off")
    expect(page.locator(".hp")).to_have_attribute("aria-hidden", "true")
    box = trap.bounding_box()
    assert box is not None
    assert box["x"] + box["width"] <= 0, box  # off-screen, not merely transparent

    email = unique_address("bot")
    page.get_by_label("Name").fill("Robot")
    page.get_by_label("Email address").fill(email)
    trap.fill("https://spam.example")
    with page.expect_response("**/register") as answered:
        page.get_by_role("button", name="Register").click()
    assert answered.value.status == 202  # the same answer a person gets
    expect(page.locator("#form-status")).to_contain_text("on its way")
    assert server.status_of(email) == []
    visit.assert_clean()


def test_the_answer_to_a_plain_form_post_is_shown(visit: Visit) -> None:
    """The server's 303 targets for a plain form post (JavaScript is on here, but the form
    was posted without it, e.g. by an older page or before the script loaded)."""
    page = visit.page
    page.goto("/?status=error&field=email")
    expect(page.locator("#email-error")).to_contain_text("check your email address")
    expect(page.locator("#email")).to_have_attribute("aria-invalid", "true")
    page.goto("/?status=error&field=name")
    expect(page.locator("#name-error")).to_contain_text("check your name")
    page.goto("/?status=sent")
    expect(page.locator("#form-status")).to_contain_text("on its way")
    expect(page.locator("#form-status")).to_have_class("status status--success")
    visit.assert_clean()


@pytest.mark.parametrize("how", ["form-attribute", "meta"])
def test_the_api_base_is_configurable_for_embedding(
    visit: Visit, server: RunningServer, how: str
) -> None:
    """An embedding page points the form at its API with `data-api-base` on the form or a
    `regflow-api-base` meta tag; the script then POSTs to <base>/register."""
    page = visit.page
    base = server.base_url + "/elsewhere/api/"
    # Same origin here (the page's CSP allows only 'self'); the path proves which URL is used.
    page.route(
        "**/elsewhere/api/register",
        lambda route: route.fulfill(status=202, json={"message": "Accepted elsewhere."}),
    )
    page.goto("/")
    if how == "meta":
        page.evaluate(
            """(base) => { const m = document.createElement("meta");
                m.name = "regflow-api-base"; m.content = base; document.head.appendChild(m); }""",
            base,
        )
    else:
        page.locator("#register-form").evaluate(
            "(f, b) => f.setAttribute('data-api-base', b)", base
        )
    page.get_by_label("Name").fill("Alan Turing")
    page.get_by_label("Email address").fill(unique_address("embed"))
    with page.expect_request("**/register") as posted:
        page.get_by_role("button", name="Register").click()
    assert posted.value.url == server.base_url + "/elsewhere/api/register"
    expect(page.locator("#form-status")).to_have_text("Accepted elsewhere.")
    visit.assert_clean()


def test_the_page_refuses_the_names_with_links_the_server_refuses(visit: Visit) -> None:
    """Issue 27: the page's mirror of `contains_link` (web/app.js) judges the same corpus as
    the server: one-letter labels, dotted IPv4, a one-dot leader refused; initials pass."""
    from tests.support.names import INITIALS_NAMES, LINK_NAMES

    page = visit.page
    page.goto("/")
    page.wait_for_function("() => window.regflow !== undefined")
    verdicts = page.evaluate(
        "names => names.map(n => window.regflow.checkName(n))", [*LINK_NAMES, *INITIALS_NAMES]
    )
    refused = dict(zip(LINK_NAMES, verdicts[: len(LINK_NAMES)], strict=True))
    passed = dict(zip(INITIALS_NAMES, verdicts[len(LINK_NAMES) :], strict=True))
    assert all(v is not None and "web address" in v for v in refused.values()), refused
    assert all(v is None for v in passed.values()), passed
