"""The owner's mail (issue 12, behaviour 4): name, address, language, time, and a one-line
`regflow export` hint, in the site's default language, in both parts."""

from __future__ import annotations

import dataclasses

import pytest

from regflow import emails
from regflow.domain import Registration, Status
from regflow.render.catalog import Catalog
from regflow.render.templates import Renderer
from tests.unit.fakes import START


@pytest.mark.parametrize(
    ("lang", "language_label", "hint"),
    [
        ("en", "Language: fr", "All confirmed registrations: regflow export"),
        ("de", "Sprache: fr", "Alle bestätigten Registrierungen: regflow export"),
        ("fr", "Langue: fr", "Toutes les inscriptions confirmées\u202f: regflow export"),
        ("es", "Idioma: fr", "Todas las inscripciones confirmadas: regflow export"),
    ],
)
def test_owner_mail_carries_name_address_language_time_and_export_hint(
    lang: str, language_label: str, hint: str
) -> None:
    reg = Registration(
        id="r1",
        name="Zoë <Z>",
        email="zoe@example.com",
        status=Status.CONFIRMED,
        timestamp=START,
        ttl=None,
        confirmed_at=START.replace(minute=7),
        language="fr",
    )
    renderer = Renderer(Catalog(None, lang), None)
    mail = emails.owner_notification(
        reg, sender="s@example.org", owner="o@example.org", renderer=renderer
    )
    for part in (mail.text, mail.html):
        assert "zoe@example.com" in part
        assert "2026-01-15 12:07 UTC" in part  # the confirmation time
        assert "regflow export --format csv" in part
    assert "Zoë <Z>" in mail.text and "Zoë &lt;Z&gt;" in mail.html
    assert language_label in mail.text
    assert hint in mail.text
    other = emails.owner_notification(
        dataclasses.replace(reg, language="de"), sender="s@example.org", owner="o@example.org",
        renderer=renderer,
    )  # fmt: skip
    assert language_label.replace("fr", "de") in other.text
