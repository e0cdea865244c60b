"""CONFIRM_CODE in Chromium: the page after submitting offers the code from the mail, typed
by keyboard, and confirms in the browser that filled in the form (its HttpOnly registration
cookie); the spam-folder note names the sender; nothing goes to another origin."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import OpenVisit
from tests.e2e.flow import open_mail, unique_address
from tests.support.server import RunningServer

pytestmark = pytest.mark.browser

CODE_RE = re.compile(r"Or enter this code on the page where you signed up:\s*([0-9]{6})")


def test_the_code_from_the_mail_confirms_by_keyboard(
    open_visit: OpenVisit, server: RunningServer
) -> None:
    visit = open_visit(server.base_url)
    page = visit.page
    origins: set[str] = set()
    page.on("request", lambda r: origins.add("{0.scheme}://{0.netloc}".format(urlsplit(r.url))))
    email = unique_address("code")
    page.goto("/")
    # by keyboard only: focus the first field, type, Tab on, Enter sends
    page.get_by_label("Name").focus()
    page.keyboard.type("Grace Hopper")
    page.keyboard.press("Tab")
    page.keyboard.type(email)
    page.keyboard.press("Enter")
    expect(page.locator("#form-status")).to_have_class("status status--success")
    note = page.locator("#spam-note")
    expect(note).to_be_visible()
    expect(note).to_contain_text("The mail comes from no-reply@localhost.")
    expect(note).to_contain_text("spam")
    code_field = page.get_by_label("Code from the mail")
    expect(code_field).to_be_visible()
    cookies = [c for c in visit.context.cookies() if c["name"] == "regflow_reg"]
    assert len(cookies) == 1 and cookies[0]["httpOnly"] and cookies[0]["sameSite"] == "Strict"
    assert page.evaluate("document.cookie") == ""  # no script reads it
    visit.shot("code-form")

    # the mail, read in another tab of the same browser
    mail_page = visit.context.new_page()
    open_mail(mail_page, email)
    text = " ".join(frame.locator("body").inner_text() for frame in mail_page.frames)
    found = CODE_RE.search(text)
    assert found, text
    code = found.group(1)
    mail_page.close()

    # a wrong code first: told at the field, nothing confirmed
    code_field.focus()
    page.keyboard.type(f"{(int(code) + 1) % 1_000_000:06d}")
    page.keyboard.press("Enter")
    expect(page.locator("#code-error")).to_be_visible()
    expect(code_field).to_have_attribute("aria-invalid", "true")
    assert server.status_of(email) == ["PENDING"]
    code_field.fill("")
    page.keyboard.type(code)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/confirmed\.html\?status=confirmed"))
    expect(page.get_by_role("heading", level=1)).to_have_text("You're confirmed")
    assert server.status_of(email) == ["CONFIRMED"]
    assert origins == {server.base_url.rstrip("/")}, origins
    # the wrong code's 400 is the only thing the console reports
    problems = visit.problems.all()
    assert len(problems) == 1 and "400" in problems[0] and "/confirm-code" in problems[0], problems
