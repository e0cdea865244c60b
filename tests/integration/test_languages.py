"""A visitor's language, end to end, on both paths: chosen at registration (the `lang` field,
else Accept-Language, else DEFAULT_LANGUAGE), stored, used for the verification mail and the
confirmed page; the owner's notification stays in DEFAULT_LANGUAGE. And a site's own words: an
override directory (TEMPLATES_DIR) with one changed template visibly changes the mail."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.support.aws import TOKEN_RE, aws_stack
from tests.support.events import http_event, json_post
from tests.support.server import regflow_server
from tests.support.sqlite import SmtpSink

GERMAN_SUBJECT = "Bitte bestätigen Sie Ihre E-Mail-Adresse"
ENGLISH_OWNER_SUBJECT = "New registration: "
LINK = re.compile(r"(http://\S+/confirm\?token=[A-Za-z0-9_-]{64}\S*)")

pytestmark = pytest.mark.slow


def site_words(tmp_path: Path) -> Path:
    """An owner's override directory: the verification mail's template replaced, one German
    string changed."""
    root = tmp_path / "site"
    (root / "templates" / "mails").mkdir(parents=True)
    (root / "catalog").mkdir()
    (root / "templates" / "mails" / "verification.j2").write_text(
        "{% block subject %}Welcome to the Club, {{ name }}{% endblock %}\n"
        "{% block text %}Club link: {{ link }}\n{% endblock %}\n"
        '{% block html %}<p>Club link: <a href="{{ link }}">{{ link }}</a></p>{% endblock %}\n',
        encoding="utf-8",
    )
    (root / "catalog" / "de.json").write_text(
        '{"mail.already_registered.subject": "Sie sind schon dabei"}', encoding="utf-8"
    )
    return root


# --- embedded, over SMTP ---------------------------------------------------------------------


def test_german_visitor_embedded_over_smtp(tmp_path: Path) -> None:
    with SmtpSink() as sink, regflow_server(tmp_path / "data", env={"SMTP_URL": sink.url}) as srv:
        r = httpx.post(
            f"{srv.base_url}/register",
            json={"name": "Jörg", "email": "joerg@example.com"},
            headers={"Accept-Language": "de-DE,de;q=0.9,en;q=0.5"},
        )
        assert r.status_code == 202
        assert r.json()["message"].startswith("Vielen Dank")
        [mail] = sink.wait_for(1)
        assert str(mail["Subject"]) == GERMAN_SUBJECT
        text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        assert "Guten Tag Jörg" in text
        [link] = LINK.findall(text)
        assert parse_qs(urlsplit(link).query)["lang"] == ["de"]
        click = httpx.get(link, follow_redirects=False)
        assert click.status_code == 302
        landing = parse_qs(urlsplit(click.headers["location"]).query)
        assert landing == {"status": ["confirmed"], "lang": ["de"]}
        [_, owner] = sink.wait_for(2)
        assert str(owner["Subject"]).startswith(ENGLISH_OWNER_SUBJECT)  # DEFAULT_LANGUAGE


def test_an_explicit_lang_field_wins_over_the_browser(tmp_path: Path) -> None:
    with SmtpSink() as sink, regflow_server(tmp_path / "data", env={"SMTP_URL": sink.url}) as srv:
        r = httpx.post(
            f"{srv.base_url}/register",
            data={"name": "Ana", "email": "ana@example.com", "lang": "es"},
            headers={"Accept-Language": "de"},
        )
        assert r.status_code == 303
        [mail] = sink.wait_for(1)
        assert str(mail["Subject"]) == "Confirme su dirección de correo electrónico"


def test_default_language_and_site_overrides_embedded(tmp_path: Path) -> None:
    env = {
        "DEFAULT_LANGUAGE": "fr",
        "TEMPLATES_DIR": str(site_words(tmp_path)),
        "ADDRESS_MIN_INTERVAL_SECONDS": "0",  # the second post comes at once
    }
    with (
        SmtpSink() as sink,
        regflow_server(tmp_path / "data", env={**env, "SMTP_URL": sink.url}) as srv,
    ):
        r = httpx.post(f"{srv.base_url}/register", json={"name": "Zoé", "email": "z@example.com"})
        assert r.status_code == 202
        assert r.json()["message"].startswith("Merci")  # no Accept-Language: DEFAULT_LANGUAGE
        [mail] = sink.wait_for(1)
        assert str(mail["Subject"]) == "Welcome to the Club, Zoé"  # the site's template
        text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        assert text.startswith("Club link: http://")
        # the catalog override: an "already registered" mail to a German visitor
        [link] = LINK.findall(text)
        assert httpx.get(link, follow_redirects=False).status_code == 302
        sink.wait_for(2)
        again = httpx.post(
            f"{srv.base_url}/register",
            json={"name": "Zoé", "email": "z@example.com", "lang": "de"},
        )
        assert again.status_code == 202
        assert str(sink.wait_for(3)[2]["Subject"]) == "Sie sind schon dabei"


# --- AWS, under moto ---------------------------------------------------------------------------


def test_german_visitor_on_the_lambda_path() -> None:
    with aws_stack() as stack:
        post = json_post("/register", {"name": "Jörg", "email": "joerg@example.com"})
        post["headers"]["accept-language"] = "de"
        response = stack.register(post)
        assert response["statusCode"] == 202
        assert "Vielen Dank" in response["body"]
        stack.pump()
        [mail] = stack.mail()
        assert mail.subject == GERMAN_SUBJECT
        assert "Guten Tag Jörg" in mail.text
        token = re.search(TOKEN_RE, mail.text)
        assert token is not None
        [link] = [w for w in mail.text.split() if "/confirm?token=" in w]
        query = parse_qs(urlsplit(link).query)
        assert query["lang"] == ["de"]
        click = stack.confirm(
            http_event("GET", "/confirm", query={"token": token.group(1), "lang": "de"})
        )
        landing = parse_qs(urlsplit(click["headers"]["Location"]).query)
        assert landing == {"status": ["confirmed"], "lang": ["de"]}
        stack.pump()
        owner = [m for m in stack.mail() if m.to == ["owner@regflow.example"]]
        assert len(owner) == 1 and owner[0].subject.startswith(ENGLISH_OWNER_SUBJECT)


def test_site_overrides_on_the_lambda_path(tmp_path: Path) -> None:
    with aws_stack(TEMPLATES_DIR=str(site_words(tmp_path))) as stack:
        assert (
            stack.register(json_post("/register", {"name": "Ann", "email": "a@example.com"}))[
                "statusCode"
            ]
            == 202
        )
        stack.pump()
        [mail] = stack.mail()
        assert mail.subject == "Welcome to the Club, Ann"
        assert mail.text.startswith("Club link: https://")


def test_a_bad_site_catalog_stops_start_up_with_one_line(tmp_path: Path) -> None:
    import subprocess

    site = tmp_path / "site"
    (site / "catalog").mkdir(parents=True)
    (site / "catalog" / "de.json").write_text('{"mail.no_such_key": "x"}', encoding="utf-8")
    from tests.support.server import free_port, regflow_command, server_env

    port = str(free_port())
    done = subprocess.run(
        [*regflow_command(), "serve", "--port", port, "--data-dir", str(tmp_path / "d")],
        env=server_env({"TEMPLATES_DIR": str(site)}),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "mail.no_such_key" in lines[0] and "de.json" in lines[0]
    assert "Traceback" not in done.stderr
