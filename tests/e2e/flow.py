"""Steps the browser tests share: register on the page, find mail in /_mailbox, follow links."""

from __future__ import annotations

import secrets
import time
from typing import Any

from playwright.sync_api import expect

MAIL_TIMEOUT_SECONDS = 20.0
SENT_MESSAGE = "a verification link is on its way"

# The href of the newest message in /_mailbox whose entry mentions every given text.
_FIND_MESSAGE_JS = """
(texts) => {
  for (const a of document.querySelectorAll('a[href*="/_mailbox/"]')) {
    const entry = a.closest("tr, li, article") || a.parentElement;
    const text = entry ? entry.textContent : "";
    if (texts.every((t) => text.includes(t))) return a.getAttribute("href");
  }
  return null;
}
"""


def unique_address(tag: str) -> str:
    return f"{tag}-{secrets.token_hex(4)}@example.com"


def register_with_js(page: Any, name: str, email: str) -> None:
    """Fill and send the form (JavaScript on) and wait for the success message."""
    page.goto("/")
    page.get_by_label("Name").fill(name)
    page.get_by_label("Email address").fill(email)
    page.get_by_role("button", name="Register").click()
    status = page.locator("#form-status")
    expect(status).to_contain_text(SENT_MESSAGE)
    expect(status).to_have_class("status status--success")


def open_mail(page: Any, *texts: str) -> str:
    """Open the newest /_mailbox message whose entry shows all `texts` (mail is sent by a
    background worker, so the list is reloaded until it shows up). Returns its URL."""
    deadline = time.monotonic() + MAIL_TIMEOUT_SECONDS
    while True:
        page.goto("/_mailbox")
        href = find_mail(page, *texts)
        if href is not None:
            break
        if time.monotonic() > deadline:
            raise AssertionError(f"no mail showing {texts!r} in /_mailbox:\n{page.content()}")
        time.sleep(0.1)  # the outbox worker is another thread of another process
    page.locator(f'a[href="{href}"]').first.click()
    page.wait_for_load_state()
    return str(page.url)


def find_mail(page: Any, *texts: str) -> str | None:
    """The href of the newest message on the current /_mailbox page showing all `texts`."""
    href = page.evaluate(_FIND_MESSAGE_JS, list(texts))
    return str(href) if href else None


def verify_link(page: Any) -> Any:
    """The verification link of the open message (in the page or in a frame of it)."""
    for frame in page.frames:
        link = frame.locator('a[href*="/confirm?token="]')
        if link.count():
            return link.first
    raise AssertionError(f"no verification link in the message:\n{page.content()}")
