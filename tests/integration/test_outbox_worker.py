"""The embedded outbox worker under the delivery policy, on a real SQLite file: an outage delays
mail for as long as it lasts and never drops it; an account-level refusal parks the message
(still retried); only a final refusal of the visitor's own address drops it, recorded."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from regflow.adapters.sqlite import SQLiteStore
from regflow.delivery import DeliveryService
from regflow.domain import Channel, DeliveryError, FailureClass, MessageKind, Outcome
from regflow.intake import IntakeService
from regflow.local.worker import PURGE_GRACE_SECONDS, OutboxWorker
from regflow.tokens import TokenSigner
from tests.unit.fakes import SECRET, Clock, Ids, RecordingMailer, settings


class SteppedTime:
    """The worker's epoch clock, moved by hand."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class Setup:
    def __init__(self, tmp_path: Path, **env: str) -> None:
        config = settings(**env)
        self.store = SQLiteStore(tmp_path / "regflow.db")
        self.mailer = RecordingMailer()
        self.clock = Clock()
        self.now = SteppedTime()
        signer = TokenSigner(SECRET)
        self.intake = IntakeService(
            store=self.store, rules=config.rules, signer=signer, clock=self.clock, new_id=Ids()
        )
        self.delivery = DeliveryService(
            store=self.store,
            outbox=self.store,
            settings=config.mail,
            signer=signer,
            channels={Channel.EMAIL: self.mailer},
            clock=self.clock,
            now=self.now,
        )
        self.worker = OutboxWorker(self.store, self.delivery, now=self.now)
        self.intake.register("Jane", "jane@example.com")


def test_a_long_outage_delays_mail_and_never_drops_it(tmp_path: Path) -> None:
    s = Setup(tmp_path)
    s.mailer.fail_with = DeliveryError("server down", failure=FailureClass.TRANSIENT)
    tries = 0
    for _ in range(40):  # 40 failed attempts: well over a day of outage at the one-hour cap
        tries += s.worker.run_once()
        s.now.now += 3600 * 1.2 + 1  # past the longest backoff (one hour plus jitter)
    assert tries == 40
    [parked] = s.store.parked()  # after the quick retries it waits parked, still retried
    assert parked.next_attempt_at is not None
    assert s.store.stats().outbox_parked == 1
    s.mailer.fail_with = None
    assert s.worker.run_once() == 1
    assert [m.subject for m in s.mailer.sent] == ["Please verify your email address"]
    assert s.store.parked() == []
    assert s.store.stats().outbox_due == 0


def test_quick_retries_then_parked(tmp_path: Path) -> None:
    s = Setup(tmp_path)
    s.mailer.fail_with = DeliveryError("busy", failure=FailureClass.TRANSIENT)
    policy = s.delivery.policy
    for _ in range(policy.quick_attempts - 1):
        assert s.worker.run_once() == 1
        assert s.store.parked() == []
        s.now.now += 60
    assert s.worker.run_once() == 1
    [parked] = s.store.parked()
    assert parked.attempts == policy.quick_attempts


def test_an_account_refusal_is_parked_at_once_and_sent_once_fixed(tmp_path: Path) -> None:
    s = Setup(tmp_path)
    s.mailer.fail_with = DeliveryError(
        "sender not verified", failure=FailureClass.ACCOUNT, code="MessageRejected"
    )
    assert s.worker.run_once() == 1
    [parked] = s.store.parked()
    assert (parked.message.kind, parked.last_error) == (MessageKind.VERIFICATION, "MessageRejected")
    s.mailer.fail_with = None
    s.now.now += 1  # before its next automatic attempt
    assert s.worker.run_once() == 0
    s.now.now += 3600 * 1.2
    assert s.worker.run_once() == 1
    assert len(s.mailer.sent) == 1
    assert s.store.parked() == []


def test_a_final_refusal_of_the_visitor_is_dropped_and_recorded(tmp_path: Path) -> None:
    s = Setup(tmp_path)
    s.mailer.fail_with = DeliveryError(
        "no such mailbox", failure=FailureClass.RECIPIENT, code="SMTP550"
    )
    assert s.worker.run_once() == 1
    s.now.now += 100_000
    assert s.worker.run_once() == 0
    assert s.store.parked() == []
    [reg] = list(s.store.registrations())
    assert reg.delivery_failure == "SMTP550"


def test_a_refused_owner_address_is_parked_never_dropped(tmp_path: Path) -> None:
    s = Setup(tmp_path)
    [claimed] = s.store.claim_due(s.now(), 10)
    token = s.delivery.signer.issue(
        claimed.message.registration.id, claimed.message.registration.addr_key
    )
    s.store.complete(claimed)
    assert s.intake.confirm(token) is Outcome.CONFIRMED
    s.mailer.fail_with = DeliveryError("no such user", failure=FailureClass.RECIPIENT)
    assert s.worker.run_once() == 1
    [parked] = s.store.parked()
    assert parked.message.kind is MessageKind.OWNER_NOTIFICATION


def test_expired_links_answer_expired_for_a_week_before_their_rows_go(tmp_path: Path) -> None:
    s = Setup(tmp_path)
    [claimed] = s.store.claim_due(s.clock().timestamp(), 10)  # sent at once
    s.store.complete(claimed)
    reg = claimed.message.registration
    assert reg.ttl is not None
    s.clock.advance(hours=25)
    s.worker._next_purge = 0.0
    s.worker._purge()
    assert s.store.confirm(reg.id, reg.addr_key, s.clock()) is Outcome.EXPIRED
    s.clock.advance(seconds=PURGE_GRACE_SECONDS)
    s.worker._next_purge = 0.0
    s.worker._purge()
    assert s.store.get(reg.id) is None
    assert (
        s.store.confirm(reg.id, reg.addr_key, s.clock() + timedelta(seconds=1)) is Outcome.INVALID
    )
