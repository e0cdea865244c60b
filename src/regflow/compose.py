"""The one composition root: every service of both runtimes built from `Settings` here.

- Both runtimes: `intake`, `http_api`, `delivery` (the senders), `mail_domains` (MX_CHECK),
  `event_channels` (webhooks; EventBridge on AWS), `metrics` (METRICS=emf).
- Embedded (`regflow serve`): `embedded` opens the store `DATABASE_URL` names and builds the
  services, the mail channel (SMTP_URL, else the local mailbox) and the outbox worker over it.
  `regflow.local.server` keeps the process: the data directory and its key, sockets, signals,
  the banner.
- AWS: `aws_api`, `aws_delivery`, `aws_digest_delivery`, `aws_feedback`: each Lambda
  function's objects over the table and the process's lazily created clients.
  `regflow.aws.wiring` keeps the per-process caching (clients, the secret's fetch, one set of
  objects per function).

Imports are lazy (inside each builder): a Lambda function loads only what its path needs (the
cold start), and `regflow serve` never loads boto3.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from regflow.adapters.dynamodb import DynamoDBStore
    from regflow.adapters.mailbox import MailboxMailer
    from regflow.aws.wiring import AwsClients, Role
    from regflow.config import Rules, Settings
    from regflow.delivery import DeliveryService
    from regflow.domain import Channel, Event
    from regflow.feedback import FeedbackService
    from regflow.http import HttpApi
    from regflow.intake import IntakeService
    from regflow.local.stores import EmbeddedStore
    from regflow.local.worker import OutboxWorker
    from regflow.metrics import Metrics
    from regflow.ports import (
        BreakerStore,
        Clock,
        EventChannel,
        IdFactory,
        MailChannel,
        MailDomains,
        Outbox,
        RegistrationStore,
        SuppressionList,
    )

Secret = bytes | Callable[[], bytes]
"""The token secret, or how to fetch it on first use (Secrets Manager on AWS)."""


# --- both runtimes ------------------------------------------------------------------------


def metrics(settings: Settings) -> Metrics:
    """EMF metrics on stdout when METRICS=emf (the template sets it), else none."""
    from regflow.metrics import from_settings

    return from_settings(settings.aws.metrics, settings.aws.metrics_stack)


def mail_domains(settings: Settings) -> MailDomains | None:
    """The MX check (`MX_CHECK=on`), or None."""
    if not settings.mail.mx_check:
        return None
    from regflow.adapters.dns import DnsPythonResolver
    from regflow.mail_domains import MailDomainCheck

    return MailDomainCheck(DnsPythonResolver())


def event_channels(
    settings: Settings, eventbridge: EventChannel | None = None
) -> dict[Channel, EventChannel]:
    """The event channels a sender publishes through (docs/events.md): `eventbridge` (AWS,
    EVENT_BUS_NAME) when given, the webhooks when WEBHOOK_URL is set."""
    from regflow.domain import Channel

    channels: dict[Channel, EventChannel] = {}
    if eventbridge is not None:
        channels[Channel.EVENTBRIDGE] = eventbridge
    webhooks = settings.events
    if webhooks.webhook_urls and webhooks.webhook_secret is not None:
        from regflow.adapters.webhook import WebhookChannel

        channels[Channel.WEBHOOK] = WebhookChannel(webhooks.webhook_urls, webhooks.webhook_secret)
    return channels


def intake(
    rules: Rules,
    store: RegistrationStore,
    secret: Secret,
    challenge_secret: bytes | None,
    *,
    challenges: bool = True,
    new_id: IdFactory | None = None,
    clock: Clock | None = None,
) -> IntakeService:
    """The intake service under `rules` (`Settings.rules`, or a stack's for `regflow resend`);
    with `challenges`, CHALLENGE=pow's issuer keyed by `challenge_secret`."""
    from regflow.challenge import issuer_for
    from regflow.domain import utcnow
    from regflow.intake import IntakeService
    from regflow.tokens import TokenSigner, new_registration_id

    return IntakeService(
        store=store,
        rules=rules,
        signer=TokenSigner(secret),
        clock=clock or utcnow,
        new_id=new_id or new_registration_id,
        challenges=issuer_for(rules, challenge_secret) if challenges else None,
    )


def http_api(
    settings: Settings,
    service: IntakeService,
    cookie_secret: bytes | None,
    metrics: Metrics | None = None,
) -> HttpApi:
    """The HTTP API over the intake `service`; the registration cookie (CONFIRM_MODE=button's same
    browser) sealed with a key from `cookie_secret` (without one the shortcut is off)."""
    from regflow.http import HttpApi
    from regflow.metrics import NO_METRICS
    from regflow.tokens import browser_key

    cookie_key = browser_key(cookie_secret) if cookie_secret is not None else None
    return HttpApi(
        service,
        settings.http,
        metrics if metrics is not None else NO_METRICS,
        cookie_key=cookie_key,
    )


def delivery(
    settings: Settings,
    store: RegistrationStore,
    outbox: Outbox,
    mailer: MailChannel,
    secret: Secret,
    *,
    suppressions: SuppressionList | None,
    events: dict[Channel, EventChannel] | None = None,
    metrics: Metrics | None = None,
    breaker: BreakerStore | None = None,
) -> DeliveryService:
    """A sender's delivery service: mail on `mailer`, events on `events`; deliverability
    (no mail to a suppressed inbox, a refusal of the recipient suppresses it, MX_CHECK) when
    `suppressions` is given; the mail breaker (`domain.breaker`) when `breaker` is."""
    from regflow.delivery import DeliveryService
    from regflow.domain import Channel
    from regflow.metrics import NO_METRICS
    from regflow.tokens import TokenSigner

    return DeliveryService(
        store=store,
        outbox=outbox,
        settings=settings.mail,
        signer=TokenSigner(secret),
        channels={Channel.EMAIL: mailer},
        metrics=metrics if metrics is not None else NO_METRICS,
        suppressions=suppressions,
        mail_domains=mail_domains(settings) if suppressions is not None else None,
        events=events,
        breaker=breaker,
    )


def no_secret() -> bytes:
    """The secret of a function that never signs or verifies tokens."""
    raise RuntimeError("this function never signs or verifies tokens")


# --- embedded: `regflow serve` ------------------------------------------------------------


class Embedded:
    """The embedded runtime's services over one store (a plain class, not a dataclass: this
    module is imported on Lambda too, and a dataclass costs a millisecond to define)."""

    def __init__(
        self,
        *,
        settings: Settings,
        store: EmbeddedStore,
        mailbox: MailboxMailer,
        intake: IntakeService,
        delivery: DeliveryService,
        api: HttpApi,
        worker: OutboxWorker,
    ) -> None:
        self.settings = settings
        self.store = store
        self.mailbox = mailbox  # the local mailbox (written whenever SMTP_URL is not set)
        self.intake = intake
        self.delivery = delivery
        self.api = api
        self.worker = worker  # drains the outbox (not started)

    def close(self) -> None:
        self.worker.stop()
        self.store.close()


def embedded(
    settings: Settings, secret: bytes, *, data_dir: Path, mailbox_dir: Path, poll: float = 0.5
) -> Embedded:
    """The store `DATABASE_URL` names (default the SQLite file in `data_dir`), the mail
    channel (SMTP_URL, else the mailbox in `mailbox_dir`) and the services over them. Raises
    `StoreOpenError` (the store is closed again when it opened)."""
    from regflow.adapters.breaker import ProcessBreaker
    from regflow.adapters.mailbox import MailboxMailer
    from regflow.local.stores import open_store, set_event_targets
    from regflow.local.worker import OutboxWorker

    smtp_url = settings.embedded.smtp_url or ""
    mailbox = MailboxMailer(mailbox_dir)
    mailer: MailChannel = mailbox
    if smtp_url:
        from regflow.adapters.smtp import SmtpMailer

        mailer = SmtpMailer.from_url(smtp_url)
    store = open_store(
        settings.embedded.database_url,
        data_dir,
        sqlite_durability=settings.embedded.sqlite_durability,
    )
    # CHALLENGE=pow and the registration cookie: keyed by CHALLENGE_SECRET, else by the token
    # secret
    key = settings.challenge_secret or secret
    service = intake(settings.rules, store, secret, key)
    sender = delivery(
        settings,
        store,
        store,
        mailer,
        secret,
        suppressions=store,
        events=event_channels(settings),  # webhooks only (no EventBridge embedded)
        # the mail breaker's state lives in this process: its one worker sends its mail
        breaker=ProcessBreaker(),
    )
    if sender.event_targets:
        # each confirmation owes one event message per target, written with it
        try:
            set_event_targets(store, sender.event_targets)
        except Exception:
            store.close()
            raise
    worker = OutboxWorker(
        store, sender, poll_interval=poll, digest=settings.mail.owner_digest == "daily"
    )
    return Embedded(
        settings=settings,
        store=store,
        mailbox=mailbox,
        intake=service,
        delivery=sender,
        api=http_api(settings, service, key),
        worker=worker,
    )


# --- AWS: each Lambda function's objects ------------------------------------------------


def aws_api(settings: Settings, clients: AwsClients, role: Role) -> HttpApi:
    """The HTTP API of the register, confirm or erase function."""
    from regflow.aws.wiring import Role, token_secret_source

    store = aws_store(settings, clients)
    register = role is Role.REGISTER
    # the registration function never signs a token (the mail sender builds the link), so it
    # needs no secret; only it issues and verifies challenges (CHALLENGE=pow)
    secret = no_secret if register else token_secret_source(settings, clients)
    service = intake(settings.rules, store, secret, settings.challenge_secret, challenges=register)
    # the registration cookie's seal: CHALLENGE_SECRET, which the stack gives the registration
    # and confirmation functions
    return http_api(settings, service, settings.challenge_secret, metrics(settings))


def aws_delivery(settings: Settings, clients: AwsClients) -> DeliveryService:
    """The mail sender's delivery service (also the recovery's, and what `regflow redrive`
    sends with): the table, SES, the suppression list, the events."""
    from regflow.aws.wiring import token_secret_source

    store = aws_store(settings, clients)
    bus = settings.aws.event_bus_name
    eventbridge: EventChannel | None = None
    if bus is not None:
        eventbridge = _LazyEventBridge(clients, bus, settings.aws.event_source)
    return delivery(
        settings,
        store,
        store,
        _ses(settings, clients),
        token_secret_source(settings, clients),
        suppressions=store,
        events=event_channels(settings, eventbridge),
        metrics=metrics(settings),
    )


def aws_digest_delivery(settings: Settings, clients: AwsClients) -> DeliveryService:
    """The owner digest function's delivery service: the table (read confirmations, park),
    SES; no token secret (a digest carries no link) and no events."""
    store = aws_store(settings, clients)
    return delivery(
        settings,
        store,
        store,
        _ses(settings, clients),
        no_secret,
        suppressions=None,
        metrics=metrics(settings),
    )


def aws_feedback(settings: Settings, clients: AwsClients) -> FeedbackService:
    """The SES events function's service: SES's reports applied to the table."""
    from regflow.feedback import FeedbackService

    return FeedbackService(
        store=aws_store(settings, clients),
        owner_email=settings.mail.owner_email,
        metrics=metrics(settings),
    )


def aws_store(settings: Settings, clients: AwsClients) -> DynamoDBStore:
    """The stack's table (TABLE_NAME) as a store."""
    from regflow.adapters.dynamodb import DynamoDBStore

    return DynamoDBStore(clients.dynamodb(), settings.aws.table_name)


def _ses(settings: Settings, clients: AwsClients) -> MailChannel:
    from regflow.adapters.ses import SesMailer

    return SesMailer(clients.sesv2(), configuration_set=settings.aws.ses_configuration_set)


class _LazyEventBridge:
    """`EventChannel` to EventBridge whose client (and boto3's events model) loads on first use."""

    def __init__(self, clients: AwsClients, bus: str, source: str) -> None:
        self._clients = clients
        self._bus = bus
        self._source = source

    @property
    def targets(self) -> tuple[str, ...]:
        from regflow.domain import EVENTBRIDGE_TARGET

        return (EVENTBRIDGE_TARGET,)

    def publish(self, event: Event) -> bool:
        from regflow.adapters.eventbridge import EventBridgeChannel

        channel = EventBridgeChannel(self._clients.events(), bus=self._bus, source=self._source)
        return channel.publish(event)
