"""The expired page in Chromium: "send me a new link" appears only with the token the
server's redirect put in the fragment, takes it out of the address bar, and posts it (the
server's side, expired registrations and limits: tests/unit/test_signup_resend.py)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import OpenVisit
from tests.e2e.flow import open_mail, register_with_js, unique_address, verify_link
from tests.support.server import RunningServer

pytestmark = pytest.mark.browser


def test_send_me_a_new_link_from_the_expired_page(
    open_visit: OpenVisit, server: RunningServer
) -> None:
    visit = open_visit(server.base_url)
    page = visit.page
    email = unique_address("resend")
    register_with_js(page, "Ada Lovelace", email)
    open_mail(page, email)
    href = verify_link(page).get_attribute("href")
    assert href is not None
    token = re.search(r"token=([A-Za-z0-9_-]{64})", href)
    assert token
    # without the fragment: no button
    page.goto("/confirmed.html?status=expired")
    expect(page.locator("#resend-form")).to_be_hidden()
    # as the server's redirect of an expired link lands (a new document, not a hash change)
    page.goto("/")
    page.goto(f"/confirmed.html?status=expired#resend={token.group(1)}")
    button = page.get_by_role("button", name="Send me a new link")
    expect(button).to_be_visible()
    assert "#" not in page.url and token.group(1) not in page.url
    visit.shot("expired-page")
    button.focus()
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/confirmed\.html\?status=resent"))
    expect(page.get_by_role("heading", level=1)).to_have_text("A new link is on its way")
    # within a minute of the first mail the address limit (ADDRESS_MIN_INTERVAL_SECONDS=60)
    # said no: nothing was written, and the page said what it says when a link goes out
    assert server.status_of(email) == ["PENDING"]
    visit.assert_clean()
