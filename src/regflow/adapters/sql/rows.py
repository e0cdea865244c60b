"""How rows map to domain values (shared by the store, the outbox and the queries)."""

from __future__ import annotations

from typing import Any

from regflow.adapters.sql.dialect import Dialect, Row
from regflow.domain import Consent, Registration, Status

REGISTRATION_COLUMNS = (
    'id, addr_key, name, email, status, "timestamp", ttl, confirmed_at, language,'
    " delivery_failure, signup_consent, confirm_consent"
)


def registration_of(row: Row, dialect: Dialect) -> Registration:
    """The `Registration` of a `registrations` row."""
    return Registration(
        id=row["id"],
        name=row["name"],
        email=row["email"],
        status=Status(row["status"]),
        timestamp=dialect.from_moment(row["timestamp"]),
        ttl=row["ttl"],
        confirmed_at=dialect.maybe_moment(row["confirmed_at"]),
        language=row["language"],
        delivery_failure=row["delivery_failure"],
        signup_consent=Consent.from_json(row["signup_consent"]),
        confirm_consent=Consent.from_json(row["confirm_consent"]),
    )


def registration_params(r: Registration, dialect: Dialect) -> tuple[Any, ...]:
    """The values of `REGISTRATION_COLUMNS` for `r`, in order."""
    return (
        r.id,
        r.addr_key,
        r.name,
        r.email,
        r.status.value,
        dialect.moment(r.timestamp),
        r.ttl,
        None if r.confirmed_at is None else dialect.moment(r.confirmed_at),
        r.language,
        r.delivery_failure,
        consent_json(r.signup_consent),
        consent_json(r.confirm_consent),
    )


def consent_json(consent: Consent | None) -> str | None:
    return None if consent is None else consent.to_json()
