"""Embedded parity of deliverability (issue 11): the real `regflow serve` wiring (SQLite,
the outbox worker, SmtpMailer) against a real SMTP server (aiosmtpd) on loopback that refuses
one recipient with 550. The refusal is a hard bounce: the address is suppressed, the
registration BOUNCED; later posts for that address send nothing and answer like any other.
Suppression is keyed on the exact address (issue 21): a bouncing sub-address leaves the base
inbox mailed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from regflow.api import HttpApi
from regflow.domain import Outcome, Status, SuppressionReason
from regflow.feedback import suppressed
from regflow.local.server import EmbeddedApp, ServeOptions
from tests.support import events
from tests.support.sqlite import SmtpSink, confirm_link, version_3_file

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
            return "554 5.7.1 Message refused for this recipient"
        return await super().handle_DATA(server, session, envelope)


@pytest.mark.parametrize("at_data", [False, True], ids=["rcpt-550", "data-554"])
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

            entry = suppressed(app.store, "Dead.User+Signup@example.com")
            assert entry is not None
            assert entry.reason is SuppressionReason.REFUSED
            assert entry.diagnostic == ("SMTP554" if at_data else "SMTP550")
            (dead,) = [r for r in app.store.registrations() if r.email == DEAD]
            assert dead.status is Status.BOUNCED

            api = HttpApi(app.intake, app.settings.http)  # what the gateway calls
            # three more posts for the same address (as typed, in other case): the same
            # answer as a post for a fresh address, and nothing reaches the SMTP server
            variants = [DEAD, "Dead.User+Signup@example.com", "dead.user+signup@EXAMPLE.COM"]
            for n, variant in enumerate(variants):
                got = api.register(
                    events.json_post("/register", {"name": "Dead", "email": variant})
                )
                fresh = api.register(
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


class RefusesTheSubAddress(SmtpSink):
    """A provider without sub-addressing: `carol+zz@` is refused (550 5.1.1), `carol@` is
    Carol's real inbox."""

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if "+" in address:
            return "550 5.1.1 <carol+zz@example.com>: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        return "250 OK"


def test_drill_a_bouncing_sub_address_leaves_the_base_inbox_mailed(tmp_path: Path) -> None:
    """Drill (issue 21): the sub-address bounces and is suppressed; Carol's base address is
    not: her registration is mailed, its link confirms. (Before: the suppression was keyed
    on the collapsed inbox and `carol@` never got mail again.)"""
    with RefusesTheSubAddress() as sink:
        env = {
            "SMTP_URL": sink.url,
            "SENDER_EMAIL": "no-reply@example.org",
            "OWNER_EMAIL": "owner@example.org",
            "ADDRESS_MIN_INTERVAL_SECONDS": "0",
        }
        app = EmbeddedApp(ServeOptions(data_dir=tmp_path / "data"), env=env)
        try:
            app.intake.register("Carol", "carol+zz@example.com")
            assert app.worker.run_once() == 1
            assert sink.envelopes == []
            assert suppressed(app.store, "carol+zz@example.com") is not None
            assert suppressed(app.store, "carol@example.com") is None

            app.intake.register("Carol", "carol@example.com")
            assert app.worker.run_once() == 1
            assert [to for _, tos in sink.envelopes for to in tos] == ["carol@example.com"]
            (carol,) = [r for r in app.store.registrations() if r.email == "carol@example.com"]
            assert carol.status is Status.PENDING
            token = confirm_link(sink.messages[-1]).split("token=", 1)[1]
            assert app.intake.confirm(token) is Outcome.CONFIRMED
        finally:
            app.close()
