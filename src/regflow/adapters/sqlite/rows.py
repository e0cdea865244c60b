"""How rows map to domain values (shared by the store, the outbox and the operator queries)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

from regflow.domain import Consent, Registration, Status


def iso(moment: datetime) -> str:
    """A stored moment: ISO-8601 UTC with microseconds (sorts as it happened)."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _from_iso(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text).astimezone(UTC)


def registration_of(row: sqlite3.Row) -> Registration:
    """The `Registration` of a `registrations` row (read with `sqlite3.Row`)."""
    timestamp = _from_iso(row["timestamp"])
    assert timestamp is not None
    return Registration(
        id=row["id"],
        name=row["name"],
        email=row["email"],
        status=Status(row["status"]),
        timestamp=timestamp,
        ttl=row["ttl"],
        confirmed_at=_from_iso(row["confirmed_at"]),
        language=row["language"],
        delivery_failure=row["delivery_failure"],
        signup_consent=_consent(row, "signup_consent"),
        confirm_consent=_consent(row, "confirm_consent"),
    )


def _consent(row: sqlite3.Row, column: str) -> Consent | None:
    # `in row.keys()`: a Row iterates its values, not its column names
    return Consent.from_json(row[column]) if column in row.keys() else None  # noqa: SIM118


def consent_json(consent: Consent | None) -> str | None:
    return None if consent is None else consent.to_json()
