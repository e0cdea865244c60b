"""How rows map to domain values (shared by the store, the outbox and the operator queries)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from regflow.domain import Consent, Registration, Status

REGISTRATION_COLUMNS = (
    "id, addr_key, name, email, status, timestamp, ttl, confirmed_at, language, delivery_failure,"
    " signup_consent, confirm_consent"
)


def _utc(moment: datetime | None) -> datetime | None:
    return None if moment is None else moment.astimezone(UTC)


def registration_of(row: Mapping[str, Any]) -> Registration:
    """The `Registration` of a `registrations` row (read with `dict_row`)."""
    timestamp = _utc(row["timestamp"])
    assert timestamp is not None
    return Registration(
        id=row["id"],
        name=row["name"],
        email=row["email"],
        status=Status(row["status"]),
        timestamp=timestamp,
        ttl=row["ttl"],
        confirmed_at=_utc(row["confirmed_at"]),
        language=row["language"],
        delivery_failure=row["delivery_failure"],
        signup_consent=Consent.from_json(row.get("signup_consent")),
        confirm_consent=Consent.from_json(row.get("confirm_consent")),
    )


def registration_params(r: Registration) -> tuple[Any, ...]:
    """The values of `REGISTRATION_COLUMNS` for `r`, in order."""
    return (
        r.id,
        r.addr_key,
        r.name,
        r.email,
        r.status.value,
        r.timestamp,
        r.ttl,
        r.confirmed_at,
        r.language,
        r.delivery_failure,
        None if r.signup_consent is None else r.signup_consent.to_json(),
        None if r.confirm_consent is None else r.confirm_consent.to_json(),
    )
