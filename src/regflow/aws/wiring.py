"""Wiring for AWS Lambda: Settings from the environment, boto3 clients created lazily once per
process, and each function's objects (built by `regflow.compose`, the one composition root)
built once, on its first invocation (or at init on Lambda). The only place on the AWS path that
reads the environment.

Each function gets only what its path needs:

- register: `HttpApi` over an `IntakeService` with a DynamoDB client, the origin-verify value
  (the API's gate) and the challenge key. No SES client, no token secret.
- confirm: the same, and the token secret.
- mail sender: a `DeliveryService` with DynamoDB (reads, parked messages, the suppression
  list), SES v2 (sends, through the stack's configuration set), the MX check (`MX_CHECK`) and
  the token secret (signs links); the webhook key when there are webhooks.
- SES events: a `FeedbackService` with DynamoDB (suppression list, soft-bounce counts, marking
  registrations). No SES client, no secret.

Secrets are never in a function's environment: it holds their ARNs (`TOKEN_SECRET_ARN`,
`ORIGIN_VERIFY_SECRET_ARN`, `CHALLENGE_SECRET_ARN`, `WEBHOOK_SECRET_ARN`), and the values are
fetched from Secrets Manager on first use, re-read every few minutes, and a function's objects
are built again when one changed (`regflow.aws.secrets`). A value given directly
(`TOKEN_SECRET`, ...) replaces the lookup; tests and the embedded mode use that. Tests build
with `regflow.compose.aws_api` / `aws_delivery` and their own clients; `reset()` forgets the
cached ones.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping
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
# each role's objects, with the secret values they were built from (regflow.aws.secrets)
_built: dict[Role, tuple[Any, dict[str, str]]] = {}
_secrets: dict[Role, Any] = {}  # regflow.aws.secrets.Cache per role, made on first use

# The secrets each function's path uses (the template gives each function only these ARNs;
# in one process, as in the tests, a role still fetches only its own).
ROLE_SECRETS: dict[Role, frozenset[str]] = {
    Role.REGISTER: frozenset({"ORIGIN_VERIFY_SECRET", "CHALLENGE_SECRET"}),
    Role.CONFIRM: frozenset({"ORIGIN_VERIFY_SECRET", "CHALLENGE_SECRET", "TOKEN_SECRET"}),
    Role.ERASE: frozenset({"ORIGIN_VERIFY_SECRET", "TOKEN_SECRET"}),
    Role.MAIL_SENDER: frozenset({"TOKEN_SECRET", "WEBHOOK_SECRET"}),
    Role.RECOVERY: frozenset({"TOKEN_SECRET", "WEBHOOK_SECRET"}),
    Role.DIGEST: frozenset(),
    Role.SES_EVENTS: frozenset(),
}


def _secret_values(role: Role) -> dict[str, str]:
    """`role`'s secrets from Secrets Manager (their ARNs in the environment), fetched on
    first use and re-read every few minutes (a rotation reaches the function)."""
    cache = _secrets.get(role)
    if cache is None:
        from regflow.aws import secrets

        with _lock:
            cache = _secrets.get(role)
            if cache is None:
                fetch = secrets.secrets_manager_fetch(lambda: _clients.secretsmanager())
                cache = secrets.Cache(os.environ, fetch, only=ROLE_SECRETS[role])
                _secrets[role] = cache
    values: dict[str, str] = cache.current()
    return values


def load_settings(secret_values: Mapping[str, str] | None = None) -> Settings:
    """Settings.from_env(), with the secrets fetched from Secrets Manager filled in; a bad or
    missing variable is one clear JSON log line, re-raised."""
    try:
        settings = Settings.from_env({**os.environ, **(secret_values or {})})
    except ConfigError as exc:
        logs.configure("INFO")
        log.error("configuration error: %s", exc, extra={"error": "ConfigError"})
        raise
    logs.configure(settings.log_level)
    return settings


def _once(role: Role, build: Callable[[Settings, AwsClients], Any]) -> Any:
    """`role`'s objects, built on first use, and built again when a secret they hold changed."""
    values = _secret_values(role)
    entry = _built.get(role)
    if entry is None or entry[1] != values:
        with _lock:
            entry = _built.get(role)
            if entry is None or entry[1] != values:
                settings = load_settings(values)
                try:
                    built = build(settings, _clients)
                except ConfigError as exc:
                    log.error("configuration error: %s", exc, extra={"error": "ConfigError"})
                    raise
                entry = (built, values)
                _built[role] = entry
    return entry[0]


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
        _secrets.clear()
