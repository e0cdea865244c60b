"""SITE_NAME in a real browser: the registration page's and the confirmed page's titles end
with it, in the visitor's language."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from regflow.render.catalog import Catalog
from tests.e2e.conftest import OpenVisit
from tests.support.server import RunningServer, regflow_server

pytestmark = pytest.mark.browser
SITE = "Example Chess Club"


@pytest.fixture(scope="module")
def club(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    data_dir = tmp_path_factory.mktemp("serve-site-name") / "data"
    with regflow_server(data_dir, {"SITE_NAME": SITE}) as running:
        yield running


def test_the_page_titles_end_with_the_site_name(open_visit: OpenVisit, club: Any) -> None:
    visit = open_visit(club.base_url)
    visit.page.goto("/")
    expect(visit.page).to_have_title(f"Register - {SITE}")
    visit.page.goto("/confirmed.html?status=confirmed&lang=de")
    german = Catalog().web_messages("de")["web.confirmed.confirmed.title"]
    expect(visit.page).to_have_title(f"{german} - {SITE}")
    visit.assert_clean()
