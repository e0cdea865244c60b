"""Drill (issue 21): a 3-day mail setup error, then fixed, unattended: one working link in
the inbox, on both runtimes. Embedded: SQLite, the outbox worker and `SmtpMailer` against a
real SMTP server (aiosmtpd) that refuses the sender for three days. AWS: the DynamoDB store
(moto) and `SesMailer` on moto's SES with the sender unverified for three days, retried by
the scheduled recovery. Expiry counts from when the mail goes out (`regflow.domain.expiry`):
before, the recovery found the registration expired and marked its mail "not needed"."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from regflow.delivery import DeliveryService
from regflow.domain import Channel, Outcome
from regflow.intake import IntakeService
from regflow.tokens import TokenSigner
from tests.support.sqlite import SmtpSink, confirm_link
from tests.unit.fakes import SECRET, Ids, settings

DAY = 24 * 3600
TOKEN_RE = r"/confirm\?token=([A-Za-z0-9_-]+)"


class Time:
    """One hand-moved clock for everything: the epoch the outbox uses and the datetime the
    intake and the sender judge expiry by."""

    def __init__(self) -> None:
        self.epoch = datetime(2026, 11, 26, 12, tzinfo=UTC).timestamp()

    def __call__(self) -> float:
        return self.epoch

    def moment(self) -> datetime:
        return datetime.fromtimestamp(self.epoch, UTC)


class RefusesForAWhile(SmtpSink):
    """A relay that answers 451 (try later) to every sender while `down`."""

    down = True

    def __enter__(self) -> RefusesForAWhile:
        super().__enter__()
        return self

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if self.down:
            return "451 4.3.0 <no-reply@example.org>: Temporary lookup failure"
        envelope.mail_from = address
        return "250 OK"


def test_drill_a_three_day_smtp_outage_then_one_working_link(tmp_path: Path) -> None:
    from regflow.adapters.smtp import SmtpMailer
    from regflow.adapters.sqlite import SQLiteStore
    from regflow.local.worker import OutboxWorker

    t = Time()
    with RefusesForAWhile() as sink:
        config = settings(SMTP_URL=sink.url)
        store = SQLiteStore(tmp_path / "regflow.db")
        try:
            store.verification_life_seconds = config.rules.token_ttl_hours * 3600
            signer = TokenSigner(SECRET)
            intake = IntakeService(
                store=store, rules=config.rules, signer=signer, clock=t.moment, new_id=Ids()
            )
            delivery = DeliveryService(
                store=store,
                outbox=store,
                settings=config.mail,
                signer=signer,
                channels={Channel.EMAIL: SmtpMailer.from_url(sink.url)},
                clock=t.moment,
                now=t,
            )
            worker = OutboxWorker(store, delivery, now=t)
            intake.register("Jane", "jane@example.com")
            start = t.epoch
            while t.epoch < start + 3 * DAY:  # the worker runs all along, unattended
                worker.run_once()
                store.purge_expired(t.moment())
                t.epoch += 1800
            assert sink.messages == []
            sink.down = False  # the operator fixes the relay
            while not sink.messages and t.epoch < start + 4 * DAY:
                worker.run_once()
                t.epoch += 600
            (mail,) = sink.messages
            token = confirm_link(mail).split("token=", 1)[1]
            t.epoch += DAY - 3600  # nearly a day after the send: the link still works
            assert intake.confirm(token) is Outcome.CONFIRMED
        finally:
            store.close()


def test_drill_a_three_day_ses_setup_error_then_one_working_link() -> None:
    import boto3

    from regflow.adapters.ses import SesMailer
    from regflow.aws import recovery
    from tests.support.aws import REGION, dynamodb_store, sent_mail

    t = Time()
    config = settings()
    with dynamodb_store() as store:
        store.verification_life_seconds = config.rules.token_ttl_hours * 3600
        ses = boto3.client("sesv2", region_name=REGION)  # the sender is not verified yet
        signer = TokenSigner(SECRET)
        intake = IntakeService(
            store=store, rules=config.rules, signer=signer, clock=t.moment, new_id=Ids()
        )
        delivery = DeliveryService(
            store=store,
            outbox=store,
            settings=config.mail,
            signer=signer,
            channels={Channel.EMAIL: SesMailer(ses)},
            clock=t.moment,
            now=t,
        )
        intake.register("Jane", "jane@example.com")
        (rid,) = [r.id for r in store.registrations()]
        fresh = store.get(rid)
        assert fresh is not None
        from regflow.domain import Message, MessageKind

        # the stream hands the fresh message to the mail sender: MessageRejected, parked
        delivery.deliver_fresh(Message(MessageKind.VERIFICATION, fresh), sleep=lambda _: None)
        assert len(store.parked()) == 1
        start = t.epoch
        while t.epoch < start + 3 * DAY:  # the scheduled recovery, unattended
            recovery.recover(delivery, store, now=t)
            t.epoch += 1800
        before = len(sent_mail())
        ses.create_email_identity(EmailIdentity="example.org")  # the operator fixes it
        while len(sent_mail()) == before and t.epoch < start + 4 * DAY:
            recovery.recover(delivery, store, now=t)
            t.epoch += 600
        mails = sent_mail()[before:]
        assert [m.to for m in mails] == [["jane@example.com"]]
        match = re.search(TOKEN_RE, mails[0].text)
        assert match is not None
        t.epoch += DAY - 3600
        assert intake.confirm(match.group(1)) is Outcome.CONFIRMED
