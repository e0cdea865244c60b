"""The JSON snapshot of a registration that an owed message outlives (an erasure's notice and
events, the owner digest's stand-in), shared by the SQL outboxes (SQLite, PostgreSQL): their
`outbox.snapshot` column."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from regflow.domain import Registration, Status


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat(timespec="microseconds")


def _moment(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text).astimezone(UTC)


def snapshot_of(registration: Registration) -> str:
    return json.dumps(
        {
            "id": registration.id,
            "name": registration.name,
            "email": registration.email,
            "status": registration.status.value,
            "timestamp": _iso(registration.timestamp),
            "confirmed_at": _iso(registration.confirmed_at),
            "language": registration.language,
        }
    )


def registration_of_snapshot(text: str) -> Registration:
    data = json.loads(text)
    timestamp = _moment(data["timestamp"])
    assert timestamp is not None
    return Registration(
        id=data["id"],
        name=data["name"],
        email=data["email"],
        status=Status(data["status"]),
        timestamp=timestamp,
        ttl=None,
        confirmed_at=_moment(data["confirmed_at"]),
        language=data["language"],
    )
