"""The ports the domain talks through. Adapters live in `regflow.adapters`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from regflow.domain import CreateResult, Email, Limit, Outcome, Registration

Clock = Callable[[], datetime]
"""Returns the current time, timezone-aware UTC."""

IdFactory = Callable[[], str]
"""Returns a fresh registration id (at least 128 random bits, URL-safe)."""


class RegistrationStore(Protocol):
    """Durable state: registrations, the one-confirmed-per-address lock, limit counters, and
    the outbox (the mail each state change owes, written in the same atomic step).

    Every adapter passes `tests/contract/test_store_contract.py`.
    """

    def create_pending(
        self,
        registration: Registration,
        *,
        address_limit: Limit,
        client_key: str | None,
        client_limit: Limit,
    ) -> CreateResult:
        """Atomically: check both limits, count the event in both, store `registration`
        (PENDING) and owe its verification mail. All or nothing.

        The address limit (keyed by `registration.addr_key`) is exact over any rolling
        window: the event is allowed when the address's last counted event is at least
        `min_interval_seconds` old and fewer than `max_count` of its counted events lie in
        `(now - window_seconds, now]` (a sliding log, `domain.SendLog`). The client limit
        (keyed by `client_key`, skipped when None) is a fixed window (`domain.LimitState`):
        at most `max_count` events from the window's first event until `window_seconds`
        later, then a fresh window. The client limit counts every post it allows, a post the
        address limit refuses included (or counting posts would tell a limited address).

        Raises `ClientRateLimited` when the client limit says no (nothing written); returns
        `ADDRESS_LIMITED` when the address limit says no (only the client counted). The limits are
        judged at `registration.timestamp`. Raises `StoreUnavailable` when the store throttles
        or is down (nothing written)."""
        ...

    def confirm(self, registration_id: str, addr_key: str, now: datetime) -> Outcome:
        """In one atomic conditional step: a PENDING registration with this id and address
        whose ttl is after `now`, for an address with no confirmed registration yet, becomes
        CONFIRMED (ttl removed, confirmed_at = now), the address is locked to it, and the owner
        notification is owed. Otherwise nothing changes and the outcome says why:
        INVALID (unknown id or address mismatch), EXPIRED, ALREADY_CONFIRMED (this one, or
        another registration of the same address)."""
        ...

    def get(self, registration_id: str) -> Registration | None: ...

    def confirmed_registration_id(self, addr_key: str) -> str | None:
        """The id of the address's CONFIRMED registration, if it has one."""
        ...


class Mailer(Protocol):
    """Hands one message to a mail service. Raises `MailDeliveryError` (transient or not)."""

    def send(self, email: Email) -> None: ...
