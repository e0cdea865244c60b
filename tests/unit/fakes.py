"""Fakes shared by the unit and property tests: a recording mailer, a clock you move by hand,
deterministic registration ids, and a ready-made service over a MemoryStore."""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from regflow.adapters.memory import MemoryStore
from regflow.config import Settings
from regflow.domain import Email, MailDeliveryError
from regflow.service import RegistrationService
from regflow.tokens import TokenSigner

SECRET = b"s" * 32
START = datetime(2026, 1, 15, 12, 0, 0, tzinfo=UTC)
BASE_ENV: Mapping[str, str] = {
    "SENDER_EMAIL": "no-reply@example.org",
    "OWNER_EMAIL": "owner@example.org",
    "API_BASE_URL": "https://api.example.org",
    "SUCCESS_URL": "https://www.example.org/confirmed.html",
    "REGISTER_PAGE_URL": "https://www.example.org/",
}


class RecordingMailer:
    """Keeps every message it is given; can be told to fail."""

    def __init__(self) -> None:
        self.sent: list[Email] = []
        self.fail_with: MailDeliveryError | None = None

    def send(self, email: Email) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        self.sent.append(email)


class Clock:
    """A clock that only moves when told to."""

    def __init__(self, start: datetime = START) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class Ids:
    """Deterministic, well-formed (16-byte, base64url) registration ids."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> str:
        self.count += 1
        raw = self.count.to_bytes(16, "big")
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def settings(**env: str) -> Settings:
    return Settings.from_env({**BASE_ENV, **env})


@dataclasses.dataclass
class World:
    service: RegistrationService
    store: MemoryStore
    mailer: RecordingMailer
    clock: Clock
    signer: TokenSigner

    def drain(self) -> int:
        """Deliver every owed mail, as the outbox sender would; the number sent."""
        sent = 0
        while self.store.outbox:
            entry = self.store.outbox.pop(0)
            sent += self.service.deliver(entry)
        return sent

    def snapshot(self) -> tuple[Any, ...]:
        s = self.store
        return (
            dict(s.registrations),
            dict(s.confirmed_by_address),
            dict(s.limits),
            list(s.outbox),
        )


def world(**env: str) -> World:
    store = MemoryStore()
    mailer = RecordingMailer()
    clock = Clock()
    signer = TokenSigner(SECRET)
    service = RegistrationService(
        store=store,
        settings=settings(**env),
        signer=signer,
        mailer=mailer,
        clock=clock,
        new_id=Ids(),
    )
    return World(service, store, mailer, clock, signer)
