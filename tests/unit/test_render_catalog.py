"""The message catalogs: `regflow.render.catalog`."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from regflow.render import SUPPORTED_LANGUAGES
from regflow.render.catalog import CATALOG_DIR, Catalog, CatalogError, placeholders, shipped

PREFIXES = ("api.", "error.", "date.", "mail.", "page.", "web.")


def _raw(lang: str) -> dict[str, str]:
    data: dict[str, str] = json.loads((Path(CATALOG_DIR) / f"{lang}.json").read_text("utf-8"))
    return data


def test_there_is_one_catalog_per_supported_language() -> None:
    assert sorted(p.stem for p in Path(CATALOG_DIR).glob("*.json")) == sorted(SUPPORTED_LANGUAGES)


@pytest.mark.parametrize("lang", SUPPORTED_LANGUAGES)
def test_every_catalog_has_the_same_keys_and_placeholders(lang: str) -> None:
    english = _raw("en")
    other = _raw(lang)
    assert set(other) == set(english), set(other) ^ set(english)
    for key, text in english.items():
        assert placeholders(other[key]) == placeholders(text), (lang, key)


@pytest.mark.parametrize("lang", SUPPORTED_LANGUAGES)
def test_messages_are_clean(lang: str) -> None:
    for key, text in _raw(lang).items():
        assert key.startswith(PREFIXES), key
        assert text.strip() == text and text, (lang, key)
        assert "\n" not in text and "\r" not in text, (lang, key)
        assert "  " not in text, (lang, key)
        assert "<" not in text and ">" not in text, (lang, key)  # markup belongs in templates


def test_the_translations_are_translations() -> None:
    """Not copies of English (a few words are the same in two languages; most are not)."""
    english = _raw("en")
    for lang in ("de", "fr", "es"):
        other = _raw(lang)
        same = [k for k in english if other[k] == english[k] and not k.startswith("date.")]
        assert len(same) <= 6, (lang, same)


def test_plural_pairs_are_complete() -> None:
    keys = set(_raw("en"))
    for key in keys:
        stem, _, form = key.rpartition(".")
        if form in ("one", "other"):
            assert {f"{stem}.one", f"{stem}.other"} <= keys, key


def test_api_validation_and_gateway_messages_have_keys() -> None:
    """Every message the API, validation and the local gateway answer with (today's English
    texts, collected from the HTTP layer, validation.py and local/gateway.py)."""
    english = _raw("en")
    expected = {
        "api.accepted": "Thanks! If this address can receive mail, a verification link is on "
        "its way. Please check your inbox.",
        "error.body.unreadable": "The request body could not be read.",
        "error.body.too_large": "The request is too large.",
        "error.form.not_utf8": "The form data is not valid UTF-8.",
        "error.form.too_many_fields": "The form has too many fields.",
        "error.json.invalid": "The request body is not valid JSON.",
        "error.json.not_object": "The request body must be a JSON object with name and email.",
        "error.media_type": "Send the form as application/json or "
        "application/x-www-form-urlencoded.",
        "error.busy": "We are busy right now. Please try again shortly.",
        "error.internal": "Something went wrong on our side. Please try again later.",
        "error.rate_limited": "Too many sign-ups from your network. Please try again later.",
        "error.not_found": "Not found.",
        "error.method_not_allowed": "Method not allowed.",
        "error.name.missing": "Please enter your name.",
        "error.name.too_long": "Your name can be at most {max} characters long.",
        "error.name.bad_chars": "Your name contains characters that are not allowed.",
        "error.name.link": "Your name cannot contain a web address.",
        "error.email.missing": "Please enter your email address.",
        "error.email.too_long": "An email address can be at most {max} characters long.",
        "error.email.invalid": "Please enter a valid email address, like name@example.com.",
        "error.email.blocked_domain": "Addresses at this domain are not accepted here.",
    }
    for key, text in expected.items():
        assert english[key] == text, key


def test_text_fills_placeholders_and_falls_back() -> None:
    catalog = Catalog()
    assert catalog.text("error.name.too_long", "de", max=100) == (
        "Ihr Name darf höchstens 100 Zeichen lang sein."
    )
    assert catalog.text("error.not_found", "xx") == "Not found."  # unsupported: the default
    assert Catalog(default_language="fr").text("error.not_found", "pt") == "Introuvable."
    with pytest.raises(KeyError):
        catalog.text("error.no_such_key", "en")
    with pytest.raises(KeyError):
        catalog.text("error.name.too_long", "en")  # a placeholder left unfilled is a bug too


def test_plural_forms() -> None:
    catalog = Catalog()
    assert catalog.plural("page.mailbox.count", "en", 1) == "1 message, newest first."
    assert catalog.plural("page.mailbox.count", "en", 0) == "0 messages, newest first."
    assert catalog.plural("page.mailbox.count", "fr", 0).startswith("0 message,")  # French: 0, 1
    assert catalog.plural("page.mailbox.count", "de", 2).startswith("2 Nachrichten")


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        ("en", "29 November 2026, 16:05 UTC"),
        ("de", "29. November 2026, 16:05 UTC"),
        ("fr", "29 novembre 2026 à 16:05 UTC"),
        ("es", "29 de noviembre de 2026, 16:05 UTC"),
    ],
)
def test_dates_per_language(lang: str, expected: str) -> None:
    moment = datetime(2026, 11, 29, 17, 5, tzinfo=timezone(timedelta(hours=1)))
    assert Catalog().date_time(moment, lang) == expected


def test_first_of_the_month_and_naive_datetimes() -> None:
    catalog = Catalog()
    assert catalog.date_time(datetime(2026, 3, 1, 9, 0), "fr") == "1er mars 2026 à 09:00 UTC"
    assert catalog.date_time(datetime(2026, 3, 1, 9, 0, tzinfo=UTC), "de").startswith("1. März")
    for month in range(1, 13):
        for lang in SUPPORTED_LANGUAGES:
            assert catalog.text(f"date.month.{month}", lang)


def test_web_messages_are_the_web_keys() -> None:
    for lang in SUPPORTED_LANGUAGES:
        web = Catalog().web_messages(lang)
        assert set(web) == {k for k in _raw(lang) if k.startswith("web.")}
        assert web["web.form.submit"] == _raw(lang)["web.form.submit"]
        json.dumps(web)
    assert Catalog().web_messages("xx") == Catalog().web_messages("en")
    assert Catalog(default_language="de").web_messages("xx") == Catalog().web_messages("de")


def _override(tmp_path: Path, lang: str, data: object) -> Path:
    folder = tmp_path / "catalog"
    folder.mkdir(exist_ok=True)
    (folder / f"{lang}.json").write_text(json.dumps(data), "utf-8")
    return tmp_path


def test_a_partial_override_changes_one_string(tmp_path: Path) -> None:
    owner = _override(tmp_path, "de", {"web.form.submit": "Jetzt anmelden"})
    catalog = Catalog(owner)
    assert catalog.text("web.form.submit", "de") == "Jetzt anmelden"
    assert catalog.web_messages("de")["web.form.submit"] == "Jetzt anmelden"
    assert catalog.text("web.form.name_label", "de") == "Name"  # the rest: shipped
    assert catalog.text("web.form.submit", "en") == "Register"  # other languages: shipped
    assert shipped("de")["web.form.submit"] == "Anmelden"  # the shipped cache is untouched
    assert Catalog().text("web.form.submit", "de") == "Anmelden"


def test_an_override_dir_without_catalogs_is_fine(tmp_path: Path) -> None:
    assert Catalog(tmp_path).text("error.not_found", "es") == "No encontrado."


@pytest.mark.parametrize(
    ("name", "data", "complaint"),
    [
        ("de.json", {"web.form.submitt": "x"}, "unknown message key 'web.form.submitt'"),
        ("de.json", {"web.form.submit": 3}, "is not a string"),
        ("de.json", ["x"], "must be a JSON object"),
        ("de.json", {"error.name.too_long": "max {limit}"}, "may only use the placeholders"),
        ("de.json", {"error.not_found": "{0.__class__}"}, "not a plain name"),
        ("de.json", {"error.not_found": "{x!r}"}, "not a plain name"),
        ("pt.json", {"error.not_found": "x"}, "'pt' is not a supported language"),
    ],
)
def test_a_bad_override_is_refused_naming_file_and_key(
    tmp_path: Path, name: str, data: object, complaint: str
) -> None:
    folder = tmp_path / "catalog"
    folder.mkdir()
    (folder / name).write_text(json.dumps(data), "utf-8")
    with pytest.raises(CatalogError) as raised:
        Catalog(tmp_path)
    assert complaint in str(raised.value)
    assert str(folder / name) in str(raised.value)


def test_a_broken_override_file_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "catalog"
    folder.mkdir()
    (folder / "fr.json").write_text("{not json", "utf-8")
    with pytest.raises(CatalogError, match=r"fr\.json"):
        Catalog(tmp_path)


def test_an_unsupported_default_language_is_refused() -> None:
    with pytest.raises(CatalogError, match="'pt'"):
        Catalog(default_language="pt")


def test_importing_render_and_catalog_pulls_in_no_template_engine() -> None:
    code = (
        "import sys, regflow.render, regflow.render.catalog\n"
        "regflow.render.catalog.Catalog().text('error.not_found', 'de')\n"
        "regflow.render.negotiate_language('de', 'fr', 'en')\n"
        "heavy = [m for m in ('jinja2', 'markupsafe', 'email', 'email.mime', 'boto3', 'pathlib')"
        " if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_shipped_catalogs_are_the_one_list_of_languages(tmp_path: Path) -> None:
    """A catalog file is a language everywhere: settings accept it as DEFAULT_LANGUAGE and
    intake stores a registration in it (config.py once kept a list of its own)."""
    from regflow import config, intake
    from regflow.render import shipped_languages

    for lang in ("en", "pt", "de"):
        (tmp_path / f"{lang}.json").write_text("{}", "utf-8")
    assert shipped_languages(tmp_path) == ("en", "de", "pt")  # the fallback first
    assert shipped_languages() == SUPPORTED_LANGUAGES
    assert not hasattr(config, "LANGUAGES")
    assert vars(intake)["SUPPORTED_LANGUAGES"] is SUPPORTED_LANGUAGES
    assert vars(config)["SUPPORTED_LANGUAGES"] is SUPPORTED_LANGUAGES
    (tmp_path / "en.json").unlink()
    with pytest.raises(RuntimeError, match=r"no en\.json"):
        shipped_languages(tmp_path)
