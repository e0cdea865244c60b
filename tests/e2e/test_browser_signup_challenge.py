"""CHALLENGE=pow in Chromium, by keyboard: the page fetches a challenge from its own origin,
says it is verifying (a live region), solves it with WebCrypto, and the registration goes
through; nothing is requested from any other origin."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import OpenVisit
from tests.e2e.flow import SENT_MESSAGE, unique_address
from tests.support.server import RunningServer, regflow_server

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def pow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    data_dir = tmp_path_factory.mktemp("serve-pow") / "data"
    # the default difficulty (CHALLENGE_DIFFICULTY=50000)
    with regflow_server(data_dir, {"CHALLENGE": "pow"}) as running:
        yield running


def test_register_with_the_challenge_on_by_keyboard(
    open_visit: OpenVisit, pow_server: RunningServer
) -> None:
    visit = open_visit(pow_server.base_url)
    page = visit.page
    origins: set[str] = set()
    page.on("request", lambda r: origins.add("{0.scheme}://{0.netloc}".format(urlsplit(r.url))))
    email = unique_address("pow")
    with page.expect_response("**/challenge") as challenge:
        page.goto("/")
    assert challenge.value.status == 200
    live = page.locator("#challenge-status")
    assert live.get_attribute("aria-live") == "polite"
    page.get_by_label("Name").focus()
    page.keyboard.type("Katherine Johnson")
    page.keyboard.press("Tab")
    page.keyboard.type(email)
    page.keyboard.press("Enter")  # sent once the check is done (or at once if it is)
    expect(page.locator("#form-status")).to_contain_text(SENT_MESSAGE, timeout=30_000)
    expect(live).to_have_text("Browser verified.")
    solve_ms = page.evaluate("window.regflowChallengeMs")
    print(f"challenge solved in {solve_ms:.0f} ms (CHALLENGE_DIFFICULTY=50000)")
    assert pow_server.status_of(email) == ["PENDING"]
    assert origins == {pow_server.base_url.rstrip("/")}, origins  # no third party
    visit.assert_clean()


def test_the_api_without_a_solution_is_refused(
    open_visit: OpenVisit, pow_server: RunningServer
) -> None:
    visit = open_visit(pow_server.base_url)
    response = visit.page.request.post(
        pow_server.url("/register"),
        data={"name": "Bot", "email": unique_address("bot")},
        headers={"Accept": "application/json"},
    )
    assert response.status == 400
    assert response.json()["field"] == "challenge"
    assert re.search(r"browser check", response.json()["error"])
