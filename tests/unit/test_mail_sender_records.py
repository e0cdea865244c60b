"""The mail sender's record handling: which stream records owe mail, stream order, partial
batch responses, in-process retries, and what is skipped versus handed back to Lambda."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from regflow.adapters.dynamodb import registration_item
from regflow.domain import MailDeliveryError, MailKind, OutboxEntry, Registration, Status
from regflow.handlers.mail_sender import FILTER_PATTERNS, entry_from_record, process
from tests.support.aws import matches_any

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
    name: str,
    seq: int,
    *,
    old: dict[str, Any] | None = None,
    new: dict[str, Any] | None = None,
    pk: str | None = None,
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

    def __init__(self, script: dict[tuple[MailKind, str], list[Exception]] | None = None) -> None:
        self.script = script or {}
        self.sent: list[tuple[MailKind, str]] = []
        self.attempts = 0

    def deliver(self, entry: OutboxEntry) -> bool:
        self.attempts += 1
        key = (entry.kind, entry.registration.id)
        errors = self.script.get(key)
        if errors:
            raise errors.pop(0)
        self.sent.append(key)
        return True


def run(
    records: list[dict[str, Any]], service: FakeService
) -> tuple[dict[str, list[dict[str, str]]], list[float]]:
    sleeps: list[float] = []
    return process(records, service, sleep=sleeps.append), sleeps  # type: ignore[arg-type]


# --- which records owe mail -------------------------------------------------------------------


def test_insert_of_a_registration_owes_its_verification() -> None:
    entry = entry_from_record(insert(1, 100))
    assert entry == OutboxEntry(MailKind.VERIFICATION, reg(1))


def test_pending_to_confirmed_owes_the_owner_notification() -> None:
    entry = entry_from_record(confirmed(1, 100))
    assert entry == OutboxEntry(MailKind.OWNER_NOTIFICATION, reg(1, Status.CONFIRMED))


@pytest.mark.parametrize(
    "rec",
    [
        record("INSERT", 1, new={"pk": {"S": "LIMIT#ADDR#ab"}, "count": {"N": "1"}}),
        record("INSERT", 1, new={"pk": {"S": "ADDR#ab"}, "confirmedId": {"S": "x"}}),
        record(
            "MODIFY",
            1,
            old=registration_item(reg(1, Status.CONFIRMED)),
            new=registration_item(reg(1, Status.CONFIRMED)),
        ),
        record("MODIFY", 1, old=registration_item(reg(1)), new=registration_item(reg(1))),
        record("REMOVE", 1, old=registration_item(reg(1))),  # TTL deleted an expired one
        record("REMOVE", 1, old={"pk": {"S": "LIMIT#IP#1.2.3.4"}}),
    ],
)
def test_other_records_owe_nothing_and_the_filter_drops_them(rec: dict[str, Any]) -> None:
    assert entry_from_record(rec) is None
    assert not matches_any(FILTER_PATTERNS, rec)


def test_the_filter_passes_the_records_that_owe_mail() -> None:
    assert matches_any(FILTER_PATTERNS, insert(1, 1))
    assert matches_any(FILTER_PATTERNS, confirmed(1, 2))


# --- delivery and the partial batch response ----------------------------------------------------


def test_all_delivered_in_stream_order() -> None:
    service = FakeService()
    response, _ = run([insert(1, 10), insert(2, 11), confirmed(1, 12)], service)
    assert response == {"batchItemFailures": []}
    assert service.sent == [
        (MailKind.VERIFICATION, reg(1).id),
        (MailKind.VERIFICATION, reg(2).id),
        (MailKind.OWNER_NOTIFICATION, reg(1).id),
    ]


def test_transient_errors_are_retried_in_process_with_backoff() -> None:
    flaky = [MailDeliveryError("x", transient=True)] * 2
    service = FakeService({(MailKind.VERIFICATION, reg(1).id): list(flaky)})
    response, sleeps = run([insert(1, 10)], service)
    assert response == {"batchItemFailures": []}
    assert service.attempts == 3
    assert sleeps == [0.2, 0.4]


def test_first_undeliverable_record_stops_the_batch() -> None:
    down: list[Exception] = [MailDeliveryError("x", transient=True)] * 10
    service = FakeService({(MailKind.VERIFICATION, reg(2).id): down})
    response, _ = run([insert(1, 10), insert(2, 11), insert(3, 12)], service)
    assert response == {"batchItemFailures": [{"itemIdentifier": "11"}]}
    assert service.sent == [(MailKind.VERIFICATION, reg(1).id)]  # 3 is not sent: no duplicate later


def test_rejected_visitor_address_is_skipped() -> None:
    service = FakeService(
        {(MailKind.VERIFICATION, reg(1).id): [MailDeliveryError("x", transient=False)]}
    )
    response, sleeps = run([insert(1, 10), insert(2, 11)], service)
    assert response == {"batchItemFailures": []}
    assert service.sent == [(MailKind.VERIFICATION, reg(2).id)]
    assert sleeps == []  # a permanent error is not retried


def test_owner_notification_is_never_skipped() -> None:
    service = FakeService(
        {(MailKind.OWNER_NOTIFICATION, reg(1).id): [MailDeliveryError("x", transient=False)]}
    )
    response, _ = run([confirmed(1, 10), insert(2, 11)], service)
    assert response == {"batchItemFailures": [{"itemIdentifier": "10"}]}
    assert service.sent == []


def test_an_unexpected_error_fails_only_from_that_record() -> None:
    service = FakeService({(MailKind.VERIFICATION, reg(2).id): [RuntimeError("bug")]})
    response, _ = run([insert(1, 10), insert(2, 11), insert(3, 12)], service)
    assert response == {"batchItemFailures": [{"itemIdentifier": "11"}]}
    assert service.sent == [(MailKind.VERIFICATION, reg(1).id)]


def test_a_malformed_record_is_reported_not_crashing_the_batch() -> None:
    bad = record("INSERT", 11, new={"pk": {"S": "REG#x"}})  # no attributes
    service = FakeService()
    response, _ = run([insert(1, 10), bad, insert(3, 12)], service)
    assert response == {"batchItemFailures": [{"itemIdentifier": "11"}]}
    assert service.sent == [(MailKind.VERIFICATION, reg(1).id)]
