"""The operator's commands on a deployed stack (`regflow list|export|stats|delete|resend
--stack NAME`, issue 12): the stack's store, opened with the operator's own credentials, and
`resend`, the same on both paths."""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from regflow.config import EMBEDDED_DEFAULTS, Rules, Settings
from regflow.domain import CreateResult, Status, ValidationError, address_key, utcnow
from regflow.ports import Clock, ExportQueries, RegistrationStore

if TYPE_CHECKING:
    from regflow.adapters.dynamodb import DynamoDBStore

# the stack's parameters that set intake's rules, and the variables they become (template.yaml)
RULE_PARAMETERS = {
    "TokenTtlHours": "TOKEN_TTL_HOURS",
    "AddressMinIntervalSeconds": "ADDRESS_MIN_INTERVAL_SECONDS",
    "AddressLimitPerDay": "ADDRESS_LIMIT_PER_DAY",
    "IpLimitPerHour": "IP_LIMIT_PER_HOUR",
    "BlockedEmailDomains": "BLOCKED_EMAIL_DOMAINS",
    "DefaultLanguage": "DEFAULT_LANGUAGE",
}


AwsClientFactory = Callable[[str, str | None], Any]
"""`(service, region) -> boto3 client`: how the operator's AWS clients are made (tests pass
their own)."""


def _operator_client(service: str, region: str | None) -> Any:
    import boto3
    from botocore.config import Config

    # boto3's default session: the operator's own credential chain. An operator's command
    # reads a whole table page by page: more patience with throttling than a request handler
    make: Any = boto3.client
    config = Config(retries={"mode": "standard", "total_max_attempts": 8})
    return make(service, region_name=region, config=config)


def open_operator_store(
    stack: str | None,
    region: str | None,
    data_dir: Path,
    *,
    clients: AwsClientFactory = _operator_client,
) -> Any:
    """The store an operator's command works on: `stack`'s table (from its outputs,
    `ops.stack.table_for_stack`), or without a stack the embedded database (`DATABASE_URL`,
    default the SQLite file in `data_dir`), which must exist. Each has `close()`. (Any: the
    commands use more of a store than one port says, `index_confirmed` of a table say.)"""
    if stack:
        return open_stack_store(stack, region, clients=clients)
    import os

    from regflow.config import parse_database_url
    from regflow.local.stores import open_store

    raw = os.environ.get("DATABASE_URL")
    url = parse_database_url(raw) if raw and raw.strip() else None
    return open_store(url, data_dir, migrate=False, must_exist=True)


def open_stack_store(
    stack: str, region: str | None, *, clients: AwsClientFactory = _operator_client
) -> DynamoDBStore:
    """The store of `stack` (its table from its outputs, `ops.stack.table_for_stack`)."""
    from regflow.adapters.dynamodb import DynamoDBStore
    from regflow.ops.stack import table_for_stack

    class StackStore(DynamoDBStore):
        """A deployed stack's store, with the `close()` the commands call (nothing to close:
        a boto3 client holds no connection of its own to give back)."""

        def close(self) -> None:
            return None

    table = table_for_stack(stack, region, client=clients("cloudformation", region))
    return StackStore(clients("dynamodb", region), table)


def stack_rules(stack: str, region: str | None) -> Rules:
    """Intake's rules as the stack's functions have them: from its parameters."""
    from regflow.ops.stack import stack_parameters

    parameters = stack_parameters(stack, region)
    return rules_from(
        {RULE_PARAMETERS[k]: v for k, v in parameters.items() if k in RULE_PARAMETERS}
    )


def rules_from(env: Mapping[str, str]) -> Rules:
    """Intake's rules from environment variables (those of `regflow serve`), checked as the
    runtimes check them (a bad value is a `ConfigError` naming the variable)."""
    defaults = {
        **EMBEDDED_DEFAULTS,
        "API_BASE_URL": "http://localhost/",
        "SUCCESS_URL": "http://localhost/confirmed.html",
    }
    wanted = set(RULE_PARAMETERS.values())
    return Settings.from_env({k: v for k, v in env.items() if k in wanted}, defaults=defaults).rules


# --- resend ------------------------------------------------------------------------------


class ResendResult(enum.StrEnum):
    SENT = "sent"  # a fresh pending registration, its verification message owed
    LIMITED = "limited"  # the per-address limit said no: nothing written
    CONFIRMED = "confirmed"  # the address is confirmed already: nothing to verify
    UNKNOWN = "unknown"  # no pending registration of the address
    REFUSED = "refused"  # the rules no longer accept the address (a domain blocked since)


@dataclass(frozen=True, slots=True)
class Resent:
    result: ResendResult
    registration_id: str | None = None  # the fresh registration when SENT


class ResendStore(RegistrationStore, ExportQueries, Protocol):
    """What `resend` uses of a store."""


def resend(store: ResendStore, rules: Rules, address: str, *, clock: Clock = utcnow) -> Resent:
    """Send the address's pending registration a fresh verification link: a new PENDING
    registration with the latest pending one's name and language, through intake exactly as
    a new post of the form (validated, within the per-address limits; no client limit: the
    operator is not a visitor)."""
    from regflow import compose
    from regflow.tokens import new_registration_id

    addr = address_key(address)
    if store.confirmed_registration_id(addr) is not None:
        return Resent(ResendResult.CONFIRMED)
    pending = [r for r in store.registrations_of(addr) if r.status is Status.PENDING]
    if not pending:
        return Resent(ResendResult.UNKNOWN)
    latest = pending[-1]

    ids: list[str] = []

    def new_id() -> str:  # the fresh registration's id, to answer with it
        ids.append(new_registration_id())
        return ids[-1]

    # registering signs nothing (the sender builds the link); no challenge for the operator
    intake = compose.intake(
        rules, store, compose.no_secret, None, challenges=False, new_id=new_id, clock=clock
    )
    try:
        result = intake.register(latest.name, latest.email, language=latest.language)
    except ValidationError:
        return Resent(ResendResult.REFUSED)
    if result is CreateResult.CREATED:
        return Resent(ResendResult.SENT, ids[-1])
    return Resent(ResendResult.LIMITED)


def aws_error(exc: BaseException) -> str | None:
    """What to tell the operator of an AWS error (None: not one): its code and message (no
    credentials, no such stack, access denied naming the action)."""
    try:
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:
        return None
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"AWS: {error.get('Code', 'error')}: {error.get('Message', '')}".rstrip(": ")
    if isinstance(exc, BotoCoreError):
        return f"AWS: {exc}"
    return None
