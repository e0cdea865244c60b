"""Wiring for AWS Lambda: Settings from the environment, boto3 clients created lazily once per
process, and each function's objects (built by `regflow.compose`, the one composition root)
built once, on its first invocation (or at init on Lambda). The only place on the AWS path that
reads the environment.

Each function gets only what its path needs:

- register: `HttpApi` over an `IntakeService` with a DynamoDB client. No SES client, no
  Secrets Manager client, no secret.
- confirm: the same, and the token secret, fetched from Secrets Manager (`TOKEN_SECRET_ARN`)
  on the first token check, then kept for the life of the process.
- mail sender: a `DeliveryService` with DynamoDB (reads, parked messages, the suppression
  list), SES v2 (sends, through the stack's configuration set), the MX check (`MX_CHECK`) and
  the secret (signs links).
- SES events: a `FeedbackService` with DynamoDB (suppression list, soft-bounce counts, marking
  registrations). No SES client, no secret.

`TOKEN_SECRET` (the secret itself) replaces the Secrets Manager lookup; tests and the embedded
mode use it. Tests build with `regflow.compose.aws_api` / `aws_delivery` and their own clients;
`reset()` forgets the cached ones.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from regflow import logs
from regflow.config import Settings
from regflow.domain import ConfigError, StoreUnavailable

if TYPE_CHECKING:
    from regflow.delivery import DeliveryService
    from regflow.feedback import FeedbackService
    from regflow.http import HttpApi

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_events.client import EventBridgeClient
    from mypy_boto3_secretsmanager.client import SecretsManagerClient
    from mypy_boto3_sesv2.client import SESV2Client

log = logging.getLogger("regflow.aws")


class Role(StrEnum):
    REGISTER = "register"
    CONFIRM = "confirm"
    ERASE = "erase"  # GET|POST /erase (docs/erasure.md)
    DIGEST = "owner-digest"  # OWNER_DIGEST=daily, on a schedule
    MAIL_SENDER = "mail-sender"
    RECOVERY = "recovery"
    SES_EVENTS = "ses-events"


class AwsClients:
    """boto3 clients, each created on first use (and boto3 imported then), once per process.
    Region and credentials come from the Lambda environment, never from code."""

    def __init__(self, session_factory: Callable[[], Any] | None = None) -> None:
        self._session_factory = session_factory
        self._session: Any = None
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _client(self, service: str) -> Any:
        client = self._clients.get(service)
        if client is None:
            with self._lock:
                client = self._clients.get(service)
                if client is None:
                    client = self._new_client(service)
                    self._clients[service] = client
        return client

    def _new_client(self, service: str) -> Any:
        from botocore.config import Config

        from regflow.aws import budget

        # Timeouts and attempts from regflow.aws.budget (why they fit the functions' timeouts).
        # One attempt for SES: the delivery policy owns retries (quick ones, then parking),
        # so botocore's would multiply them. DynamoDB and Secrets Manager keep one quick
        # retry (throttling clears in milliseconds there).
        attempts = budget.ATTEMPTS.get(service, 2)

        if self._session is None:
            if self._session_factory is not None:
                self._session = self._session_factory()
            else:
                import boto3.session

                self._session = boto3.session.Session()
        config = Config(
            connect_timeout=budget.CONNECT_TIMEOUT,
            read_timeout=budget.read_timeout(service),
            # total_max_attempts counts the first try (botocore's max_attempts counts retries)
            retries={"mode": "standard", "total_max_attempts": attempts},
        )
        return self._session.client(service, config=config)

    @property
    def created(self) -> frozenset[str]:
        """The services a client was created for (cold-start checks)."""
        return frozenset(self._clients)

    def dynamodb(self) -> DynamoDBClient:
        client: DynamoDBClient = self._client("dynamodb")
        return client

    def sesv2(self) -> SESV2Client:
        client: SESV2Client = self._client("sesv2")
        return client

    def events(self) -> EventBridgeClient:
        client: EventBridgeClient = self._client("events")
        return client

    def secretsmanager(self) -> SecretsManagerClient:
        client: SecretsManagerClient = self._client("secretsmanager")
        return client


def token_secret_source(settings: Settings, clients: AwsClients) -> bytes | Callable[[], bytes]:
    """The secret itself (`TOKEN_SECRET`), or a function fetching it from Secrets Manager."""
    if settings.token_secret is not None:
        return settings.token_secret
    arn = settings.aws.token_secret_arn
    if arn is None:
        raise ConfigError("TOKEN_SECRET_ARN is required but not set")

    def fetch() -> bytes:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = clients.secretsmanager().get_secret_value(SecretId=arn)
        except (ClientError, BotoCoreError) as exc:
            # throttled or unreachable: the caller answers 503 (the mail sender retries)
            raise StoreUnavailable(1) from exc
        text = response.get("SecretString")
        secret = text.encode("utf-8") if text is not None else response.get("SecretBinary")
        if not secret:
            raise ConfigError("TOKEN_SECRET_ARN names a secret without a value")
        return bytes(secret)

    return fetch


# --- one of each per process --------------------------------------------------------------

_lock = threading.Lock()
_clients = AwsClients()
_built: dict[Role, Any] = {}


def load_settings() -> Settings:
    """Settings.from_env(); a bad or missing variable is one clear JSON log line, re-raised."""
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        logs.configure("INFO")
        log.error("configuration error: %s", exc, extra={"error": "ConfigError"})
        raise
    logs.configure(settings.log_level)
    return settings


def _once(role: Role, build: Callable[[Settings, AwsClients], Any]) -> Any:
    built = _built.get(role)
    if built is None:
        with _lock:
            built = _built.get(role)
            if built is None:
                settings = load_settings()
                try:
                    built = build(settings, _clients)
                except ConfigError as exc:
                    log.error("configuration error: %s", exc, extra={"error": "ConfigError"})
                    raise
                _built[role] = built
    return built


def http_api(role: Role) -> HttpApi:
    """This process's HTTP API for the register or confirm function, built on first use."""
    from regflow import compose

    api: HttpApi = _once(role, lambda s, c: compose.aws_api(s, c, role))
    return api


def delivery() -> DeliveryService:
    """This process's delivery service (the mail sender), built on first use."""
    return delivery_for(Role.MAIL_SENDER)


def delivery_for(role: Role) -> DeliveryService:
    """The delivery service of a sending function (mail sender, recovery, owner digest)."""
    from regflow import compose

    build = compose.aws_digest_delivery if role is Role.DIGEST else compose.aws_delivery
    service: DeliveryService = _once(role, build)
    return service


def feedback() -> FeedbackService:
    """This process's feedback service (the SES events function), built on first use."""
    from regflow import compose

    service: FeedbackService = _once(Role.SES_EVENTS, compose.aws_feedback)
    return service


def init_on_lambda(role: Role) -> None:
    """Build `role`'s objects now when running on Lambda (module import is the init phase),
    so a missing or bad setting fails the function's start-up with one log line naming it,
    instead of failing each request. Elsewhere (tests, tools) they stay lazy."""
    if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
        if role in (Role.MAIL_SENDER, Role.RECOVERY, Role.DIGEST):
            delivery_for(role)
        elif role is Role.SES_EVENTS:
            feedback()
        else:
            http_api(role)


def clients() -> AwsClients:
    return _clients


def reset() -> None:
    """Forget the cached clients and services (tests; a new environment)."""
    global _clients
    with _lock:
        _built.clear()
        _clients = AwsClients()
