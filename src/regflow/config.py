"""Settings, read once from the environment into a frozen object.

Every variable is documented in docs/configuration.md (checked by tests/docs), and
`template.yaml` sets the same names. A missing or bad value raises `ConfigError` naming the
variable.

Settings are grouped by layer (`Rules` for intake, `HttpEdge` for the HTTP adapter,
`MailSettings` for delivery, `AwsWiring` and `Embedded` for the two runtimes); the runtimes
(`regflow.aws`, `regflow.local.server`, `regflow.cli`) read the environment once and hand each
layer only its own part.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Literal, TypeVar, cast
from urllib.parse import urlsplit

from regflow.domain import ConfigError, ConsentIp, Limit
from regflow.render import SUPPORTED_LANGUAGES

_E = TypeVar("_E", bound=StrEnum)


class ConfirmMode(StrEnum):
    LINK = "link"  # GET /confirm confirms (the seed's behaviour)
    BUTTON = "button"  # GET /confirm shows a button; only the POST confirms (scanner-safe)


# Defaults for the embedded mode (no AWS, one machine).
EMBEDDED_DEFAULTS: Mapping[str, str] = {
    "SENDER_EMAIL": "no-reply@localhost",
    "OWNER_EMAIL": "owner@localhost",
}


# --- one small settings object per layer; each layer is given only its own ------------------


@dataclass(frozen=True, slots=True)
class Rules:
    """The domain's rules (intake: register, confirm)."""

    token_ttl_hours: int = 24
    address_min_interval_seconds: int = 60
    address_limit_per_day: int = 5
    ip_limit_per_hour: int = 20
    blocked_email_domains: frozenset[str] = frozenset()
    default_language: str = "en"
    # CONFIRM_CODE: a 6-digit code beside the link (`tokens.confirmation_code`); at most
    # `code_max_tries` wrong codes per registration, then its code is dead (the link works)
    confirm_code: bool = True
    code_max_tries: int = 5
    # proof of consent: how much of the client address to keep, the consent text's version
    consent_ip: ConsentIp = ConsentIp.TRUNCATED
    consent_text_version: str = "1"
    # CHALLENGE=pow: POST /register needs a solved proof-of-work challenge (`challenge`);
    # CHALLENGE_DIFFICULTY is its maxnumber (ALTCHA): the browser tries half of it on average
    challenge: bool = False
    challenge_difficulty: int = 1_000_000

    @property
    def address_limit(self) -> Limit:
        return Limit(
            max_count=self.address_limit_per_day,
            window_seconds=24 * 3600,
            min_interval_seconds=self.address_min_interval_seconds,
        )

    @property
    def client_limit(self) -> Limit:
        return Limit(max_count=self.ip_limit_per_hour, window_seconds=3600)


@dataclass(frozen=True, slots=True)
class HttpEdge:
    """The HTTP layer's settings (`regflow.http`, `regflow.views`)."""

    success_url: str
    register_page_url: str = "/"
    confirm_mode: ConfirmMode = ConfirmMode.LINK
    trusted_proxies: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    origin_verify_secret: str | None = field(default=None, repr=False)
    site_name: str = "regflow"
    default_language: str = "en"
    templates_dir: Path | None = None  # an owner's catalog (and page template) overrides
    confirm_code: bool = True  # CONFIRM_CODE: POST /confirm-code, the registration cookie
    sender_email: str = ""  # named on the page after submitting (where the mail comes from)


@dataclass(frozen=True, slots=True)
class MailSettings:
    """What delivery needs to render and address messages (`regflow.delivery`)."""

    sender_email: str
    owner_email: str
    api_base_url: str
    site_name: str = "regflow"
    default_language: str = "en"
    token_ttl_hours: int = 24
    templates_dir: Path | None = None
    # MX_CHECK=on: before a verification mail, check that the address's domain can receive
    # mail (regflow.mail_domains); the template turns it on, embedded it is off unless asked
    mx_check: bool = False
    # OWNER_DIGEST: "off" (a mail per confirmation) or "daily" (one digest a day instead)
    owner_digest: str = "off"
    confirm_code: bool = True  # CONFIRM_CODE: the verification mail carries the code

    @property
    def confirm_url(self) -> str:
        return self.api_base_url.rstrip("/") + "/confirm"

    @property
    def erase_url(self) -> str:
        """The self-service erasure route (docs/erasure.md)."""
        return self.api_base_url.rstrip("/") + "/erase"


@dataclass(frozen=True, slots=True)
class EventSettings:
    """Where confirmations and erasures are published, on both runtimes (`regflow.domain.events`,
    docs/events.md): the owner's webhooks (`WEBHOOK_URL`, several separated by whitespace or
    commas; each POST signed with `WEBHOOK_SECRET`)."""

    webhook_urls: tuple[str, ...] = field(default=(), repr=False)  # may hold credentials
    webhook_secret: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class AwsWiring:
    """Where the AWS resources are (`regflow.aws`)."""

    table_name: str = "UserRegistrations"
    token_secret_arn: str | None = None
    # CloudWatch metrics as EMF lines on stdout (`regflow.metrics`): METRICS=emf (the template
    # sets it), named by METRICS_STACK (the stack). Off unless asked for.
    metrics: bool = False
    metrics_stack: str = ""
    # SES_CONFIGURATION_SET: every send goes through it (the stack's; its events come back to
    # the SES events function)
    ses_configuration_set: str | None = None
    # EventBridge (docs/events.md): the bus events go to (EVENT_BUS_NAME, the template sets it;
    # unset: no EventBridge events) and their `source` (EVENT_SOURCE, `regflow.<stack>`).
    event_bus_name: str | None = None
    event_source: str = "regflow"


@dataclass(frozen=True, slots=True)
class DatabaseUrl:
    """Where the embedded runtime keeps its state (`DATABASE_URL`): `sqlite:///path` (a file;
    relative paths are relative to the working directory) or `postgresql://...` (libpq's URL,
    passed on as given). Its repr never shows the URL (it may hold a password)."""

    kind: str  # "sqlite" or "postgresql"
    url: str = field(repr=False)
    path: Path | None = None  # the SQLite file


def parse_database_url(raw: str, name: str = "DATABASE_URL") -> DatabaseUrl:
    """`raw` checked; a bad value is a `ConfigError` naming `name` (never quoting the URL,
    which may hold a password)."""
    value = raw.strip()
    scheme, sep, rest = value.partition("://")
    scheme = scheme.lower()
    if sep and scheme == "sqlite":
        path = rest[1:] if rest.startswith("/") else rest
        if not path:
            raise ConfigError(f"{name} must name a file: sqlite:///relative/path or sqlite:////abs")
        return DatabaseUrl("sqlite", value, Path(path))
    if sep and scheme in ("postgresql", "postgres"):
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 (validates the port)
        except ValueError:
            raise ConfigError(f"{name} is not a valid postgresql:// URL") from None
        if not (parts.hostname or "host=" in parts.query):
            raise ConfigError(f"{name} must name a host: postgresql://user:password@host/db")
        return DatabaseUrl("postgresql", value)
    raise ConfigError(f"{name} must start with sqlite:/// or postgresql://")


@dataclass(frozen=True, slots=True)
class Embedded:
    """The embedded server's own settings (`regflow.local`)."""

    smtp_url: str | None = field(default=None, repr=False)
    # "full": every 2xx is on disk (fsynced, group commit); "normal": the old setting, which a
    # power loss can undo (the benchmark's baseline, an escape hatch)
    sqlite_durability: Literal["full", "normal"] = "full"
    database_url: DatabaseUrl | None = None  # None: SQLite in the data directory


TOKEN_SECRET_HEX = "hex:"  # noqa: S105 (a prefix, not a secret)


def token_secret_of(text: str) -> bytes:
    """`TOKEN_SECRET`: the key as text (its UTF-8 bytes), or `hex:` followed by the key's bytes
    in hex, the form of the generated `secret.key` (`TOKEN_SECRET=hex:$(cat secret.key)`): so
    every replica, and an installation moved to another machine or store, signs and checks
    with the key its links were mailed under."""
    if text.startswith(TOKEN_SECRET_HEX):
        try:
            key = bytes.fromhex(text[len(TOKEN_SECRET_HEX) :].strip())
        except ValueError:
            raise ConfigError(
                "TOKEN_SECRET=hex:... must be hex digits (the form of secret.key)"
            ) from None
        if len(key) < 32:
            raise ConfigError("TOKEN_SECRET=hex:... must hold at least 32 bytes (64 digits)")
        return key
    if len(text.encode()) < 32:
        raise ConfigError("TOKEN_SECRET must be at least 32 characters")
    return text.encode()


@dataclass(frozen=True, slots=True)
class Settings:
    """Every layer's settings, read once. Runtimes hand each layer its own part."""

    rules: Rules
    http: HttpEdge
    mail: MailSettings
    aws: AwsWiring
    embedded: Embedded
    token_secret: bytes | None = field(default=None, repr=False)
    log_level: str = "INFO"
    events: EventSettings = EventSettings()
    challenge_secret: bytes | None = field(default=None, repr=False)  # CHALLENGE_SECRET

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, *, defaults: Mapping[str, str] = {}
    ) -> Settings:
        """Read settings from `env` (default `os.environ`), falling back to `defaults`."""
        given = os.environ if env is None else env
        source = {**defaults, **{k: v for k, v in given.items() if v != ""}}
        reader = _Reader(source)
        secret = reader.optional("TOKEN_SECRET")
        token_secret = token_secret_of(secret) if secret is not None else None
        # the order of the docs' table: the first missing or bad variable is named
        sender = reader.email("SENDER_EMAIL")
        owner = reader.email("OWNER_EMAIL")
        api_base = reader.url("API_BASE_URL").rstrip("/")
        success_url = reader.url("SUCCESS_URL")
        site_name = reader.text("SITE_NAME", "regflow")
        language = reader.choice_of("DEFAULT_LANGUAGE", SUPPORTED_LANGUAGES, "en")
        ttl_hours = reader.integer("TOKEN_TTL_HOURS", 24, low=1, high=24 * 30)
        templates = reader.templates("TEMPLATES_DIR") if reader.optional("TEMPLATES_DIR") else None
        confirm_code = reader.choice_of("CONFIRM_CODE", ("on", "off"), "on") == "on"
        return cls(
            rules=Rules(
                token_ttl_hours=ttl_hours,
                address_min_interval_seconds=reader.integer(
                    "ADDRESS_MIN_INTERVAL_SECONDS", 60, low=0, high=86400
                ),
                address_limit_per_day=reader.integer("ADDRESS_LIMIT_PER_DAY", 5, low=0, high=10000),
                ip_limit_per_hour=reader.integer("IP_LIMIT_PER_HOUR", 20, low=0, high=1_000_000),
                blocked_email_domains=reader.domains("BLOCKED_EMAIL_DOMAINS"),
                default_language=language,
                confirm_code=confirm_code,
                consent_ip=reader.choice("CONSENT_IP", ConsentIp, ConsentIp.TRUNCATED),
                consent_text_version=reader.text("CONSENT_TEXT_VERSION", "1")[:64],
                challenge=reader.choice_of("CHALLENGE", ("off", "pow"), "off") == "pow",
                challenge_difficulty=reader.integer(
                    "CHALLENGE_DIFFICULTY", 1_000_000, low=1, high=10_000_000
                ),
            ),
            http=HttpEdge(
                success_url=success_url,
                register_page_url=reader.text("REGISTER_PAGE_URL", "/"),
                confirm_mode=reader.choice("CONFIRM_MODE", ConfirmMode, ConfirmMode.LINK),
                trusted_proxies=reader.networks("TRUSTED_PROXIES"),
                origin_verify_secret=reader.optional("ORIGIN_VERIFY_SECRET"),
                site_name=site_name,
                default_language=language,
                templates_dir=templates,
                confirm_code=confirm_code,
                sender_email=sender,
            ),
            mail=MailSettings(
                sender_email=sender,
                owner_email=owner,
                api_base_url=api_base,
                site_name=site_name,
                default_language=language,
                token_ttl_hours=ttl_hours,
                templates_dir=templates,
                mx_check=reader.choice_of("MX_CHECK", ("on", "off"), "off") == "on",
                owner_digest=reader.choice_of("OWNER_DIGEST", ("off", "daily"), "off"),
                confirm_code=confirm_code,
            ),
            aws=AwsWiring(
                table_name=reader.text("TABLE_NAME", "UserRegistrations"),
                token_secret_arn=reader.optional("TOKEN_SECRET_ARN"),
                metrics=reader.choice_of("METRICS", ("emf", "off"), "off") == "emf",
                metrics_stack=reader.text("METRICS_STACK", ""),
                ses_configuration_set=reader.optional("SES_CONFIGURATION_SET"),
                event_bus_name=reader.event_bus("EVENT_BUS_NAME"),
                event_source=reader.event_source("EVENT_SOURCE"),
            ),
            embedded=Embedded(
                smtp_url=reader.optional("SMTP_URL"),
                sqlite_durability=cast(
                    Literal["full", "normal"],
                    reader.choice_of("SQLITE_DURABILITY", ("full", "normal"), "full"),
                ),
                database_url=reader.database_url("DATABASE_URL"),
            ),
            token_secret=token_secret,
            log_level=reader.choice_text(
                "LOG_LEVEL", ("DEBUG", "INFO", "WARNING", "ERROR"), "INFO"
            ),
            events=reader.event_settings(),
            challenge_secret=_challenge_secret(reader),
        )


def _challenge_secret(reader: _Reader) -> bytes | None:
    value = reader.optional("CHALLENGE_SECRET")
    if value is not None and len(value.encode()) < 32:
        raise ConfigError("CHALLENGE_SECRET must be at least 32 characters")
    return value.encode() if value else None


class _Reader:
    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env

    def optional(self, name: str) -> str | None:
        value = self._env.get(name)
        return value.strip() if value is not None and value.strip() else None

    def required(self, name: str) -> str:
        value = self.optional(name)
        if value is None:
            raise ConfigError(f"{name} is required but not set")
        return value

    def text(self, name: str, default: str) -> str:
        return self.optional(name) or default

    def email(self, name: str) -> str:
        """An operator's address (sender, owner): a plain syntax check, so that start-up does
        not import `email-validator` (cold start; visitors' addresses get the full check)."""
        value = self.required(name)
        problem = _address_problem(value)
        if problem:
            raise ConfigError(f"{name} is not a valid email address ({problem})")
        local, _, domain = value.rpartition("@")
        return f"{local}@{domain.lower()}"

    def url(self, name: str) -> str:
        value = self.required(name)
        problem = f"{name} must be an absolute http(s) URL like https://example.com/path"
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 (parsing it raises for a bad port)
        except ValueError:
            raise ConfigError(problem) from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(problem)  # the value is not echoed: it may hold a password
        return value

    def integer(self, name: str, default: int, *, low: int, high: int) -> int:
        raw = self.optional(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
        if not low <= value <= high:
            raise ConfigError(f"{name} must be between {low} and {high}, got {value}")
        return value

    def choice(self, name: str, enum: type[_E], default: _E) -> _E:
        raw = self.optional(name)
        if raw is None:
            return default
        try:
            return enum(raw.lower())
        except ValueError:
            allowed = ", ".join(e.value for e in enum)
            raise ConfigError(f"{name} must be one of {allowed}, got {raw!r}") from None

    def choice_text(self, name: str, allowed: tuple[str, ...], default: str) -> str:
        raw = (self.optional(name) or default).upper()
        if raw not in allowed:
            raise ConfigError(f"{name} must be one of {', '.join(allowed)}, got {raw!r}")
        return raw

    def choice_of(self, name: str, allowed: tuple[str, ...], default: str) -> str:
        raw = (self.optional(name) or default).lower()
        if raw not in allowed:
            raise ConfigError(f"{name} must be one of {', '.join(allowed)}, got {raw!r}")
        return raw

    def database_url(self, name: str) -> DatabaseUrl | None:
        raw = self.optional(name)
        return None if raw is None else parse_database_url(raw, name)

    def event_settings(self) -> EventSettings:
        """WEBHOOK_URL (several: whitespace or commas between them) and WEBHOOK_SECRET."""
        raw = self.optional("WEBHOOK_URL") or ""
        urls: list[str] = []
        for number, part in enumerate(re.split(r"[\s,]+", raw.strip()), start=1):
            if not part:
                continue
            try:
                parts = urlsplit(part)
                parts.port  # noqa: B018 (parsing it raises for a bad port)
            except ValueError:
                parts = None
            if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
                # the value is not echoed: it may hold a credential
                raise ConfigError(f"WEBHOOK_URL entry {number} is not an absolute http(s) URL")
            if parts.scheme == "http" and not _is_loopback(parts.hostname):
                # a signed event carries names and addresses; Basic credentials ride along
                raise ConfigError(
                    f"WEBHOOK_URL entry {number} is http://: webhooks go to https:// only "
                    "(http:// only to this machine: localhost, 127.0.0.0/8, ::1)"
                )
            if part not in urls:
                urls.append(part)
        secret = self.optional("WEBHOOK_SECRET")
        # on AWS the key comes from Secrets Manager at run time (WEBHOOK_SECRET_ARN,
        # regflow.aws.secrets), filled in only for the functions that send webhooks
        if urls and secret is None and self.optional("WEBHOOK_SECRET_ARN") is None:
            raise ConfigError("WEBHOOK_SECRET is required when WEBHOOK_URL is set")
        if secret is not None and len(secret.encode()) < 32:
            raise ConfigError("WEBHOOK_SECRET must be at least 32 characters")
        return EventSettings(
            webhook_urls=tuple(urls), webhook_secret=secret.encode() if secret else None
        )

    def event_bus(self, name: str) -> str | None:
        value = self.optional(name)
        if value is not None and not _EVENT_BUS_RE.fullmatch(value):
            raise ConfigError(f"{name} must be an EventBridge bus name or ARN, got {value!r}")
        return value

    def event_source(self, name: str) -> str:
        value = self.text(name, "regflow")
        if not _EVENT_SOURCE_RE.fullmatch(value) or value.startswith("aws."):
            raise ConfigError(f"{name} must be like regflow.my-stack (not aws.*), got {value!r}")
        return value

    def directory(self, name: str) -> Path:
        path = Path(self.required(name))
        if not path.is_dir():
            raise ConfigError(f"{name} must name an existing directory, got {str(path)!r}")
        return path

    def templates(self, name: str) -> Path:
        """An owner's words and templates: templates are code, so a folder (or a file in it)
        that other users may write is refused, as a key file they may read is."""
        from regflow.render.templates import unsafe_override_path

        path = self.directory(name)
        found = unsafe_override_path(path)
        if found is not None and found[1] == "writable":
            raise ConfigError(
                f"{name}: {found[0]} can be written by other users (group or others); "
                f"run `chmod -R go-w {path}`"
            )
        if found is not None:
            raise ConfigError(f"{name}: cannot read {found[0]}")
        return path

    def domains(self, name: str) -> frozenset[str]:
        raw = self.optional(name) or ""
        return frozenset(d.strip().lower().lstrip("@") for d in raw.split(",") if d.strip())

    def networks(self, name: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        raw = self.optional(name) or ""
        nets = []
        for part in (p.strip() for p in raw.split(",")):
            if not part:
                continue
            try:
                nets.append(ipaddress.ip_network(part, strict=False))
            except ValueError:
                raise ConfigError(f"{name} has an invalid address or network: {part!r}") from None
        return tuple(nets)


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost" or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


_EVENT_BUS_RE = re.compile(
    r"(arn:aws[a-z-]*:events:[a-z0-9-]+:\d{12}:event-bus/)?[/.\-_A-Za-z0-9]{1,256}"
)
_EVENT_SOURCE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-/]{0,255}")
_LOCAL_RE = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_LABEL_RE = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


def _address_problem(value: str) -> str | None:
    """Why `value` is not a plain `local@domain` address (ASCII; an IDN domain in its
    xn-- form), or None. `localhost` is allowed as a domain (the embedded defaults)."""
    if len(value) > 254:
        return "longer than 254 characters"
    local, at, domain = value.rpartition("@")
    if not at or not local or not domain:
        return "it must look like name@example.com"
    if len(local) > 64 or not _LOCAL_RE.fullmatch(local):
        return "the part before the @ is not valid"
    labels = domain.split(".")
    if domain.lower() != "localhost" and (
        len(labels) < 2 or not all(_LABEL_RE.fullmatch(label) for label in labels)
    ):
        return "the domain is not valid"
    return None
