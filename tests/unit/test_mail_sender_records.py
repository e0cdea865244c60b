"""The mail sender's record handling: stream order, partial batch responses, in-process
retries, and what is skipped versus handed back to Lambda. (Which records owe mail:
tests/unit/test_dynamodb_stream.py.)"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from regflow.adapters.dynamodb import registration_item
from regflow.domain import MailDeliveryError, MessageKind, Message, Registration, Status
from regflow.handlers.mail_sender import process

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def reg(n: int, status: Status = Status.PENDING) -> Registration:
    return Registration(
        id=f"{n:022d}",
        name=f"User {n}",
        email=f"user{n}@example.com",
        status=status,
        timestamp=T0,
        ttl=None if status is Status.CONFIRMED else int(T0.timestamp()) + 86400,
        confirmed_at=T0 if status is Status.CONFIRMED else None,
    )


def record(
    name: str, seq: int, *, old: dict | None = None, new: dict | None = None, pk: str | None = None
) -> dict[str, Any]:
    image = new or old or {}
    dyn: dict[str, Any] = {
        "Keys": {"pk": {"S": pk or image["pk"]["S"]}},
        "SequenceNumber": str(seq),
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
    if old is not None:
        dyn["OldImage"] = old
    if new is not None:
        dyn["NewImage"] = new
    return {"eventName": name, "eventSource": "aws:dynamodb", "dynamodb": dyn}


def insert(n: int, seq: int) -> dict[str, Any]:
    return record("INSERT", seq, new=registration_item(reg(n)))


def confirmed(n: int, seq: int) -> dict[str, Any]:
    return record(
        "MODIFY",
        seq,
        old=registration_item(reg(n)),
        new=registration_item(reg(n, Status.CONFIRMED)),
    )


class FakeService:
    """Records deliveries; `script[(kind, n)]` is a list of errors to raise first."""

    def __init__(self, script: dict[tuple[MessageKind, str], list[Exception]] | None = None) -> None:
        self.script = script or {}
        self.sent: list[tuple[MessageKind, str]] = []
        self.attempts = 0

    def deliver(self, entry: Message) -> bool:
        self.attempts += 1
        key = (entry.kind, entry.registration.id)
        errors = self.script.get(key)
        if errors:
            raise errors.pop(0)
        self.sent.append(key)
        return True


def run(records: list[dict[str, Any]], service: FakeService) -> tuple[dict, list[float]]:
    sleeps: list[float] = []
    return process(records, service, sleep=sleeps.append), sleeps  # type: ignore[arg-type]


# --- delivery and the partial batch response ----------------------------------------------------


def test_all_delivered_in_stream_order() -> None:
    service = FakeService()
    response, _ = run([insert(1, 10), insert(2, 11), confirmed(1, 12)], service)
    assert response == {"batchItemFailures": []}
    assert service.sent == [
        (MessageKind.VERIFICATION, reg(1).id),
        (MessageKind.VERIFICATION, reg(2).id),
        (MessageKind.OWNER_NOTIFICATION, reg(1).id),
    ]


def test_transient_errors_are_retried_in_process_with_backoff() -> None:
    flaky = [MailDeliveryError("x", transient=True)] * 2
    service = FakeService({(MessageKind.VERIFICATION, reg(1).id): list(flaky)})
    response, sleeps = run([insert(1, 10)], service)
    assert response == {"batchItemFailures": []}
    assert service.attempts == 3
    assert sleeps == [0.2, 0.4]


def test_first_undeliverable_record_stops_the_batch() -> None:
    down = [MailDeliveryError("x", transient=True)] * 10
    service = FakeService({(MessageKind.VERIFICATION, reg(2).id): down})
    response, _ = run([insert(1, 10), insert(2, 11), insert(3, 12)], service)
    assert response == {"batchItemFailures": [{"itemIdentifier": "11"}]}
    assert service.sent == [(MessageKind.VERIFICATION, reg(1).id)]  # 3 is not sent: no duplicate later


def test_rejected_visitor_address_is_skipped() -> None:
    service = FakeService(
        {(MessageKind.VERIFICATION, reg(1).id): [MailDeliveryError("x", transient=False)]}
    )
    response, sleeps = run([insert(1, 10), insert(2, 11)], service)
    assert response == {"batchItemFailures": []}
    assert service.sent == [(MessageKind.VERIFICATION, reg(2).id)]
    assert sleeps == []  # a permanent error is not retried


def test_owner_notification_is_never_skipped() -> None:
    service = FakeService(
        {(MessageKind.OWNER_NOTIFICATION, reg(1).id): [MailDeliveryError("x", transient=False)]}
    )
    response, _ = run([confirmed(1, 10), insert(2, 11)], service)
    assert response == {"batchItemFailures": [{"itemIdentifier": "10"}]}
    assert service.sent == []


def test_an_unexpected_error_fails_only_from_that_record() -> None:
    service = FakeService({(MessageKind.VERIFICATION, reg(2).id): [RuntimeError("bug")]})
    response, _ = run([insert(1, 10), insert(2, 11), insert(3, 12)], service)
    assert response == {"batchItemFailures": [{"itemIdentifier": "11"}]}
    assert service.sent == [(MessageKind.VERIFICATION, reg(1).id)]


def test_a_malformed_record_is_reported_not_crashing_the_batch() -> None:
    bad = record("INSERT", 11, new={"pk": {"S": "REG#x"}})  # no attributes
    service = FakeService()
    response, _ = run([insert(1, 10), bad, insert(3, 12)], service)
    assert response == {"batchItemFailures": [{"itemIdentifier": "11"}]}
    assert service.sent == [(MessageKind.VERIFICATION, reg(1).id)]
