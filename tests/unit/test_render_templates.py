"""Mails and pages from templates: `regflow.render.templates.Renderer`."""

from __future__ import annotations

import html
import json
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest

from regflow import emails
from regflow.domain import Registration, Status
from regflow.render import SUPPORTED_LANGUAGES, RenderedMail
from regflow.render.catalog import Catalog
from regflow.render.templates import TEMPLATE_DIR, Renderer, one_line

NOW = datetime(2026, 11, 29, 16, 0, tzinfo=UTC)
LINK = "https://api.example.org/confirm?token=" + "A" * 64
HOSTILE = "<script>alert(1)</script> & \"Tom\" 'O'Neil'"
RENDERER = Renderer(Catalog())


def _mail_context(name: str = "Jane Doe") -> dict[str, dict[str, object]]:
    return {
        "verification": {
            "name": name,
            "link": LINK,
            "expires_at": NOW + timedelta(hours=24),
            "hours": 24,
            "site": "Example Club",
        },
        "already_registered": {"name": name, "site": "Example Club"},
        "owner_digest": {  # issue 12: OWNER_DIGEST=daily
            "day": "2026-11-29",
            "registrations": [
                SimpleNamespace(
                    name=name, email="jane@example.com", language="de", confirmed_at=NOW
                )
            ],
            "export_command": "regflow export",
        },
        "erasure_notice": {  # issue 12: to the owner, after a self-service erasure
            "id": "reg-1",
            "name": name,
            "email": "jane@example.com",
            "erased_at": NOW,
        },
        "owner_notification": {
            "name": name,
            "email": "jane@example.com",
            "language": "de",
            "registered_at": NOW,
            "confirmed_at": NOW + timedelta(minutes=5),
            "export_command": "regflow export",
        },
    }


MAILS = sorted(_mail_context())


def test_every_shipped_mail_template_is_tested() -> None:
    shipped = sorted(
        p.stem for p in (TEMPLATE_DIR / "mails").glob("*.j2") if not p.name.startswith("_")
    )
    assert shipped == MAILS


@pytest.mark.parametrize("lang", SUPPORTED_LANGUAGES)
@pytest.mark.parametrize("name", MAILS)
def test_every_mail_renders_in_every_language(name: str, lang: str) -> None:
    mail = RENDERER.mail(name, lang, **_mail_context()[name])
    assert isinstance(mail, RenderedMail)
    catalog = RENDERER.catalog
    assert mail.subject and "\n" not in mail.subject and "\r" not in mail.subject
    assert mail.text.endswith("\n") and not mail.text.startswith("\n")
    assert "\n\n\n" not in mail.text
    assert "{" not in mail.text and "{" not in mail.html  # no placeholder left unfilled
    assert f'<html lang="{lang}">' in mail.html
    assert "Jane Doe" in mail.text and "Jane Doe" in mail.html
    assert f"<title>{html.escape(mail.subject, quote=False)}" in mail.html or name == (
        "owner_notification"
    )
    if name == "verification":
        assert LINK in mail.text
        assert f'href="{LINK}"' in mail.html
        assert "Example Club" in mail.text
        when = catalog.date_time(NOW + timedelta(hours=24), lang)
        assert when in mail.text and html.escape(when) in mail.html
        assert "24" in mail.text
        assert catalog.text("mail.verification.button", lang) in mail.html
        assert mail.subject == catalog.text("mail.verification.subject", lang)
    if name == "already_registered":
        assert "http" not in mail.text and "href" not in mail.html  # no second link
    if name == "owner_notification":
        assert "jane@example.com" in mail.text
        assert "2026-11-29 16:00 UTC" in mail.text and "2026-11-29 16:05 UTC" in mail.text


def test_the_english_mails_say_what_they_said_before() -> None:
    mail = RENDERER.mail("verification", "en", **_mail_context()["verification"])
    assert mail.subject == "Please verify your email address"
    assert mail.text == (
        "Hi Jane Doe,\n\n"
        "Please confirm your email address for Example Club by opening this link:\n\n"
        f"{LINK}\n\n"
        "The link expires in 24 hours (30 November 2026, 16:00 UTC).\n"
        "If you did not sign up, ignore this message: nothing happens without a click.\n"
    )
    assert "Verify my email</a>" in mail.html
    assert f"Or paste this address into your browser: {LINK}" in mail.html
    mail = RENDERER.mail("already_registered", "en", **_mail_context()["already_registered"])
    assert mail.subject == "You are already registered"
    assert "already registered and verified. There is nothing more to do." in mail.text
    mail = RENDERER.mail("owner_notification", "en", **_mail_context()["owner_notification"])
    assert mail.subject == "New registration: Jane Doe"
    assert mail.text == (
        "A new registration was confirmed.\n\n"
        "Name: Jane Doe\nEmail: jane@example.com\n"
        "Registered: 2026-11-29 16:00 UTC\nConfirmed: 2026-11-29 16:05 UTC\n"
        "Site: regflow\n"  # SITE_NAME: an owner of several sites sees which one
        "Language: de\n\n"  # issue 12: the language and the export hint
        "All confirmed registrations: regflow export\n"
    )


def test_one_hour_is_singular() -> None:
    context = {**_mail_context()["verification"], "hours": 1}
    assert "expires in 1 hour (" in RENDERER.mail("verification", "en", **context).text
    assert "1 Stunde gültig" in RENDERER.mail("verification", "de", **context).text


@pytest.mark.parametrize("lang", SUPPORTED_LANGUAGES)
@pytest.mark.parametrize("name", MAILS)
def test_a_hostile_name_is_escaped_in_html_and_kept_in_text(name: str, lang: str) -> None:
    mail = RENDERER.mail(name, lang, **_mail_context(HOSTILE)[name])
    assert "<script>" not in mail.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &#34;Tom&#34; &#39;O&#39;Neil&#39;" in (
        mail.html
    )
    assert "&amp;amp;" not in mail.html  # escaped once, not twice
    assert HOSTILE in mail.text  # plain text: as typed, not escaped
    assert "&lt;" not in mail.text and "&amp;" not in mail.text and "&#" not in mail.text
    if name == "owner_notification":
        assert HOSTILE in mail.subject


def test_hostile_site_and_link_are_escaped() -> None:
    context = {
        **_mail_context()["verification"],
        "site": "<b>Site</b> & Co",
        "link": 'https://x.example/confirm?a=1&token="><x>',
    }
    mail = RENDERER.mail("verification", "de", **context)
    assert '"><x>' not in mail.html and "<b>" not in mail.html
    assert "&amp;token=&#34;&gt;&lt;x&gt;" in mail.html
    assert "&lt;b&gt;Site&lt;/b&gt; &amp; Co" in mail.html
    assert "<b>Site</b> & Co" in mail.text


@pytest.mark.parametrize(
    "name", ["Jo\r\nBcc: victim@example.com", "Jo\nX", "Jo\u2028X", "Jo\x85X", "Jo\x00\tX"]
)
def test_the_subject_is_one_line_whatever_the_name(name: str) -> None:
    mail = RENDERER.mail("owner_notification", "en", **_mail_context(name)["owner_notification"])
    assert not re.search(r"[\r\n\x00-\x1f\x7f\x85\u2028\u2029]", mail.subject), mail.subject
    assert mail.subject.startswith("New registration: Jo ")


def test_one_line() -> None:
    assert one_line("  a\r\n\tb \u2028 c\x00d  ") == "a b c d"
    assert one_line("Nouvelle inscription\u202f: Zoë") == "Nouvelle inscription\u202f: Zoë"


def _owner_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "templates" / "mails"
    folder.mkdir(parents=True)
    (folder / "already_registered.j2").write_text(
        "{% block subject %}Welcome back, {{ name }}{% endblock %}\n"
        "{% block text %}Dear {{ name }}: {{ t('mail.already_registered.not_you') }}\n"
        "{% endblock %}\n"
        '{% block html %}<p class="owner">Dear {{ name }}</p>{% endblock %}\n',
        "utf-8",
    )
    return tmp_path


def test_an_owner_template_replaces_the_shipped_one(tmp_path: Path) -> None:
    owner = _owner_dir(tmp_path)
    renderer = Renderer(Catalog(owner), owner)
    mail = renderer.mail("already_registered", "fr", name="<Ann>", site="S")
    assert mail.subject == "Welcome back, <Ann>"
    assert mail.text == (
        "Dear <Ann>: Si vous n\u2019\u00eates pas \u00e0 l\u2019origine de cette demande, "
        "ignorez simplement ce message.\n"
    )
    assert mail.html == '<p class="owner">Dear &lt;Ann&gt;</p>\n'  # autoescaped
    # Templates the owner did not replace are the shipped ones.
    shipped = RENDERER.mail("verification", "fr", **_mail_context()["verification"])
    assert renderer.mail("verification", "fr", **_mail_context()["verification"]) == shipped


def test_an_owner_catalog_override_changes_one_string_in_the_mail(tmp_path: Path) -> None:
    (tmp_path / "catalog").mkdir()
    (tmp_path / "catalog" / "en.json").write_text(
        json.dumps({"mail.verification.button": "Yes, that's me & sign me up"}), "utf-8"
    )
    renderer = Renderer(Catalog(tmp_path), tmp_path)
    mail = renderer.mail("verification", "en", **_mail_context()["verification"])
    assert "Yes, that&#39;s me &amp; sign me up</a>" in mail.html
    assert mail.subject == "Please verify your email address"
    german = renderer.mail("verification", "de", **_mail_context()["verification"])
    assert "E-Mail-Adresse bestätigen</a>" in german.html


def test_a_template_must_fill_what_it_uses() -> None:
    with pytest.raises(Exception, match="link"):
        RENDERER.mail("verification", "en", name="x", expires_at=NOW, hours=1, site="s")


@pytest.mark.parametrize("name", ["../pages/confirm_button", "Verification", "a/b", ""])
def test_template_names_are_plain(name: str) -> None:
    with pytest.raises(ValueError, match="not a template name"):
        RENDERER.mail(name, "en")


def test_helper_names_cannot_be_shadowed() -> None:
    with pytest.raises(TypeError, match="'t'"):
        RENDERER.page("mailbox_unavailable", "en", t="x")


# --- pages ------------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", SUPPORTED_LANGUAGES)
def test_the_confirm_button_page(lang: str) -> None:
    page = RENDERER.page("confirm_button", lang, token='tok"<&>', site="Club & <Co>")
    catalog = RENDERER.catalog
    assert page.startswith("<!doctype html>")
    assert f'<html lang="{lang}">' in page
    assert '<link rel="stylesheet" href="/styles.css">' in page
    assert '<form method="post" action="confirm">' in page
    assert '<input type="hidden" name="token" value="tok&#34;&lt;&amp;&gt;">' in page
    assert 'id="confirm-button"' in page
    assert html.escape(catalog.text("page.confirm.button", lang)) in page
    assert "Club &amp; &lt;Co&gt;" in page and "<Co>" not in page
    assert "<script" not in page and "style=" not in page  # the CSP allows neither


def test_the_mailbox_pages() -> None:
    messages = [
        SimpleNamespace(id="01J", subject="<b>Hi</b>", to="a@example.com", date=NOW),
        SimpleNamespace(id="01K", subject="Second", to="b@example.com", date=NOW),
    ]
    index = RENDERER.page("mailbox_index", "en", messages=messages, smtp=False)
    assert '<main class="card mailbox">' in index
    assert '<a class="message-link" href="/_mailbox/01J">&lt;b&gt;Hi&lt;/b&gt;</a>' in index
    assert '<time datetime="2026-11-29T16:00:00+00:00">2026-11-29 16:00:00 UTC</time>' in index
    assert "2 messages, newest first." in index and "SMTP_URL" not in index
    one = RENDERER.page("mailbox_index", "en", messages=messages[:1], smtp=True)
    assert "1 message, newest first." in one
    assert "SMTP server in <code>SMTP_URL</code>; nothing lands here." in one
    empty = RENDERER.page("mailbox_index", "de", messages=[], smtp=False)
    assert '<p class="empty">Noch keine Nachrichten.</p>' in empty and "<table" not in empty

    message = RENDERER.page(
        "mailbox_message",
        "en",
        sender="no-reply@example.org",
        to="a@example.com",
        subject="Hi <you>",
        date="Sun, 29 Nov 2026 16:00:00 +0000",
        body='Open https://x.example/confirm?token=a&b=1 or "<script>"',
    )
    assert "<title>Hi &lt;you&gt;</title>" in message
    assert (
        '<a class="mail-link" href="https://x.example/confirm?token=a&amp;b=1">'
        "https://x.example/confirm?token=a&amp;b=1</a>"
    ) in message
    assert "&#34;&lt;script&gt;&#34;" in message and "<script" not in message
    missing = RENDERER.page("mailbox_message_missing", "en")
    assert "No such message" in missing and 'href="/_mailbox"' in missing
    assert "No local mailbox" in RENDERER.page("mailbox_unavailable", "en")
    assert "<code>--web-dir</code>" in RENDERER.page("missing_web", "fr")


def test_every_shipped_page_renders_in_every_language() -> None:
    contexts: dict[str, dict[str, object]] = {
        "confirm_button": {"token": "t", "site": "s"},
        "erase": {"state": "ask", "token": "t", "site": "s", "action": "erase"},
        "problem": {"kind": "busy", "back": "/"},
        "mailbox_index": {"messages": [], "smtp": True},
        "mailbox_unavailable": {},
        "mailbox_message": {"sender": "a", "to": "b", "subject": "", "date": "d", "body": ""},
        "mailbox_message_missing": {},
        "missing_web": {},
    }
    shipped = sorted(
        p.stem for p in (TEMPLATE_DIR / "pages").glob("*.j2") if not p.name.startswith("_")
    )
    assert shipped == sorted(contexts)
    for name, context in contexts.items():
        for lang in SUPPORTED_LANGUAGES:
            page = RENDERER.page(name, lang, **context)
            assert f'<html lang="{lang}">' in page and "{" not in page, (name, lang)


def test_an_unsupported_language_renders_in_the_default() -> None:
    renderer = Renderer(Catalog(default_language="es"))
    assert '<html lang="es">' in renderer.page("mailbox_unavailable", "pt")


# --- emails.py: the service's entry points ------------------------------------------------


def _registration(name: str = "Jane Doe") -> Registration:
    return Registration(
        id="AAAAAAAAAAAAAAAAAAAAAA",
        name=name,
        email="jane@example.com",
        status=Status.PENDING,
        timestamp=NOW,
        ttl=int((NOW + timedelta(hours=24)).timestamp()),
    )


def test_emails_renders_in_the_asked_language_and_the_owner_in_the_default() -> None:
    renderer = Renderer(Catalog(default_language="fr"))
    mail = emails.verification(
        _registration(),
        link=LINK,
        expires_at=NOW,
        hours=24,
        sender="no-reply@example.org",
        site="S",
        lang="de",
        renderer=renderer,
    )
    assert mail.subject == "Bitte bestätigen Sie Ihre E-Mail-Adresse"
    assert mail.to == "jane@example.com" and mail.sender == "no-reply@example.org"
    again = emails.already_registered(
        _registration(), sender="s@example.org", site="S", lang=None, renderer=renderer
    )
    assert again.subject == "Votre adresse est déjà inscrite"  # no language: the default
    unknown = emails.already_registered(
        _registration(), sender="s@example.org", site="S", lang="pt", renderer=renderer
    )
    assert unknown.subject == again.subject
    owner = emails.owner_notification(
        _registration(), sender="s@example.org", owner="o@example.org", renderer=renderer
    )
    assert owner.subject == "Nouvelle inscription\u202f: Jane Doe"
    assert owner.reply_to == "jane@example.com" and owner.to == "o@example.org"
    mime = emails.to_mime(owner)
    assert "\n" not in str(mime["Subject"]).replace("\n ", "")


def test_to_email() -> None:
    rendered = RenderedMail(subject="S", text="T\n", html="<p>H</p>\n")
    mail = emails.to_email(rendered, sender="a@example.org", to="b@example.org", reply_to=None)
    assert (mail.subject, mail.text, mail.html) == ("S", "T\n", "<p>H</p>\n")


def test_building_mime_alone_does_not_import_jinja2() -> None:
    code = (
        "import sys\n"
        "from regflow.emails import to_mime\n"
        "from regflow.domain import Email\n"
        "to_mime(Email(sender='a@example.org', to='b@example.org', subject='s', text='t',"
        " html='h'))\n"
        "assert 'jinja2' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_an_owner_page_template_replaces_the_shipped_one(tmp_path: Path) -> None:
    folder = tmp_path / "templates" / "pages"
    folder.mkdir(parents=True)
    (folder / "confirm_button.j2").write_text(
        '{% extends "pages/_base.j2" %}{% block title %}{{ site }}{% endblock %}'
        '{% block content %}<p class="owner">{{ t("page.confirm.lead", site=site) }}</p>'
        '<form method="post" action="confirm"><input type="hidden" name="token" '
        'value="{{ token }}"><button id="confirm-button">OK</button></form>{% endblock %}',
        "utf-8",
    )
    page = Renderer(Catalog(), tmp_path).page("confirm_button", "es", token="t", site="<S>")
    assert '<p class="owner">Solo queda un paso para completar su registro en &lt;S&gt;.</p>' in (
        page
    )
    assert '<html lang="es">' in page  # the shipped frame, extended by the owner's page


# --- issue 27: an owner's template is sandboxed, and its folder only the owner's to change ----

PAYLOADS = (
    "{{ cycler.__init__.__globals__.os.popen('touch %(marker)s').read() }}",
    "{{ joiner.__init__.__globals__['os'].system('touch %(marker)s') }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ t.__globals__['os'].system('touch %(marker)s') }}",
    "{{ lipsum.__globals__.os.popen('touch %(marker)s') }}",
)


@pytest.mark.parametrize("payload", PAYLOADS)
def test_an_owner_page_template_cannot_reach_python_internals(tmp_path: Path, payload: str) -> None:
    from jinja2.exceptions import SecurityError, UndefinedError

    marker = tmp_path / "ran"
    folder = tmp_path / "templates" / "pages"
    folder.mkdir(parents=True)
    (folder / "erase.j2").write_text(payload.replace("%(marker)s", str(marker)), "utf-8")
    renderer = Renderer(Catalog(), tmp_path)
    with pytest.raises((SecurityError, UndefinedError)):
        renderer.page("erase", "en", state="ask", token="t")
    assert not marker.exists()


def test_an_owner_template_cannot_change_what_it_is_given(tmp_path: Path) -> None:
    from jinja2.exceptions import SecurityError

    folder = tmp_path / "templates" / "pages"
    folder.mkdir(parents=True)
    (folder / "erase.j2").write_text("{{ items.append(1) }}", "utf-8")
    items: list[int] = []
    with pytest.raises(SecurityError):
        Renderer(Catalog(), tmp_path).page("erase", "en", items=items)
    assert items == []


def test_the_sandbox_keeps_every_shipped_page_and_helper_working(tmp_path: Path) -> None:
    folder = tmp_path / "templates" / "pages"
    folder.mkdir(parents=True)
    (folder / "erase.j2").write_text(
        "{{ t('page.confirm.lead', site=site) }}|{{ fmt_utc(when) }}|{{ name|upper }}"
        "|{{ '%s-%s'|format(lang, state) }}|{{ state.replace('a', 'o') }}",
        "utf-8",
    )
    page = Renderer(Catalog(), tmp_path).page("erase", "en", state="ask", when=NOW, name="jo")
    assert page.endswith("|2026-11-29 16:00 UTC|JO|en-ask|osk")
