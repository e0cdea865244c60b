"""Wiring for AWS Lambda: Settings from the environment, boto3 clients created lazily once per
process, and one RegistrationService per function, built on its first invocation.

Each function gets only what its path needs:

- register: a DynamoDB client. No SES client, no Secrets Manager client, no secret.
- confirm: a DynamoDB client; the token secret is fetched from Secrets Manager
  (`TOKEN_SECRET_ARN`) on the first token check, then kept for the life of the process.
- mail sender: DynamoDB (reads), SES v2 (sends) and the secret (signs links).

`TOKEN_SECRET` (the secret itself) replaces the Secrets Manager lookup; tests and the embedded
mode use it. Tests build services with `build_service(settings, clients, role)` and their own
clients; `reset()` forgets the cached ones.
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
from regflow.service import RegistrationService
from regflow.tokens import TokenSigner

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_secretsmanager.client import SecretsManagerClient
    from mypy_boto3_sesv2.client import SESV2Client

log = logging.getLogger("regflow.aws")


class Role(StrEnum):
    REGISTER = "register"
    CONFIRM = "confirm"
    MAIL_SENDER = "mail-sender"


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

        if self._session is None:
            if self._session_factory is not None:
                self._session = self._session_factory()
            else:
                import boto3.session

                self._session = boto3.session.Session()
        config = Config(
            connect_timeout=2,
            read_timeout=5,
            retries={"mode": "standard", "max_attempts": 3},
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
    arn = settings.token_secret_arn
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


def _no_secret() -> bytes:
    raise RuntimeError("the registration function never signs or verifies tokens")


def build_service(settings: Settings, clients: AwsClients, role: Role) -> RegistrationService:
    from regflow.adapters.dynamodb import DynamoDBStore

    store = DynamoDBStore(clients.dynamodb(), settings.table_name)
    if role is Role.REGISTER:
        return RegistrationService(store=store, settings=settings, signer=TokenSigner(_no_secret))
    signer = TokenSigner(token_secret_source(settings, clients))
    if role is Role.CONFIRM:
        return RegistrationService(store=store, settings=settings, signer=signer)
    from regflow.adapters.ses import SesMailer

    return RegistrationService(
        store=store, settings=settings, signer=signer, mailer=SesMailer(clients.sesv2())
    )


# --- one of each per process --------------------------------------------------------------

_lock = threading.Lock()
_clients = AwsClients()
_services: dict[Role, RegistrationService] = {}


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


def service(role: Role) -> RegistrationService:
    """This process's service for `role`, built on first use."""
    svc = _services.get(role)
    if svc is None:
        with _lock:
            svc = _services.get(role)
            if svc is None:
                settings = load_settings()
                try:
                    svc = build_service(settings, _clients, role)
                except ConfigError as exc:
                    log.error("configuration error: %s", exc, extra={"error": "ConfigError"})
                    raise
                _services[role] = svc
    return svc


def init_on_lambda(role: Role) -> None:
    """Build `role`'s service now when running on Lambda (module import is the init phase),
    so a missing or bad setting fails the function's start-up with one log line naming it,
    instead of failing each request. Elsewhere (tests, tools) services stay lazy."""
    if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
        service(role)


def clients() -> AwsClients:
    return _clients


def reset() -> None:
    """Forget the cached clients and services (tests; a new environment)."""
    global _clients
    with _lock:
        _services.clear()
        _clients = AwsClients()
