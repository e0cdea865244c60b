"""The embedded outbox worker's retry policy, on a real SQLite file: an outage delays mail for as
long as it lasts and never drops it; only a message refused for good is parked as dead."""

from __future__ import annotations

from pathlib import Path

from regflow.adapters.sqlite import SQLiteStore
from regflow.domain import MailDeliveryError, MessageKind
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
    assert dead.kind is MessageKind.VERIFICATION
    assert store.outbox_counts()["dead"] == 1


def test_a_claim_that_was_never_settled_is_released_after_its_lease(tmp_path: Path) -> None:
    store, _, _, now = make(tmp_path)
    [row] = store.claim_due(now.now)  # a sender claimed it, then could not record the outcome
    assert store.claim_due(now.now + 599) == []
    [again] = store.claim_due(now.now + 601)
    assert again.row_id == row.row_id
    assert again.attempts == row.attempts + 1


def test_expired_links_answer_expired_for_a_week_before_their_rows_go(tmp_path: Path) -> None:
    from datetime import timedelta

    from regflow.domain import Outcome
    from regflow.local.worker import PURGE_GRACE_SECONDS

    store, _, worker, _ = make(tmp_path)
    [row] = store.claim_due(1e12)
    reg = row.entry.registration
    assert reg.ttl is not None
    clock = worker.service.clock
    assert isinstance(clock, Clock)
    clock.advance(hours=25)
    worker._next_purge = 0.0
    worker._purge()
    assert store.confirm(reg.id, reg.addr_key, clock()) is Outcome.EXPIRED
    clock.advance(seconds=PURGE_GRACE_SECONDS)
    worker._next_purge = 0.0
    worker._purge()
    assert store.get(reg.id) is None
    assert store.confirm(reg.id, reg.addr_key, clock() + timedelta(seconds=1)) is Outcome.INVALID
