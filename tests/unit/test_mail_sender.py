"""The AWS mail sender's record handling under the delivery policy: stream order, quick
retries in process, parking and dropping in the outbox, partial batch responses only when a
record cannot be handled at all. (Which records owe messages: test_dynamodb_stream.py.)"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from regflow.adapters.dynamodb import registration_item
from regflow.adapters.memory import MemoryStore
from regflow.aws.mail_sender import MIN_REMAINING_MS, process
from regflow.delivery import DeliveryService
from regflow.domain import (
    Channel,
    DeliveryError,
    Email,
    FailureClass,
    Limit,
    Registration,
    Status,
)
from regflow.tokens import TokenSigner
from tests.unit.fakes import SECRET, Clock, settings

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
NO_LIMIT = Limit(max_count=0, window_seconds=3600)


class ScriptedMailer:
    """Sends, unless `errors[recipient]` still holds errors to raise first."""

    def __init__(self) -> None:
        self.errors: dict[str, list[DeliveryError]] = {}
        self.sent: list[Email] = []
        self.calls = 0

    def send(self, email: Email) -> None:
        self.calls += 1
        queue = self.errors.get(email.to)
        if queue:
            raise queue.pop(0)
        self.sent.append(email)


class Harness:
    def __init__(self) -> None:
        self.store = MemoryStore()
        self.mailer = ScriptedMailer()
        self.now = T0.timestamp()
        self.delivery = DeliveryService(
            store=self.store,
            outbox=self.store,
            settings=settings().mail,
            signer=TokenSigner(SECRET),
            channels={Channel.EMAIL: self.mailer},
            clock=Clock(T0),
            now=lambda: self.now,
        )
        self.sleeps: list[float] = []

    def reg(self, n: int) -> Registration:
        r = Registration(
            id=f"{n:022d}",
            name=f"User {n}",
            email=f"user{n}@example.com",
            status=Status.PENDING,
            timestamp=T0,
            ttl=int((T0 + timedelta(hours=24)).timestamp()),
        )
        if self.store.get(r.id) is None:
            self.store.create_pending(
                r, address_limit=NO_LIMIT, client_key=None, client_limit=NO_LIMIT
            )
        return r

    def run(
        self, records: list[dict[str, Any]], remaining_ms: Callable[[], int] | None = None
    ) -> dict[str, list[dict[str, str]]]:
        return process(records, self.delivery, remaining_ms=remaining_ms, sleep=self.sleeps.append)

    def fail(self, n: int, *errors: DeliveryError) -> None:
        self.mailer.errors[f"user{n}@example.com"] = list(errors)


def record(name: str, seq: int, *, old: Any = None, new: Any = None) -> dict[str, Any]:
    image = new or old
    dyn: dict[str, Any] = {
        "Keys": {"pk": image["pk"]},
        "SequenceNumber": str(seq),
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
    if old is not None:
        dyn["OldImage"] = old
    if new is not None:
        dyn["NewImage"] = new
    return {"eventName": name, "eventSource": "aws:dynamodb", "dynamodb": dyn}


def insert(h: Harness, n: int, seq: int) -> dict[str, Any]:
    return record("INSERT", seq, new=registration_item(h.reg(n)))


def transient() -> DeliveryError:
    return DeliveryError("throttled", failure=FailureClass.TRANSIENT, code="Throttling")


def test_all_delivered_in_stream_order() -> None:
    h = Harness()
    response = h.run([insert(h, 1, 10), insert(h, 2, 11), insert(h, 3, 12)])
    assert response == {"batchItemFailures": []}
    assert [m.to for m in h.mailer.sent] == [f"user{n}@example.com" for n in (1, 2, 3)]
    assert h.sleeps == []


def test_transient_errors_are_retried_in_process_with_backoff() -> None:
    h = Harness()
    h.fail(1, transient(), transient())
    assert h.run([insert(h, 1, 10)]) == {"batchItemFailures": []}
    assert len(h.mailer.sent) == 1
    assert h.mailer.calls == 3  # no SDK retries on top: exactly the policy's attempts
    assert len(h.sleeps) == 2
    assert 1.6 <= h.sleeps[0] <= 2.4 and 3.2 <= h.sleeps[1] <= 4.8


def test_a_lasting_outage_parks_the_message_and_the_batch_goes_on() -> None:
    h = Harness()
    h.fail(1, *(transient() for _ in range(5)))
    response = h.run([insert(h, 1, 10), insert(h, 2, 11)])
    assert response == {"batchItemFailures": []}
    assert [m.to for m in h.mailer.sent] == ["user2@example.com"]
    [parked] = h.store.parked()
    assert parked.message.registration.id == h.reg(1).id
    assert parked.attempts == h.delivery.policy.quick_attempts
    assert parked.next_attempt_at is not None and parked.next_attempt_at > h.now


def test_an_account_refusal_parks_at_once() -> None:
    h = Harness()
    h.fail(1, DeliveryError("not verified", failure=FailureClass.ACCOUNT, code="MessageRejected"))
    assert h.run([insert(h, 1, 10)]) == {"batchItemFailures": []}
    assert h.sleeps == [] and h.mailer.calls == 1
    [parked] = h.store.parked()
    assert parked.last_error == "MessageRejected"


def test_a_refused_visitor_address_is_dropped_and_recorded() -> None:
    h = Harness()
    h.fail(1, DeliveryError("bad address", failure=FailureClass.RECIPIENT, code="BadRequest"))
    assert h.run([insert(h, 1, 10), insert(h, 2, 11)]) == {"batchItemFailures": []}
    assert h.store.parked() == []
    current = h.store.get(h.reg(1).id)
    assert current is not None and current.delivery_failure == "BadRequest"
    assert [m.to for m in h.mailer.sent] == ["user2@example.com"]


def test_a_refused_owner_address_is_parked_never_dropped() -> None:
    h = Harness()
    r = h.reg(1)
    owner = settings().mail.owner_email
    h.mailer.errors[owner] = [DeliveryError("no such user", failure=FailureClass.RECIPIENT)]
    h.store.confirm(r.id, r.addr_key, T0)
    confirmed = h.store.get(r.id)
    assert confirmed is not None
    rec = record("MODIFY", 20, old=registration_item(r), new=registration_item(confirmed))
    assert h.run([rec]) == {"batchItemFailures": []}
    [parked] = h.store.parked()
    assert parked.message.registration.status is Status.CONFIRMED


def test_no_time_to_wait_parks_instead_of_sleeping() -> None:
    h = Harness()
    h.fail(1, transient())
    left = MIN_REMAINING_MS + 5_000  # 5 s left: less than a backoff and its margin
    assert h.run([insert(h, 1, 10)], remaining_ms=lambda: left) == {"batchItemFailures": []}
    assert h.sleeps == []
    assert len(h.store.parked()) == 1


def test_out_of_time_stops_before_the_next_record() -> None:
    h = Harness()
    times = iter([60_000, MIN_REMAINING_MS - 1])
    response = h.run([insert(h, 1, 10), insert(h, 2, 11)], remaining_ms=lambda: next(times))
    assert response == {"batchItemFailures": [{"itemIdentifier": "11"}]}
    assert [m.to for m in h.mailer.sent] == ["user1@example.com"]


def test_when_parking_fails_the_batch_is_retried_from_that_record(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    h = Harness()
    h.fail(2, DeliveryError("paused", failure=FailureClass.ACCOUNT))

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("table unavailable")

    monkeypatch.setattr(h.store, "park", broken)
    response = h.run([insert(h, 1, 10), insert(h, 2, 11), insert(h, 3, 12)])
    assert response == {"batchItemFailures": [{"itemIdentifier": "11"}]}
    assert [m.to for m in h.mailer.sent] == ["user1@example.com"]  # 3 waits: no reordering


def test_a_malformed_record_is_reported_not_crashing_the_batch() -> None:
    h = Harness()
    bad = {
        "eventName": "INSERT",
        "dynamodb": {"Keys": {"pk": {"S": "REG#x"}}, "SequenceNumber": "7", "NewImage": {"pk": {}}},
    }
    assert h.run([insert(h, 1, 6), bad, insert(h, 2, 8)]) == {
        "batchItemFailures": [{"itemIdentifier": "7"}]
    }
