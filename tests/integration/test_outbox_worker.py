"""The embedded outbox worker's retry policy, on a real SQLite file: an outage delays mail for as
long as it lasts and never drops it; only a message refused for good is parked as dead."""

from __future__ import annotations

from pathlib import Path

from regflow.adapters.sqlite import SQLiteStore
from regflow.domain import MailDeliveryError, MailKind
from regflow.local.worker import OutboxWorker
from regflow.service import RegistrationService
from regflow.tokens import TokenSigner
from tests.unit.fakes import SECRET, Clock, Ids, RecordingMailer, settings


class SteppedTime:
    """The worker's epoch clock, moved by hand."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def make(tmp_path: Path) -> tuple[SQLiteStore, RecordingMailer, OutboxWorker, SteppedTime]:
    store = SQLiteStore(tmp_path / "regflow.db")
    mailer = RecordingMailer()
    service = RegistrationService(
        store=store,
        settings=settings(),
        signer=TokenSigner(SECRET),
        mailer=mailer,
        clock=Clock(),
        new_id=Ids(),
    )
    service.register("Jane", "jane@example.com")
    now = SteppedTime()
    worker = OutboxWorker(store, service, base_delay=2.0, max_delay=600.0, now=now)
    return store, mailer, worker, now


def test_a_long_outage_delays_mail_and_never_drops_it(tmp_path: Path) -> None:
    store, mailer, worker, now = make(tmp_path)
    mailer.fail_with = MailDeliveryError("server down", transient=True)
    tries = 0
    for _ in range(40):  # 40 failed attempts: hours of outage at the 10-minute cap
        tries += worker.run_once()
        now.now += 721  # past the longest backoff (600 s plus jitter)
    assert tries == 40
    assert store.outbox_counts() == {"pending": 1, "dead": 0, "claimed": 0}
    mailer.fail_with = None
    assert worker.run_once() == 1
    assert [m.subject for m in mailer.sent] == ["Please verify your email address"]
    assert store.outbox_counts() == {"pending": 0, "dead": 0, "claimed": 0}


def test_backoff_grows_and_is_capped(tmp_path: Path) -> None:
    _, _, worker, _ = make(tmp_path)
    for attempts in range(1, 15):
        expected = min(600.0, 2.0 * 2 ** (attempts - 1))
        assert 0.8 * expected <= worker.backoff(attempts) <= 1.2 * expected


def test_a_message_refused_for_good_is_parked_as_dead(tmp_path: Path) -> None:
    store, mailer, worker, now = make(tmp_path)
    mailer.fail_with = MailDeliveryError("mailbox unavailable", transient=False)
    assert worker.run_once() == 1
    now.now += 10_000
    assert worker.run_once() == 0
    [dead] = store.dead_letters()
    assert dead.kind is MailKind.VERIFICATION
    assert store.outbox_counts()["dead"] == 1
