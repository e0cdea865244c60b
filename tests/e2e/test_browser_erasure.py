"""Self-service erasure end to end in Chromium against `regflow serve` (issue 12): the link in
the mail -> the page with a button -> the button -> the erased page; a plain GET (a mail
scanner) changes nothing; afterwards no table of the SQLite file names the address, the owner
got the notice and a webhook the signed Registration Erased event."""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

from regflow.domain import address_key
from tests.e2e.conftest import OpenVisit
from tests.e2e.flow import open_mail, register_with_js, unique_address, verify_link
from tests.support.server import RunningServer, regflow_server
from tests.support.webhook import Receiver, webhook_receiver

pytestmark = [pytest.mark.browser, pytest.mark.slow]

HOOK_SECRET = "b" * 40


@pytest.fixture(scope="module")
def hook() -> Iterator[Receiver]:
    with webhook_receiver(HOOK_SECRET.encode()) as receiver:
        yield receiver


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, hook: Receiver) -> Iterator[RunningServer]:
    data_dir = tmp_path_factory.mktemp("serve-erase") / "data"
    env = {"WEBHOOK_URL": hook.url, "WEBHOOK_SECRET": HOOK_SECRET}
    with regflow_server(data_dir, env) as running:
        yield running


def rows_of_every_table(path: Path) -> dict[str, list[str]]:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        names = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {n: [repr(r) for r in db.execute(f'SELECT * FROM "{n}"')] for n in names}
    finally:
        db.close()


def test_mail_link_page_button_erased(
    open_visit: OpenVisit, server: RunningServer, hook: Receiver
) -> None:
    visit = open_visit(server.base_url)
    page = visit.page
    email = unique_address("erin")
    register_with_js(page, "Erin Erase", email)
    open_mail(page, email, "verify")
    verify_link(page).click()
    expect(page).to_have_url(re.compile(r"/confirmed\.html\?status=confirmed$"))
    open_mail(page, "New registration", "Erin Erase")  # the owner's mail: the worker ran
    assert server.status_of(email) == ["CONFIRMED"]

    open_mail(page, email, "verify")
    links = [f.locator('a[href*="/erase?token="]') for f in page.frames]
    link = next(found.first for found in links if found.count())
    href = link.get_attribute("href")
    assert href is not None and href.startswith(server.base_url + "/erase?token=")

    # a mail scanner fetches the link: a page, no change
    before = rows_of_every_table(server.db_path)
    scanned = httpx.get(href, timeout=10)
    assert scanned.status_code == 200 and "erase-button" in scanned.text
    assert rows_of_every_table(server.db_path) == before
    assert server.status_of(email) == ["CONFIRMED"]

    link.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Erase your registration?")
    visit.shot("erase-page")
    assert server.status_of(email) == ["CONFIRMED"]  # opening the page erased nothing
    page.get_by_role("button", name="Erase my registration").click()
    expect(page).to_have_url(re.compile(r"/erase\?status=erased$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Your registration is erased")
    visit.shot("erased")

    notice = open_mail(page, "Registration erased")  # the owner is told
    assert "/_mailbox/" in notice
    expect(page.get_by_text(email).first).to_be_visible()
    visit.assert_clean()

    # gone from every table (the outbox drained: the notice went out)
    key = address_key(email)
    for table, rows in rows_of_every_table(server.db_path).items():
        for row in rows:
            assert email not in row, (table, row)
            if key in row:  # the per-inbox send log: a hash, kept until it expires
                assert table == "send_logs", (table, row)
    assert server.status_of(email) == []

    deadline = time.monotonic() + 10  # the worker posts it right after the notice
    while not (erased := [b[0] for i, b in hook.accepted.items() if i.endswith(".erased")]):
        assert time.monotonic() < deadline, "no Registration Erased webhook"
        time.sleep(0.05)
    assert [e["data"]["email"] for e in erased] == [email]
    assert hook.bad_signatures == 0 and hook.accepted_once()
