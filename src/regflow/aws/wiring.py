"""Wiring for AWS Lambda: Settings from the environment, boto3 clients created lazily once per
process, and each function's objects built once, on its first invocation (or at init on
Lambda). The only place on the AWS path that reads the environment.

Each function gets only what its path needs:

- register: `HttpApi` over an `IntakeService` with a DynamoDB client. No SES client, no
  Secrets Manager client, no secret.
- confirm: the same, and the token secret, fetched from Secrets Manager (`TOKEN_SECRET_ARN`)
  on the first token check, then kept for the life of the process.
- mail sender: a `DeliveryService` with DynamoDB (reads, parked messages), SES v2 (sends) and
  the secret (signs links).

`TOKEN_SECRET` (the secret itself) replaces the Secrets Manager lookup; tests and the embedded
mode use it. Tests build with `build_api` / `build_delivery` and their own clients; `reset()`
forgets the cached ones.
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
from regflow.tokens import TokenSigner

if TYPE_CHECKING:
    from regflow.api import HttpApi
    from regflow.delivery import DeliveryService
    from regflow.metrics import Metrics

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_secretsmanager.client import SecretsManagerClient
    from mypy_boto3_sesv2.client import SESV2Client

log = logging.getLogger("regflow.aws")


class Role(StrEnum):
    REGISTER = "register"
    CONFIRM = "confirm"
    MAIL_SENDER = "mail-sender"
    RECOVERY = "recovery"


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


def metrics_of(settings: Settings) -> Metrics:
    """EMF metrics on stdout when METRICS=emf (the template sets it), else none."""
    from regflow.metrics import from_settings

    return from_settings(settings.aws.metrics, settings.aws.metrics_stack)


def _no_secret() -> bytes:
    raise RuntimeError("the registration function never signs or verifies tokens")


def build_api(settings: Settings, clients: AwsClients, role: Role) -> HttpApi:
    """The HTTP API of the register or confirm function."""
    from regflow.adapters.dynamodb import DynamoDBStore
    from regflow.api import HttpApi
    from regflow.challenge import issuer_for
    from regflow.intake import IntakeService
    from regflow.tokens import browser_key

    store = DynamoDBStore(clients.dynamodb(), settings.aws.table_name)
    secret = _no_secret if role is Role.REGISTER else token_secret_source(settings, clients)
    # CHALLENGE=pow: only the registration function issues and verifies challenges
    challenges = (
        issuer_for(settings.rules, settings.challenge_secret) if role is Role.REGISTER else None
    )
    intake = IntakeService(
        store=store, rules=settings.rules, signer=TokenSigner(secret), challenges=challenges
    )
    # the registration cookie's seal (CONFIRM_MODE=button's same browser): CHALLENGE_SECRET,
    # which the stack gives the registration and confirmation functions
    secret_of_cookie = settings.challenge_secret
    cookie_key = browser_key(secret_of_cookie) if secret_of_cookie is not None else None
    return HttpApi(intake, settings.http, metrics_of(settings), cookie_key=cookie_key)


def build_delivery(settings: Settings, clients: AwsClients) -> DeliveryService:
    """The mail sender's delivery service (also what `regflow redrive` sends with)."""
    from regflow.adapters.dynamodb import DynamoDBStore
    from regflow.adapters.ses import SesMailer
    from regflow.delivery import DeliveryService
    from regflow.domain import Channel

    store = DynamoDBStore(clients.dynamodb(), settings.aws.table_name)
    return DeliveryService(
        store=store,
        outbox=store,
        settings=settings.mail,
        signer=TokenSigner(token_secret_source(settings, clients)),
        channels={Channel.EMAIL: SesMailer(clients.sesv2())},
        metrics=metrics_of(settings),
    )


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
    api: HttpApi = _once(role, lambda s, c: build_api(s, c, role))
    return api


def delivery() -> DeliveryService:
    """This process's delivery service (the mail sender), built on first use."""
    return delivery_for(Role.MAIL_SENDER)


def delivery_for(role: Role) -> DeliveryService:
    """The delivery service of a sending function (mail sender, recovery)."""
    service: DeliveryService = _once(role, build_delivery)
    return service


def init_on_lambda(role: Role) -> None:
    """Build `role`'s objects now when running on Lambda (module import is the init phase),
    so a missing or bad setting fails the function's start-up with one log line naming it,
    instead of failing each request. Elsewhere (tests, tools) they stay lazy."""
    if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
        if role in (Role.MAIL_SENDER, Role.RECOVERY):
            delivery_for(role)
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
