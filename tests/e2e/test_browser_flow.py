"""The whole flow in a real browser against `regflow serve` (CONFIRM_MODE=link, the default)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import OpenVisit, Visit
from tests.e2e.flow import open_mail, register_with_js, unique_address, verify_link
from tests.support.server import RunningServer

pytestmark = pytest.mark.browser


def test_register_verify_and_confirm_again(visit: Visit, server: RunningServer) -> None:
    page = visit.page
    name = f"Ada Lovelace {unique_address('n')[:10]}"
    email = unique_address("ada")

    page.goto("/")
    expect(page.get_by_role("heading", name="Register")).to_be_visible()
    visit.shot("form")
    register_with_js(page, name, email)
    # The form is emptied for the next person, and nothing is marked invalid.
    expect(page.get_by_label("Email address")).to_have_value("")
    expect(page.locator("[aria-invalid=true]")).to_have_count(0)
    visit.shot("sent")
    assert server.status_of(email) == ["PENDING"]

    open_mail(page, email, "verify")
    expect(page.get_by_text(name).first).to_be_visible()
    visit.shot("mail")
    link = verify_link(page)
    href = link.get_attribute("href")
    assert href is not None
    assert href.startswith(server.base_url + "/confirm?token=")
    link.click()

    expect(page).to_have_url(re.compile(r"/confirmed\.html\?status=confirmed$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("You're confirmed")
    expect(page.locator("#outcome-message")).to_contain_text("registration is complete")
    visit.shot("confirmed")
    assert server.status_of(email) == ["CONFIRMED"]

    page.goto(href)
    expect(page).to_have_url(re.compile(r"/confirmed\.html\?status=already-confirmed$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Already confirmed")
    visit.shot("already-confirmed")

    # The way back leads to the registration page.
    page.get_by_role("link", name="Back to the start page").click()
    expect(page.get_by_role("button", name="Register")).to_be_visible()

    owner_mail = open_mail(page, "New registration", name)
    assert "/_mailbox/" in owner_mail
    expect(page.get_by_text("owner@localhost").first).to_be_visible()
    visit.shot("owner-mail")
    visit.assert_clean()


def test_without_javascript_the_plain_form_registers(
    open_visit: OpenVisit, server: RunningServer
) -> None:
    visit = open_visit(server.base_url, java_script_enabled=False)
    page = visit.page
    email = unique_address("nojs")

    page.goto("/")
    notice = page.locator("noscript .notice")
    expect(notice).to_be_visible()
    page.get_by_label("Name").fill("Grace Hopper")
    page.get_by_label("Email address").fill(email)
    with page.expect_request("**/register") as posted:
        page.get_by_role("button", name="Register").click()
    request = posted.value
    assert request.method == "POST"
    assert request.headers["content-type"].startswith("application/x-www-form-urlencoded")

    expect(page).to_have_url(server.base_url + "/?status=sent")
    expect(notice).to_contain_text("check your inbox")
    visit.shot("sent-nojs")
    assert server.status_of(email) == ["PENDING"]

    # The mail arrived (read with a JavaScript-enabled page: the mailbox is not under test).
    reader = open_visit(server.base_url, label="reader")
    open_mail(reader.page, email, "verify")
    expect(reader.page.locator('a[href*="/confirm?token="]').first).to_be_attached()
    visit.assert_clean()
