"""Self-service erasure (issue 12, behaviour 3) on a real SQLite file, through the HTTP API
both runtimes share: the signed link in the registrant's mail; GET shows a page and changes
nothing (a mail scanner erases nothing); POST erases, in one transaction, every record naming
the address (what `regflow delete` erases), owes the owner's notice and the Registration
Erased events, and lands on the erased page."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from regflow.adapters.memory import MemoryStore
from regflow.adapters.sqlite import SQLiteStore
from regflow.delivery import DeliveryService
from regflow.domain import Channel, MessageKind, Outcome, address_key
from regflow.http import HttpApi
from regflow.intake import IntakeService
from regflow.local.worker import OutboxWorker
from regflow.tokens import TokenSigner
from tests.support.events import form_post, http_event
from tests.support.webhook import webhook_receiver
from tests.unit.fakes import SECRET, Clock, Ids, RecordingMailer, settings

HOOK_SECRET = "e" * 40
EMAIL = "Jane.Doe@example.com"


class App:
    def __init__(self, store: Any, urls: tuple[str, ...] = ()) -> None:
        env = {"WEBHOOK_URL": " ".join(urls), "WEBHOOK_SECRET": HOOK_SECRET} if urls else {}
        config = settings(**env)
        self.store = store
        self.mailer = RecordingMailer()
        self.clock = Clock()
        signer = TokenSigner(SECRET)
        self.intake = IntakeService(
            store=store, rules=config.rules, signer=signer, clock=self.clock, new_id=Ids()
        )
        events = {}
        if urls:
            from regflow.adapters.webhook import WebhookChannel

            events[Channel.WEBHOOK] = WebhookChannel(urls, HOOK_SECRET.encode())
        self.delivery = DeliveryService(
            store=store,
            outbox=store,
            settings=config.mail,
            signer=signer,
            channels={Channel.EMAIL: self.mailer},
            events=events,
            clock=self.clock,
        )
        store.event_targets = self.delivery.event_targets
        self.worker = OutboxWorker(store, self.delivery)
        self.api = HttpApi(self.intake, config.http)

    def link(self, path: str, index: int = 0) -> str:
        found = re.findall(
            rf"https://api\.example\.org/{path}\?token=[A-Za-z0-9_-]+", self.mailer.sent[index].text
        )
        assert len(found) == 1, self.mailer.sent[index].text
        return str(found[0])

    def registered_and_confirmed(self) -> None:
        self.intake.register("Jane Doe", EMAIL)
        self.worker.run_once()
        token = self.link("confirm").split("token=")[1]
        assert self.intake.confirm(token) is Outcome.CONFIRMED
        self.worker.run_once()  # the owner's notification, the confirmation's events


def get(api: HttpApi, link: str, **headers: str) -> dict[str, Any]:
    query = link.split("?", 1)[1]
    return api(http_event("GET", "/erase", query=query, headers={"accept": "text/html", **headers}))


def table_rows(path: Path) -> dict[str, list[str]]:
    db = sqlite3.connect(path)
    try:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {t: [repr(row) for row in db.execute(f"SELECT * FROM {t}")] for t in tables}
    finally:
        db.close()


def test_the_link_page_button_and_erased_page_on_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "regflow.db"
    with webhook_receiver(HOOK_SECRET.encode()) as hook:
        app = App(SQLiteStore(path), (hook.url,))
        app.registered_and_confirmed()
        link = app.link("erase")
        reg_id = next(iter(hook.accepted)).split(".")[0]
        before = table_rows(path)

        # a scanner (or the person) opens the link: a page with a button, nothing changes
        page = get(app.api, link)
        assert page["statusCode"] == 200
        assert (
            'method="post" action="erase"' in page["body"] and 'id="erase-button"' in page["body"]
        )
        assert "Erase your registration?" in page["body"]
        assert table_rows(path) == before
        head = app.api(http_event("HEAD", "/erase", query=link.split("?", 1)[1]))
        assert head["statusCode"] == 405 and table_rows(path) == before

        # the button
        token = link.split("token=")[1]
        answer = app.api(form_post("/erase", {"token": token}))
        assert answer["statusCode"] == 303
        assert answer["headers"]["Location"] == "erase?status=erased"
        done = app.api(http_event("GET", "/erase", query="status=erased"))
        assert done["statusCode"] == 200 and "Your registration is erased" in done["body"]

        # gone from every table at once; owed: the owner's notice and the event (snapshots)
        rows = table_rows(path)
        owed = rows["outbox"]
        assert len(owed) == 2 and all(
            "erasure-notice" in r or "registration-erased" in r for r in owed
        )
        app.worker.run_once()
        rows = table_rows(path)
        key = address_key(EMAIL)
        for table, content in rows.items():
            for row in content:
                assert EMAIL.lower() not in row.lower(), (table, row)
                assert reg_id not in row, (table, row)
                if key in row:  # only the per-inbox send log (a hash), until it expires
                    assert table == "send_logs", (table, row)
        assert rows["registrations"] == rows["confirmed_addresses"] == rows["outbox"] == []

        notice = app.mailer.sent[-1]
        assert notice.to == "owner@example.org" and notice.subject == "Registration erased"
        assert EMAIL in notice.text and reg_id in notice.text
        erased = hook.accepted[f"{reg_id}.erased"][0]
        assert erased["type"] == "registration.erased"
        assert erased["data"]["id"] == reg_id and erased["data"]["email"] == EMAIL
        assert "name" not in erased["data"]

        # the link again: nothing left, the same erased page; the registration can start over
        again = app.api(form_post("/erase", {"token": token}))
        assert again["headers"]["Location"] == "erase?status=erased"
        app.store.close()


def test_forged_and_confirmation_tokens_do_not_erase() -> None:
    app = App(MemoryStore())
    app.registered_and_confirmed()
    confirm_token = app.link("confirm").split("token=")[1]
    erase_token = app.link("erase").split("token=")[1]
    snapshot = dict(app.store.by_id)
    for bad in (confirm_token, erase_token[:-2] + "AA", "", "x" * 64):
        answer = app.api(form_post("/erase", {"token": bad}))
        assert answer["statusCode"] == 400 and "This link does not work" in answer["body"]
        assert get(app.api, f"https://x/erase?token={bad}")["statusCode"] == 400
    assert app.store.by_id == snapshot
    # and an erasure token never confirms
    assert app.intake.confirm(erase_token) is Outcome.INVALID


def test_every_registrant_mail_carries_the_link_in_its_language() -> None:
    app = App(MemoryStore())
    app.intake.register("Jane", EMAIL, language="de")
    app.worker.run_once()
    mail = app.mailer.sent[-1]
    assert "Löschen Sie Ihre Registrierung" in mail.text
    link = re.search(r"https://api\.example\.org/erase\?token=[A-Za-z0-9_-]+&lang=de", mail.text)
    assert link is not None and link.group(0).replace("&", "&amp;") in mail.html
    page = get(app.api, link.group(0))
    assert "Registrierung löschen?" in page["body"] and 'action="erase?lang=de"' in page["body"]


@pytest.mark.parametrize("kind", [MessageKind.ERASURE_NOTICE, MessageKind.REGISTRATION_ERASED])
def test_erasure_messages_outlive_their_registration(kind: MessageKind) -> None:
    assert kind.outlives_registration
    assert not MessageKind.OWNER_NOTIFICATION.outlives_registration
