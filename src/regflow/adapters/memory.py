"""An in-memory store: the reference semantics of `RegistrationStore`, used by unit tests and
benchmarks. It passes the same contract suite as the DynamoDB and SQLite adapters."""

from __future__ import annotations

import dataclasses
import threading
from datetime import datetime

from regflow.domain import (
    ClientRateLimited,
    CreateResult,
    Limit,
    LimitState,
    MailKind,
    OutboxEntry,
    Outcome,
    Registration,
    SendLog,
    Status,
)


class MemoryStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.registrations: dict[str, Registration] = {}
        self.confirmed_by_address: dict[str, str] = {}
        # "client:<key>" -> LimitState (fixed hourly window); "address:<key>" -> SendLog
        self.limits: dict[str, LimitState | SendLog] = {}
        self.outbox: list[OutboxEntry] = []

    def create_pending(
        self,
        registration: Registration,
        *,
        address_limit: Limit,
        client_key: str | None,
        client_limit: Limit,
    ) -> CreateResult:
        now = int(registration.timestamp.timestamp())
        with self._lock:
            client: tuple[str, LimitState] | None = None
            if client_key is not None and client_limit.enabled:
                key = f"client:{client_key}"
                state = self.limits.get(key)
                assert state is None or isinstance(state, LimitState)
                if state is not None and not state.allows(client_limit, now):
                    raise ClientRateLimited(state.retry_after(client_limit, now))
                client = (
                    key,
                    LimitState.first(now)
                    if state is None
                    else state.after_event(client_limit, now),
                )
            address: tuple[str, SendLog] | None = None
            if address_limit.enabled:
                key = f"address:{registration.limit_key}"
                log = self.limits.get(key, SendLog())
                assert isinstance(log, SendLog)
                if not log.allows(address_limit, now):
                    # The client is counted all the same: a limited post must spend the
                    # quota any other post spends, or counting posts would reveal it.
                    if client is not None:
                        self.limits[client[0]] = client[1]
                    return CreateResult.ADDRESS_LIMITED
                address = (key, log.after_event(address_limit, now))
            for counter in (client, address):
                if counter is not None:
                    self.limits[counter[0]] = counter[1]
            self.registrations[registration.id] = registration
            self.outbox.append(OutboxEntry(MailKind.VERIFICATION, registration))
            return CreateResult.CREATED

    def confirm(self, registration_id: str, addr_key: str, now: datetime) -> Outcome:
        with self._lock:
            reg = self.registrations.get(registration_id)
            if reg is None or reg.addr_key != addr_key:
                return Outcome.INVALID
            if reg.status is Status.CONFIRMED:
                return Outcome.ALREADY_CONFIRMED
            if reg.expired(now):
                return Outcome.EXPIRED
            if addr_key in self.confirmed_by_address:
                return Outcome.ALREADY_CONFIRMED
            confirmed = dataclasses.replace(
                reg, status=Status.CONFIRMED, ttl=None, confirmed_at=now
            )
            self.registrations[registration_id] = confirmed
            self.confirmed_by_address[addr_key] = registration_id
            self.outbox.append(OutboxEntry(MailKind.OWNER_NOTIFICATION, confirmed))
            return Outcome.CONFIRMED

    def get(self, registration_id: str) -> Registration | None:
        with self._lock:
            return self.registrations.get(registration_id)

    def confirmed_registration_id(self, addr_key: str) -> str | None:
        with self._lock:
            return self.confirmed_by_address.get(addr_key)
