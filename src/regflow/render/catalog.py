"""The message catalogs: one flat JSON object per language (`catalog/<lang>.json`).

Keys are dotted and grouped by who shows the text:

- `api.` and `error.`: the JSON answers of the API and the gateway, and validation messages;
- `date.`: month names and the date pattern of mails;
- `mail.`: the mails (`templates/mails/*.j2`);
- `page.`: the server-rendered pages (`templates/pages/*.j2`);
- `web.`: the static pages' scripts and `data-i18n` texts (served as `/i18n/<lang>.json`).

Values are `str.format` templates whose placeholders are plain names (`{site}`, `{max}`); every
language has the same keys and the same placeholders per key (checked by the tests for the
shipped files, and at load time for an owner's overrides). A key ending in `.one` / `.other` is
a plural pair, chosen by `Catalog.plural`.

Standard library only (not even `pathlib`): the API handlers use it for their error messages.
"""

from __future__ import annotations

import json
import os
import string
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING

from regflow import render
from regflow.render import SUPPORTED_LANGUAGES

if TYPE_CHECKING:
    from pathlib import Path

# A plain path string: `pathlib` is not otherwise imported by the confirm handler (cold start).
CATALOG_DIR = render.CATALOG_DIR
FALLBACK_LANGUAGE = "en"
WEB_PREFIX = "web."

_FORMATTER = string.Formatter()


# The site's name (SITE_NAME) in the page scripts' words: a setting, not a catalog message.
SITE_NAME_KEY = "web.site_name"


class CatalogError(ValueError):
    """A catalog file (shipped or an owner's override) is unusable; the message says where."""


def placeholders(message: str) -> frozenset[str]:
    """The `{name}` placeholders of a message. Raises ValueError for anything but plain names
    (no `{0}`, `{a.b}`, `{a[0]}`, conversions or format specs: catalogs are data, not code)."""
    names: set[str] = set()
    for _literal, field, spec, conversion in _FORMATTER.parse(message):
        if field is None:
            continue
        if not field.isidentifier() or spec or conversion:
            raise ValueError(f"placeholder {{{field}}} is not a plain name")
        names.add(field)
    return frozenset(names)


def _read(path: str | Path) -> dict[str, str]:
    try:
        with open(path, encoding="utf-8") as file:
            data = json.load(file)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise CatalogError(f"{path}: not a readable JSON file ({exc})") from None
    if not isinstance(data, dict):
        raise CatalogError(f"{path}: must be a JSON object of message keys to strings")
    for key, value in data.items():
        if not isinstance(value, str):
            raise CatalogError(f"{path}: the value of {key!r} is not a string")
        try:
            placeholders(value)
        except ValueError as exc:
            raise CatalogError(f"{path}: {key!r}: {exc}") from None
    return data


@cache
def shipped(lang: str) -> Mapping[str, str]:
    """The catalog shipped for `lang` (read once per process)."""
    if lang not in SUPPORTED_LANGUAGES:
        raise KeyError(lang)
    return _read(os.path.join(CATALOG_DIR, f"{lang}.json"))


def _load_overrides(override_dir: Path) -> dict[str, dict[str, str]]:
    """`<override_dir>/catalog/<lang>.json`, each checked against the shipped English keys."""
    folder = override_dir / "catalog"
    if not folder.is_dir():
        return {}
    reference = shipped(FALLBACK_LANGUAGE)
    overrides: dict[str, dict[str, str]] = {}
    for path in sorted(folder.iterdir()):
        if path.suffix != ".json" or path.name.startswith("."):
            continue
        lang = path.stem
        if lang not in SUPPORTED_LANGUAGES:
            raise CatalogError(
                f"{path}: {lang!r} is not a supported language ({', '.join(SUPPORTED_LANGUAGES)})"
            )
        data = _read(path)
        for key, value in data.items():
            if key not in reference:
                raise CatalogError(f"{path}: unknown message key {key!r}")
            expected = placeholders(reference[key])
            if placeholders(value) - expected:
                raise CatalogError(
                    f"{path}: {key!r} may only use the placeholders "
                    f"{', '.join('{' + p + '}' for p in sorted(expected)) or '(none)'}"
                )
        overrides[lang] = data
    return overrides


def plural_form(lang: str, count: int) -> str:
    """'one' or 'other': the CLDR plural category of an integer in the supported languages."""
    if lang == "fr":
        return "one" if count in (0, 1) else "other"
    return "one" if count == 1 else "other"


class Catalog:
    """The messages in every supported language, with an owner's partial overrides merged over
    the shipped ones. A language that is not supported reads as `default_language`."""

    def __init__(self, override_dir: Path | None = None, default_language: str = "en") -> None:
        if default_language not in SUPPORTED_LANGUAGES:
            raise CatalogError(
                f"default language {default_language!r} is not one of "
                f"{', '.join(SUPPORTED_LANGUAGES)}"
            )
        self.default_language = default_language
        self.override_dir = override_dir
        self._overrides = _load_overrides(override_dir) if override_dir is not None else {}
        self._merged: dict[str, Mapping[str, str]] = {}

    def language(self, lang: str) -> str:
        """`lang` if supported, else the default language."""
        return lang if lang in SUPPORTED_LANGUAGES else self.default_language

    def _messages(self, lang: str) -> Mapping[str, str]:
        merged = self._merged.get(lang)
        if merged is None:
            extra = self._overrides.get(lang)
            merged = {**shipped(lang), **extra} if extra else shipped(lang)
            self._merged[lang] = merged
        return merged

    def message(self, key: str, lang: str) -> str:
        """The unformatted message (placeholders left in): `lang`, else the default language,
        else English. Unknown key -> KeyError (a bug)."""
        for candidate in (self.language(lang), self.default_language, FALLBACK_LANGUAGE):
            found = self._messages(candidate).get(key)
            if found is not None:
                return found
        raise KeyError(key)

    def text(self, key: str, lang: str, /, **params: object) -> str:
        """The message `key` in `lang` (falls back to default_language, then 'en'), with
        str.format-style `{name}` placeholders filled. Unknown key -> KeyError (a bug)."""
        return self.message(key, lang).format(**params)

    def plural(self, key: str, lang: str, count: int, /, **params: object) -> str:
        """`key.one` or `key.other`, by the plural rules of `lang`; `{count}` is filled too."""
        lang = self.language(lang)
        return self.text(f"{key}.{plural_form(lang, count)}", lang, count=count, **params)

    def date_time(self, moment: datetime, lang: str) -> str:
        """A moment in UTC, written the way `lang` writes dates: '29 November 2026, 16:00 UTC',
        '29. November 2026, 16:00 UTC', '29 novembre 2026 à 16:00 UTC', '29 de noviembre de
        2026, 16:00 UTC'. A naive datetime is taken as UTC."""
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        moment = moment.astimezone(UTC)
        day = self.text("date.day_one", lang) if moment.day == 1 else str(moment.day)
        return self.text(
            "date.datetime",
            lang,
            day=day,
            month=self.text(f"date.month.{moment.month}", lang),
            year=str(moment.year),
            time=moment.strftime("%H:%M"),
        )

    def web_messages(self, lang: str, *, site: str | None = None) -> dict[str, str]:
        """The subset the page scripts use (keys under 'web.'), for serving as /i18n/<lang>.json;
        with `site` (SITE_NAME) also `web.site_name`, which the pages add to their title."""
        merged: dict[str, str] = {}
        for candidate in (FALLBACK_LANGUAGE, self.default_language, self.language(lang)):
            merged.update(
                (k, v) for k, v in self._messages(candidate).items() if k.startswith(WEB_PREFIX)
            )
        if site is not None:
            merged[SITE_NAME_KEY] = site
        return merged

    def keys(self) -> frozenset[str]:
        """Every message key (those of the English catalog)."""
        return frozenset(shipped(FALLBACK_LANGUAGE))
