"""The rendering room: every word a person reads, in every language a catalog is shipped for.

- `negotiate_language` (here): which supported language a request gets.
- `regflow.render.catalog.Catalog`: the message catalogs (`catalog/<lang>.json`, flat dotted
  keys: `api.`, `error.`, `date.`, `mail.`, `page.`, `web.`), with an owner's partial overrides
  (`<override_dir>/catalog/<lang>.json`). Standard library only.
- `regflow.render.templates.Renderer`: mails (`templates/mails/<name>.j2`, one source for subject,
  text and HTML) and server-rendered pages (`templates/pages/<name>.j2`), with an owner's
  template overrides (`<override_dir>/templates/...`). The only module that imports jinja2.

This module imports nothing but the standard library (it is on the request path of every
handler); `RenderedMail` lives here so that callers can name it without importing jinja2.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

CATALOG_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "catalog")
FALLBACK_LANGUAGE = "en"  # the catalog every other one is checked against


def shipped_languages(catalog_dir: str | os.PathLike[str] = CATALOG_DIR) -> tuple[str, ...]:
    """The languages regflow speaks: one per catalog file shipped (`catalog/<lang>.json`), the
    fallback first, then by code. The one list: settings, intake and pages all read it, so a new
    catalog file is a new language everywhere."""
    codes = sorted(n[: -len(".json")] for n in os.listdir(catalog_dir) if n.endswith(".json"))
    if FALLBACK_LANGUAGE not in codes:
        raise RuntimeError(f"{catalog_dir}: no {FALLBACK_LANGUAGE}.json catalog")
    return (FALLBACK_LANGUAGE, *(c for c in codes if c != FALLBACK_LANGUAGE))


SUPPORTED_LANGUAGES: tuple[str, ...] = shipped_languages()

# Bounds for hostile input: an Accept-Language header is read up to this many characters and
# this many comma-separated parts; anything beyond is ignored (no real browser sends as much).
_MAX_HEADER_CHARS = 4096
_MAX_HEADER_PARTS = 64
_MAX_TAG_CHARS = 64
_TAG = re.compile(r"([A-Za-z]{1,8})(?:[-_][A-Za-z0-9]{1,8})*")
_QVALUE = re.compile(r"(?:0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?)")


@dataclass(frozen=True, slots=True)
class RenderedMail:
    """One rendered message: a one-line subject, the plain-text part and the HTML part."""

    subject: str
    text: str
    html: str


def _primary(tag: str) -> str | None:
    """The supported language of a language tag ('de', 'de-AT', 'DE', 'de_at' -> 'de')."""
    tag = tag.strip()
    if len(tag) > _MAX_TAG_CHARS or _TAG.fullmatch(tag) is None:
        return None
    primary = tag.split("-", 1)[0].split("_", 1)[0].lower()
    return primary if primary in SUPPORTED_LANGUAGES else None


def _from_header(header: str, default: str) -> str | None:
    best: str | None = None
    best_q = 0.0
    parts = header[:_MAX_HEADER_CHARS].split(",", _MAX_HEADER_PARTS)[:_MAX_HEADER_PARTS]
    for part in parts:
        tag, *params = part.split(";")
        q = 1.0
        malformed = False
        for param in params:
            name, sep, value = param.partition("=")
            if name.strip().lower() != "q":
                continue  # a language tag has no other parameters; ignore any
            value = value.strip()
            if not sep or _QVALUE.fullmatch(value) is None:
                malformed = True
                break
            q = float(value)
        if malformed or q <= 0.0:
            continue
        tag = tag.strip()
        language = (default if default in SUPPORTED_LANGUAGES else None) if tag == "*" else None
        language = language or _primary(tag)
        if language is not None and q > best_q:  # ties: the first listed wins
            best, best_q = language, q
    return best


def negotiate_language(explicit: object, accept_language: str | None, default: str) -> str:
    """An explicit `lang` form field if supported (accept 'de', 'de-AT', 'DE' -> 'de'), else the
    best supported match of the Accept-Language header (q-values honoured, malformed parts
    ignored, never raises on any input, bounded work on huge headers), else `default`."""
    if isinstance(explicit, str):
        language = _primary(explicit)
        if language is not None:
            return language
    if isinstance(accept_language, str) and accept_language:
        language = _from_header(accept_language, default)
        if language is not None:
            return language
    return default


__all__ = [
    "CATALOG_DIR",
    "SUPPORTED_LANGUAGES",
    "RenderedMail",
    "negotiate_language",
    "shipped_languages",
]
