"""Fakes shared by the unit and property tests: a recording mail channel, a clock you move by
hand, deterministic registration ids, and ready-made intake, delivery and HTTP API over a
MemoryStore."""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from regflow.adapters.memory import MemoryStore
from regflow.config import Settings
from regflow.delivery import DeliveryService, Result
from regflow.domain import Channel, DeliveryError, Email, Message
from regflow.http import HttpApi
from regflow.intake import IntakeService
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
        self.fail_with: DeliveryError | None = None

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
    intake: IntakeService
    delivery: DeliveryService
    api: HttpApi
    settings: Settings
    store: MemoryStore
    mailer: RecordingMailer
    clock: Clock
    signer: TokenSigner

    def drain(self) -> int:
        """Deliver every owed message, as the outbox worker would; the number sent."""
        sent = 0
        now = self.clock().timestamp()
        while claims := self.store.claim_due(now, 100):
            for claimed in claims:
                sent += self.delivery.deliver_claimed(claimed) is Result.SENT
        return sent

    def snapshot(self) -> tuple[Any, ...]:
        s = self.store
        return (
            dict(s.by_id),
            dict(s.confirmed_by_address),
            dict(s.limits),
            s.owed(),
        )

    def owed(self) -> list[Message]:
        return self.store.owed()


def world(**env: str) -> World:
    store = MemoryStore()
    mailer = RecordingMailer()
    clock = Clock()
    signer = TokenSigner(SECRET)
    config = settings(**env)
    intake = IntakeService(
        store=store, rules=config.rules, signer=signer, clock=clock, new_id=Ids()
    )
    delivery = DeliveryService(
        store=store,
        outbox=store,
        settings=config.mail,
        signer=signer,
        channels={Channel.EMAIL: mailer},
        clock=clock,
        now=lambda: clock().timestamp(),
    )
    return World(
        intake, delivery, HttpApi(intake, config.http), config, store, mailer, clock, signer
    )
