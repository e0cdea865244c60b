"""Every page in light and dark mode: served with the CSP, no console errors, no CSP
violations, readable colours; and the confirmed page's message for each outcome."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import OpenVisit
from tests.support.server import RunningServer

pytestmark = pytest.mark.browser

PAGES = [
    ("register", "/"),
    ("register-sent", "/?status=sent"),
    ("register-error", "/?status=error&field=email"),
    ("confirmed", "/confirmed.html?status=confirmed"),
    ("already-confirmed", "/confirmed.html?status=already-confirmed"),
    ("expired", "/confirmed.html?status=expired"),
    ("invalid", "/confirmed.html?status=invalid"),
    ("unknown", "/confirmed.html"),
    ("mailbox", "/_mailbox"),
]

SCREENSHOTS = {"register", "register-error", "confirmed", "expired", "invalid", "mailbox"}

OUTCOMES = {
    "confirmed": ("You're confirmed", "registration is complete", "Back to the start page"),
    "already-confirmed": ("Already confirmed", "already confirmed", "Back to the start page"),
    "expired": ("This link has expired", "register again", "Register again"),
    "invalid": ("This link is not valid", "register again", "Register again"),
}

_COLOURS_JS = """
() => {
  const body = getComputedStyle(document.body);
  const card = document.querySelector(".card, main") || document.body;
  return {background: body.backgroundColor, text: body.color,
          card: getComputedStyle(card).backgroundColor};
}
"""


_SOURCES_JS = """
() => [...document.scripts].map((s) => s.src)
  .concat([...document.querySelectorAll('link[rel~="stylesheet"]')].map((l) => l.href))
"""


def _rgb(css: str) -> tuple[float, ...]:
    return tuple(float(v) for v in re.findall(r"[\d.]+", css)[:3])


def _luminance(css: str) -> float:
    def channel(v: float) -> float:
        v /= 255
        return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(v) for v in _rgb(css))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _contrast(a: str, b: str) -> float:
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_pages_are_clean_and_readable(
    open_visit: OpenVisit, server: RunningServer, scheme: str
) -> None:
    visit = open_visit(server.base_url, color_scheme=scheme)
    page = visit.page
    for label, path in PAGES:
        response = page.goto(path)
        assert response is not None
        assert response.status == 200, path
        csp = response.headers.get("content-security-policy", "")
        assert "default-src 'self'" in csp, (path, csp)
        assert response.headers.get("x-content-type-options") == "nosniff"
        colours: dict[str, Any] = page.evaluate(_COLOURS_JS)
        bg = _luminance(colours["background"])
        assert (bg < 0.1) if scheme == "dark" else (bg > 0.6), (path, colours)
        assert _contrast(colours["text"], colours["card"]) >= 7, (path, colours)
        # Every script and stylesheet is a file of the site itself.
        sources = page.evaluate(_SOURCES_JS)
        assert all(src.startswith(server.base_url + "/") for src in sources), (path, sources)
        if label in SCREENSHOTS:
            visit.shot(label)
    assert visit.problems.all() == [], visit.problems.all()


def test_each_outcome_has_its_message(open_visit: OpenVisit, server: RunningServer) -> None:
    visit = open_visit(server.base_url)
    page = visit.page
    for status, (title, message, link) in OUTCOMES.items():
        page.goto(f"/confirmed.html?status={status}")
        expect(page.get_by_role("heading", level=1)).to_have_text(title)
        expect(page.locator("#outcome-message")).to_contain_text(message, ignore_case=True)
        expect(page.get_by_role("link", name=link)).to_have_attribute("href", "/")
        expect(page).to_have_title(f"{title} - regflow")  # SITE_NAME's default ends it
    # Anything else gets the default text, and markup in the URL stays text.
    page.goto("/confirmed.html?status=%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E")
    expect(page.get_by_role("heading", level=1)).to_have_text("Email confirmation")
    expect(page.locator("img")).to_have_count(0)
    expect(page.locator("#outcome")).to_have_attribute("data-status", "unknown")
    visit.assert_clean()


def test_the_confirmed_page_speaks_the_links_language(
    open_visit: OpenVisit, server: RunningServer
) -> None:
    """A German visitor's link lands on `?status=confirmed&lang=de`: the page is German, its
    words from the catalog (`/i18n/de.json`); a browser asking for French gets French."""
    from regflow.render.catalog import Catalog

    german = Catalog().web_messages("de")
    visit = open_visit(server.base_url)
    page = visit.page
    page.goto("/confirmed.html?status=confirmed&lang=de")
    expect(page.get_by_role("heading", level=1)).to_have_text(
        german["web.confirmed.confirmed.title"]
    )
    expect(page.locator("html")).to_have_attribute("lang", "de")
    expect(page.get_by_role("link", name=german["web.confirmed.confirmed.link"])).to_be_visible()
    visit.assert_clean()
    french = open_visit(server.base_url, locale="fr-FR", label="fr")
    french.page.goto("/")
    expect(french.page.locator("html")).to_have_attribute("lang", "fr")
    french_words = Catalog().web_messages("fr")
    expect(french.page.get_by_role("heading", level=1)).to_have_text(
        french_words["web.register.title"]
    )
    french.assert_clean()


def test_the_page_fits_a_phone(open_visit: OpenVisit, server: RunningServer) -> None:
    visit = open_visit(server.base_url, viewport={"width": 360, "height": 740})
    page = visit.page
    page.goto("/")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360  # no sideways scrolling
    box = page.locator("#email").bounding_box()
    assert box is not None
    assert box["width"] > 250
    visit.shot("phone")
    visit.assert_clean()
