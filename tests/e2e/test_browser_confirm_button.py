"""CONFIRM_MODE=button in Chromium: opening the link changes nothing; only the button confirms.

Mail security scanners fetch every link in a message; with the button mode their GET must not
confirm an address its owner never saw."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import OpenVisit
from tests.e2e.flow import find_mail, open_mail, register_with_js, unique_address, verify_link
from tests.support.server import RunningServer, regflow_server

pytestmark = pytest.mark.browser


def open_button_page(page: Any, href: str) -> None:
    """Open the link in a browser without the registration cookie: the button page, which
    reloads itself once from its own origin (`&same=1`, issue 14); wait for that reload."""
    page.goto(href, wait_until="commit")
    page.wait_for_url(re.compile(r"same=1$"))
    page.wait_for_load_state()


@pytest.fixture(scope="module")
def button_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    data_dir = tmp_path_factory.mktemp("serve-button") / "data"
    with regflow_server(data_dir, {"CONFIRM_MODE": "button"}) as running:
        yield running


def test_get_shows_the_button_and_changes_nothing_the_click_confirms(
    open_visit: OpenVisit, button_server: RunningServer
) -> None:
    visit = open_visit(button_server.base_url)
    page = visit.page
    name = f"Margaret Hamilton {unique_address('m')[:10]}"
    email = unique_address("button")
    register_with_js(page, name, email)
    open_mail(page, email, "verify")
    href = verify_link(page).get_attribute("href")
    assert href is not None
    # A scanner (or another device) has no registration cookie; the browser that filled in
    # the form would be confirmed at once (tests/e2e/test_browser_signup_button_cookie.py)
    visit.context.clear_cookies()

    # What a scanner does: fetch the link, twice even. Nothing changes.
    for _ in range(2):
        with page.expect_response(lambda r: "same=1" in r.url) as reloaded:
            open_button_page(page, href)
        assert reloaded.value.status == 200
    button = page.get_by_role("button", name="Confirm my email")
    expect(button).to_be_visible()
    expect(page.locator("#confirm-button")).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_have_text("Confirm your email")
    # no redirect: still the link itself (reloaded once from its own origin, for the
    # SameSite=Strict cookie a webmail click does not carry)
    expect(page).to_have_url(re.compile(re.escape(href) + r"(&same=1)?$"))
    visit.shot("button-page")
    assert button_server.status_of(email) == ["PENDING"]
    # No owner notification owed (it would be written with the confirmation), none in the box.
    assert "owner-notification" not in button_server.outbox_kinds()
    page.goto("/_mailbox")
    assert find_mail(page, "New registration", name) is None

    # The person clicks: confirmed.
    open_button_page(page, href)
    with page.expect_request("**/confirm") as posted:
        page.get_by_role("button", name="Confirm my email").click()
    assert posted.value.method == "POST"
    assert "token=" not in posted.value.url  # the token travels in the body
    expect(page).to_have_url(re.compile(r"/confirmed\.html\?status=confirmed$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("You're confirmed")
    visit.shot("confirmed")
    assert button_server.status_of(email) == ["CONFIRMED"]
    open_mail(page, "New registration", name)
    expect(page.get_by_text("owner@localhost").first).to_be_visible()

    # The link again: the button page still shows (GET never decides), and its click says
    # the address was already confirmed.
    open_button_page(page, href)
    page.get_by_role("button", name="Confirm my email").click()
    expect(page).to_have_url(re.compile(r"/confirmed\.html\?status=already-confirmed$"))
    visit.assert_clean()


def test_the_button_works_from_the_keyboard(
    open_visit: OpenVisit, button_server: RunningServer
) -> None:
    visit = open_visit(button_server.base_url, color_scheme="dark")
    page = visit.page
    email = unique_address("button-keys")
    register_with_js(page, "Dorothy Vaughan", email)
    open_mail(page, email, "verify")
    href = verify_link(page).get_attribute("href")
    assert href is not None
    visit.context.clear_cookies()  # not the browser that filled in the form
    open_button_page(page, href)
    page.keyboard.press("Tab")
    expect(page.locator("#confirm-button")).to_be_focused()
    visit.shot("button-page-dark-focus")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/confirmed\.html\?status=confirmed$"))
    assert button_server.status_of(email) == ["CONFIRMED"]
    visit.assert_clean()
