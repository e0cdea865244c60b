"""Embedded parity of deliverability (issue 11): the real `regflow serve` wiring (SQLite,
the outbox worker, SmtpMailer) against a real SMTP server (aiosmtpd) on loopback that refuses
one recipient with 550 5.1.1. The refusal is a hard bounce: the inbox is suppressed, the
registration BOUNCED; later posts for that inbox send nothing and answer like any other. And a
relay that refuses the sender (5.7.1) for a while: nobody suppressed, every mail sent after the
fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from regflow.domain import Status, SuppressionReason, mailbox_key
from regflow.http import HttpApi
from regflow.local.server import EmbeddedApp, ServeOptions
from tests.support import events
from tests.support.sqlite import SmtpSink, version_3_file

DEAD = "dead.user+signup@example.com"


class RefusesOne(SmtpSink):
    """Accepts mail for everyone but `DEAD`'s inbox: 550 at RCPT, or at DATA."""

    def __init__(self, *, at_data: bool = False) -> None:
        super().__init__()
        self.at_data = at_data
        self.refused: list[str] = []

    def __enter__(self) -> RefusesOne:
        super().__enter__()
        return self

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if not self.at_data and address.startswith("dead.user"):
            self.refused.append(address)
            return "550 5.1.1 <dead.user>: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.at_data and any(r.startswith("dead.user") for r in envelope.rcpt_tos):
            self.refused.extend(envelope.rcpt_tos)
            return "550 5.1.1 <dead.user>: user unknown (checked after the message)"
        return await super().handle_DATA(server, session, envelope)


@pytest.mark.parametrize("at_data", [False, True], ids=["rcpt-550", "data-550"])
def test_smtp_refusal_suppresses_and_later_posts_send_nothing(
    tmp_path: Path, at_data: bool
) -> None:
    with RefusesOne(at_data=at_data) as sink:
        env = {
            "SMTP_URL": sink.url,
            "SENDER_EMAIL": "no-reply@example.org",
            "OWNER_EMAIL": "owner@example.org",
            "ADDRESS_MIN_INTERVAL_SECONDS": "0",
        }
        app = EmbeddedApp(ServeOptions(data_dir=tmp_path / "data"), env=env)
        try:
            app.intake.register("Dead", DEAD)
            app.intake.register("Zoe", "zoe@example.com")
            assert app.worker.run_once() == 2
            assert len(sink.refused) == 1
            assert [to for _, tos in sink.envelopes for to in tos] == ["zoe@example.com"]

            entry = app.store.suppression(mailbox_key("Dead.User@example.com"))
            assert entry is not None
            assert entry.reason is SuppressionReason.REFUSED
            assert entry.diagnostic == "SMTP550-5.1.1"
            (dead,) = [r for r in app.store.registrations() if r.email == DEAD]
            assert dead.status is Status.BOUNCED

            api = HttpApi(app.intake, app.settings.http)  # what the gateway calls
            # three more posts for the same inbox (sub-address variants): the same answer as
            # a post for a fresh address, and nothing reaches the SMTP server
            for n, variant in enumerate([DEAD, "dead.user@example.com", "Dead.User+x@example.com"]):
                got = api(events.json_post("/register", {"name": "Dead", "email": variant}))
                fresh = api(
                    events.json_post("/register", {"name": "New", "email": f"new{n}@example.com"})
                )
                assert events.public_answer(got) == events.public_answer(fresh)
            app.worker.run_once()
            assert len(sink.refused) == 1
            delivered = [to for _, tos in sink.envelopes for to in tos]
            assert delivered == [
                "zoe@example.com",
                "new0@example.com",
                "new1@example.com",
                "new2@example.com",
            ]
        finally:
            app.close()


class Relay(SmtpSink):
    """A relay that refuses every recipient with `reply` at RCPT while `broken` (the
    operator's relay does not know this host), then is fixed."""

    def __init__(self, reply: str) -> None:
        super().__init__()
        self.reply = reply
        self.broken = True
        self.refused = 0

    def __enter__(self) -> Relay:
        super().__enter__()
        return self

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if self.broken:
            self.refused += 1
            return self.reply
        envelope.rcpt_tos.append(address)
        return "250 OK"


class Epoch:
    """The worker's and the delivery's epoch clock, moved by hand."""

    def __init__(self) -> None:
        import time

        self.now = time.time()

    def __call__(self) -> float:
        return self.now


VISITORS = [
    "ann@example.com",
    "bob@example.net",
    "cem@example.org",
    "dora@mail.example",
    "eli@example.com",
    "fay@example.net",
]


def test_a_relay_refusing_the_sender_for_a_while_suppresses_nobody(tmp_path: Path) -> None:
    """Postfix's answer to a host it does not relay for, `554 5.7.1 <x>: Relay access
    denied` at RCPT, for every visitor for three hours; then the operator fixes the relay.
    Every message parks (the account's), nobody is suppressed or BOUNCED, and every owed mail
    goes out after the fix under the delivery policy, unattended."""
    with Relay("554 5.7.1 <x@example.com>: Relay access denied") as relay:
        env = {
            "SMTP_URL": relay.url,
            "SENDER_EMAIL": "no-reply@example.org",
            "OWNER_EMAIL": "owner@example.org",
            "ADDRESS_MIN_INTERVAL_SECONDS": "0",
        }
        app = EmbeddedApp(ServeOptions(data_dir=tmp_path / "data"), env=env)
        epoch = Epoch()
        app.worker._now = epoch
        app.delivery._now = epoch
        try:
            for email in VISITORS:
                app.intake.register("Visitor", email)
            assert app.worker.run_once() == len(VISITORS)
            for _ in range(3):  # three hours of the relay refusing, retried by the policy
                epoch.now += 3600 * 1.2 + 1
                app.worker.run_once()
            assert relay.refused >= 2 * len(VISITORS)
            assert app.store.suppressions() == []
            assert {r.status for r in app.store.registrations()} == {Status.PENDING}
            stats = app.store.stats()
            assert (stats.outbox_parked, stats.outbox_due) == (len(VISITORS), 0)
            assert relay.envelopes == []

            relay.broken = False  # the operator fixes the relay
            epoch.now += 3600 * 1.2 + 1
            app.worker.run_once()
            delivered = sorted(to for _, tos in relay.envelopes for to in tos)
            assert delivered == sorted(VISITORS)
            assert app.store.suppressions() == []
            assert {r.status for r in app.store.registrations()} == {Status.PENDING}
            assert app.store.stats().outbox_parked == 0
        finally:
            app.close()


def test_a_version_3_sqlite_file_is_migrated_for_deliverability(tmp_path: Path) -> None:
    """Version 3 (before deliverability): its CHECK allowed PENDING and CONFIRMED only. The
    migration rebuilds `registrations` (rows, indexes and the confirmed lock kept) and adds the
    suppression tables."""
    import sqlite3
    from datetime import UTC, datetime, timedelta

    from regflow.adapters.sqlite import SQLiteStore
    from regflow.domain import Limit, Outcome, Registration

    path = tmp_path / "regflow.db"
    version_3_file(path)
    t0 = datetime(2026, 11, 26, 12, tzinfo=UTC)
    off = Limit(max_count=0, window_seconds=3600)

    def reg(email: str) -> Registration:
        from regflow.domain import Status
        from regflow.tokens import new_registration_id

        ttl = int((t0 + timedelta(hours=24)).timestamp())
        return Registration(new_registration_id(), "N", email, Status.PENDING, t0, ttl)

    # a version 3 file with data, written by hand (the current code would migrate it)
    a, b = reg("a@example.com"), reg("b@example.com")
    db = sqlite3.connect(path, isolation_level=None)
    for r, status in ((a, "CONFIRMED"), (b, "PENDING")):
        db.execute(
            "INSERT INTO registrations (id, addr_key, name, email, status, timestamp, ttl)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (r.id, r.addr_key, r.name, r.email, status, t0.isoformat(), r.ttl),
        )
    db.execute("INSERT INTO confirmed_addresses VALUES (?, ?)", (a.addr_key, a.id))
    with pytest.raises(sqlite3.IntegrityError):  # what version 3 refused
        db.execute("UPDATE registrations SET status = 'BOUNCED' WHERE id = ?", (b.id,))
    db.close()

    store = SQLiteStore(path)
    try:
        assert store.confirmed_registration_id(a.addr_key) == a.id
        got = store.get(b.id)
        assert got is not None and got.status is Status.PENDING
        assert store.mark_undeliverable(b.id, Status.BOUNCED, "smtp; 550")
        assert store.confirm(b.id, b.addr_key, t0) is Outcome.INVALID
        assert store.suppressions() == []
        c = reg("c@example.com")
        store.create_pending(c, address_limit=off, client_key=None, client_limit=off)
        assert store.get(c.id) == c
    finally:
        store.close()
    indexes = sqlite3.connect(path).execute(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'registrations'"
        " AND name NOT LIKE 'sqlite_%'"
    )
    assert {row[0] for row in indexes} == {
        "registrations_addr",
        "registrations_ttl",
        "registrations_time",
        "registrations_undeliverable",
        "registrations_confirmed",  # version 5 (operator export), after the rebuild
    }


def test_the_breaker_catches_a_relay_refusal_the_classifier_reads_as_the_recipients(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Exim's `550 relay not permitted` at RCPT carries no enhanced code: by its basic code
    and stage it reads as the recipient's, and the first refusals suppress. The fifth refusal
    at a third domain within ten minutes, with nothing sent, opens the breaker: those
    suppressions are lifted, their registrations PENDING again, every message parks, the
    owner is told (an ERROR line); while open one message is tried at a time; after the fix
    the first success closes it and every owed mail goes out."""
    import logging

    caplog.set_level(logging.INFO, logger="regflow.delivery")
    with Relay("550 relay not permitted") as relay:
        env = {
            "SMTP_URL": relay.url,
            "SENDER_EMAIL": "no-reply@example.org",
            "OWNER_EMAIL": "owner@example.org",
            "ADDRESS_MIN_INTERVAL_SECONDS": "0",
        }
        app = EmbeddedApp(ServeOptions(data_dir=tmp_path / "data"), env=env)
        epoch = Epoch()
        app.worker._now = epoch
        app.delivery._now = epoch
        try:
            for email in VISITORS:
                app.intake.register("Visitor", email)
            app.worker.run_once()
            assert relay.refused == 5  # the fifth opened it; the sixth was not tried
            assert app.store.suppressions() == []
            assert {r.status for r in app.store.registrations()} == {Status.PENDING}
            assert app.store.stats().outbox_parked == len(VISITORS)
            [opened] = [r for r in caplog.records if "mail breaker open:" in r.getMessage()]
            assert opened.levelname == "ERROR" and "4 suppressions lifted" in opened.getMessage()

            epoch.now += 61  # still broken: one message is tried, and parks again
            app.worker.run_once()
            assert relay.refused == 6
            assert app.store.suppressions() == []

            relay.broken = False  # the operator fixes the relay
            epoch.now += 61
            app.worker.run_once()
            delivered = sorted(to for _, tos in relay.envelopes for to in tos)
            assert delivered == sorted(VISITORS)
            assert app.store.suppressions() == []
            assert {r.status for r in app.store.registrations()} == {Status.PENDING}
            assert app.store.stats().outbox_parked == 0
            assert any("mail breaker closed" in r.getMessage() for r in caplog.records)
        finally:
            app.close()


def test_real_refusals_at_few_domains_still_suppress(tmp_path: Path) -> None:
    """The breaker does not hide real dead addresses: refusals at two domains, however many,
    suppress as before."""
    with RefusesOne() as sink:
        env = {
            "SMTP_URL": sink.url,
            "SENDER_EMAIL": "no-reply@example.org",
            "OWNER_EMAIL": "owner@example.org",
            "ADDRESS_MIN_INTERVAL_SECONDS": "0",
        }
        app = EmbeddedApp(ServeOptions(data_dir=tmp_path / "data"), env=env)
        try:
            dead = [f"dead.user{i}@{'ab'[i % 2]}.example" for i in range(6)]
            for email in dead:
                app.intake.register("Dead", email)
            app.worker.run_once()
            assert len(app.store.suppressions()) == len(dead)
            assert {r.status for r in app.store.registrations()} == {Status.BOUNCED}
        finally:
            app.close()
