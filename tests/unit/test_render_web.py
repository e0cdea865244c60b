"""The static pages' words: every key web/*.js and web/*.html use is in every catalog, the
English the pages carry (their no-JavaScript and no-catalog fallback) is the English catalog's,
and every `web.*` key of the catalogs is used."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from regflow.render import SUPPORTED_LANGUAGES
from regflow.render.catalog import CATALOG_DIR

WEB = Path(__file__).resolve().parents[2] / "web"
PAGES = {"index.html": "app.js", "confirmed.html": "confirmed.js"}
_JS_KEY = re.compile(r"""["'](web\.[A-Za-z0-9_.]+)["']""")


def _catalog(lang: str) -> dict[str, str]:
    data: dict[str, str] = json.loads((Path(CATALOG_DIR) / f"{lang}.json").read_text("utf-8"))
    return data


class _Page(HTMLParser):
    """The data-i18n elements (key -> text) and every element's attributes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.texts: dict[str, str] = {}
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[str] = []
        self._open: list[tuple[str, str | None]] = []
        self._buffers: dict[int, list[str]] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.elements.append((tag, attributes))
        if tag in ("meta", "link", "input", "br", "img"):
            return
        key = attributes.get("data-i18n")
        self._open.append((tag, key))
        if key is not None:
            self._buffers[len(self._open)] = []

    def handle_endtag(self, tag: str) -> None:
        while self._open:
            depth = len(self._open)
            opened, key = self._open.pop()
            if key is not None:
                text = " ".join("".join(self._buffers.pop(depth)).split())
                self.texts[key] = text
            if opened == tag:
                break

    def handle_data(self, data: str) -> None:
        for buffer in self._buffers.values():
            buffer.append(data)
        if self._open and self._open[-1][0] == "script":
            self.scripts.append(data)


def _page(name: str) -> _Page:
    parser = _Page()
    parser.feed((WEB / name).read_text("utf-8"))
    parser.close()
    return parser


def _js_keys(name: str) -> set[str]:
    return set(_JS_KEY.findall((WEB / name).read_text("utf-8")))


def test_the_scripts_use_keys() -> None:
    for script in PAGES.values():
        assert len(_js_keys(script)) >= 15, script


@pytest.mark.parametrize("lang", SUPPORTED_LANGUAGES)
def test_every_key_the_pages_use_is_in_every_catalog(lang: str) -> None:
    catalog = _catalog(lang)
    for page, script in PAGES.items():
        used = _js_keys(script) | set(_page(page).texts)
        missing = sorted(used - set(catalog))
        assert not missing, (lang, page, missing)


@pytest.mark.parametrize(("page", "script"), PAGES.items())
def test_the_english_in_the_page_is_the_english_catalog(page: str, script: str) -> None:
    english = _catalog("en")
    texts = _page(page).texts
    for key, text in texts.items():
        assert text == english[key], (page, key, text)
    # Every message the script shows has its English in the page: a failed catalog load
    # never shows a key.
    assert _js_keys(script) <= set(texts), sorted(_js_keys(script) - set(texts))


def test_every_web_key_is_used() -> None:
    used: set[str] = set()
    for page, script in PAGES.items():
        used |= _js_keys(script) | set(_page(page).texts)
    unused = sorted(k for k in _catalog("en") if k.startswith("web.") and k not in used)
    assert not unused, unused


@pytest.mark.parametrize("page", PAGES)
def test_each_page_loads_the_shared_words_script_first(page: str) -> None:
    scripts = [a.get("src") for tag, a in _page(page).elements if tag == "script"]
    assert scripts == ["i18n.js", PAGES[page]]


def test_the_pages_never_build_markup() -> None:
    for script in (*PAGES.values(), "i18n.js"):
        source = (WEB / script).read_text("utf-8")
        assert "innerHTML" not in source and "insertAdjacentHTML" not in source, script


def test_the_words_script_knows_the_supported_languages_and_loads_catalogs_relatively() -> None:
    source = (WEB / "i18n.js").read_text("utf-8")
    found = re.search(r"SUPPORTED_LANGUAGES = \[([^\]]*)\]", source)
    assert found is not None
    assert tuple(json.loads(f"[{found.group(1)}]")) == SUPPORTED_LANGUAGES
    assert 'fetch("i18n/" + lang + ".json"' in source  # relative to the page, like styles.css
    assert "document.documentElement.lang = lang" in source
    assert 'get("lang")' in source and "navigator.languages" in source


def test_the_form_sends_the_language() -> None:
    page = _page("index.html")
    hidden = [a for tag, a in page.elements if tag == "input" and a.get("name") == "lang"]
    assert hidden == [{"type": "hidden", "name": "lang", "value": ""}]
    source = (WEB / "app.js").read_text("utf-8")
    assert "lang: language," in source  # the JSON body
    assert "langField.value = language" in source  # the plain form post


@pytest.mark.parametrize("page", PAGES)
def test_no_inline_scripts_styles_or_third_party_requests(page: str) -> None:
    parsed = _page(page)
    assert not "".join(parsed.scripts).strip()
    for tag, attributes in parsed.elements:
        assert "style" not in attributes, (page, tag)
        assert not any(name.startswith("on") for name in attributes), (page, tag)
        for name in ("src", "href", "action"):
            value = attributes.get(name) or ""
            assert "//" not in value, (page, tag, value)


def test_the_live_region_stays_in_the_accessibility_tree() -> None:
    """`.status:empty` is display:none (styles.css), which would drop an empty live region from
    the accessibility tree: the region is a plain wrapper, only the styled box is hidden."""
    regions = [a for _, a in _page("index.html").elements if a.get("role") == "status"]
    assert len(regions) == 1
    region = regions[0]
    assert region.get("aria-live") == "polite"
    assert "class" not in region and "hidden" not in region and "style" not in region
    css = (WEB / "styles.css").read_text("utf-8")
    assert "role" not in css and "#form-status-region" not in css
    source = (WEB / "index.html").read_text("utf-8")
    assert re.search(
        r'<div id="form-status-region" role="status"[^>]*>\s*<div id="form-status" class="status">',
        source,
    )
