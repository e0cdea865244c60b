"""CONFIRM_MODE=button in the browser that filled in the form: its sealed, HttpOnly,
SameSite=Strict registration cookie confirms on opening the link, without the extra click
(without the cookie: tests/e2e/test_browser_confirm_button.py)."""

from __future__ import annotations

import re
import urllib.request
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import OpenVisit
from tests.e2e.flow import open_mail, register_with_js, unique_address, verify_link
from tests.support.server import RunningServer, regflow_server

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def button_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    data_dir = tmp_path_factory.mktemp("serve-button-cookie") / "data"
    with regflow_server(data_dir, {"CONFIRM_MODE": "button"}) as running:
        yield running


def test_the_same_browser_is_confirmed_without_the_click(
    open_visit: OpenVisit, button_server: RunningServer
) -> None:
    visit = open_visit(button_server.base_url)
    page = visit.page
    email = unique_address("same-browser")
    register_with_js(page, "Mary Jackson", email)
    (cookie,) = [c for c in visit.context.cookies() if c["name"] == "regflow_reg"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/"
    open_mail(page, email, "verify")
    href = verify_link(page).get_attribute("href")
    assert href is not None
    # a plain HTTP client (a scanner) first: only the button, nothing confirmed
    with urllib.request.urlopen(href) as scanner:  # no cookie jar at all
        assert scanner.status == 200 and scanner.url == href  # no redirect
        assert b'id="confirm-button"' in scanner.read()
    assert button_server.status_of(email) == ["PENDING"]
    page.goto(href)
    expect(page).to_have_url(re.compile(r"/confirmed\.html\?status=confirmed$"))
    assert button_server.status_of(email) == ["CONFIRMED"]
    visit.assert_clean()
