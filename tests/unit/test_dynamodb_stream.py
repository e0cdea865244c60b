"""What the table's stream says is owed (`regflow.adapters.dynamodb.stream`): which records
owe which message, and the event source mapping's filter that drops the others first."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from regflow.adapters.dynamodb import (
    FILTER_PATTERNS,
    message_from_record,
    registration_item,
)
from regflow.adapters.dynamodb.keys import message_attributes
from regflow.domain import Message, MessageKind, Registration, Status
from tests.support.aws import load_template, matches_any

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
        language="fr",
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


def parked(registration: Registration, kind: MessageKind) -> dict[str, Any]:
    return {
        "pk": {"S": f"OUTBOX#{kind.value}#{registration.id}"},
        **message_attributes(Message(kind, registration)),
        "attempts": {"N": "1"},
    }


def test_insert_of_a_registration_owes_its_verification() -> None:
    message = message_from_record(insert(1, 100))
    assert message == Message(MessageKind.VERIFICATION, reg(1))
    assert message.registration.language == "fr"


def test_pending_to_confirmed_owes_the_owner_notification() -> None:
    message = message_from_record(confirmed(1, 100))
    assert message == Message(MessageKind.OWNER_NOTIFICATION, reg(1, Status.CONFIRMED))


def test_an_item_older_than_language_is_read_as_english() -> None:
    item = registration_item(reg(1))
    del item["language"]
    message = message_from_record(record("INSERT", 1, new=item))
    assert message is not None and message.registration.language == "en"


@pytest.mark.parametrize(
    "rec",
    [
        record("INSERT", 1, new={"pk": {"S": "LIMIT#ADDR#ab"}, "sends": {"L": [{"N": "1"}]}}),
        record("INSERT", 1, new={"pk": {"S": "ADDR#ab"}, "confirmedId": {"S": "x"}}),
        record(
            "MODIFY",
            1,
            old=registration_item(reg(1, Status.CONFIRMED)),
            new=registration_item(reg(1, Status.CONFIRMED)),
        ),
        record("MODIFY", 1, old=registration_item(reg(1)), new=registration_item(reg(1))),
        # a dropped message recorded on its registration
        record(
            "MODIFY",
            1,
            old=registration_item(reg(1)),
            new=registration_item(dataclasses.replace(reg(1), delivery_failure="Bounce")),
        ),
        record("REMOVE", 1, old=registration_item(reg(1))),  # TTL deleted an expired one
        record("REMOVE", 1, old={"pk": {"S": "LIMIT#IP#1.2.3.4"}}),
        # parked messages: parked, parked again with a newer snapshot, settled
        record("INSERT", 1, new=parked(reg(1), MessageKind.VERIFICATION)),
        record(
            "MODIFY",
            1,
            old=parked(reg(1), MessageKind.OWNER_NOTIFICATION),
            new=parked(reg(1, Status.CONFIRMED), MessageKind.OWNER_NOTIFICATION),
        ),
        record("REMOVE", 1, old=parked(reg(1), MessageKind.VERIFICATION)),
    ],
)
def test_other_records_owe_nothing_and_the_filter_drops_them(rec: dict[str, Any]) -> None:
    assert message_from_record(rec) is None
    assert not matches_any(FILTER_PATTERNS, rec)


def test_the_filter_passes_the_records_that_owe_mail() -> None:
    assert matches_any(FILTER_PATTERNS, insert(1, 1))
    assert matches_any(FILTER_PATTERNS, confirmed(1, 2))


def test_the_filter_is_the_event_source_mappings() -> None:
    mapping = load_template()["Resources"]["MailSender"]["Properties"]["Events"]["Outbox"]
    filters = mapping["Properties"]["FilterCriteria"]["Filters"]
    assert [json.loads(f["Pattern"]) for f in filters] == [dict(p) for p in FILTER_PATTERNS]
