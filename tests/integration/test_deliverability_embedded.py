"""Embedded parity of deliverability (issue 11): the real `regflow serve` wiring (SQLite,
the outbox worker, SmtpMailer) against a real SMTP server (aiosmtpd) on loopback that refuses
one recipient with 550. The refusal is a hard bounce: the inbox is suppressed, the
registration BOUNCED; later posts for that inbox send nothing and answer like any other."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from regflow.api import HttpApi
from regflow.domain import Status, SuppressionReason, mailbox_key
from regflow.local.server import EmbeddedApp, ServeOptions
from tests.support import events
from tests.support.sqlite import SmtpSink

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

            entry = app.store.suppression(mailbox_key("Dead.User@example.com"))
            assert entry is not None
            assert entry.reason is SuppressionReason.REFUSED
            assert entry.diagnostic == ("SMTP554" if at_data else "SMTP550")
            (dead,) = [r for r in app.store.registrations() if r.email == DEAD]
            assert dead.status is Status.BOUNCED

            api = HttpApi(app.intake, app.settings.http)  # what the gateway calls
            # three more posts for the same inbox (sub-address variants): the same answer as
            # a post for a fresh address, and nothing reaches the SMTP server
            for n, variant in enumerate([DEAD, "dead.user@example.com", "Dead.User+x@example.com"]):
                got = api.register(
                    events.json_post("/register", {"name": "Dead", "email": variant})
                )
                fresh = api.register(
                    events.json_post("/register", {"name": "New", "email": f"new{n}@example.com"})
                )
                assert got == fresh
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
