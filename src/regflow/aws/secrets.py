"""The functions' secrets, read from Secrets Manager at run time, never from the environment.

The template gives each function the ARNs of the secrets its path needs, never their values
(an environment is readable by anyone with `lambda:GetFunctionConfiguration`, and a value
resolved at deploy time is never re-read after a rotation):

- `ORIGIN_VERIFY_SECRET_ARN` -> `ORIGIN_VERIFY_SECRET`: register, confirm, erase (the gate);
- `CHALLENGE_SECRET_ARN` -> `CHALLENGE_SECRET`: register, confirm;
- `WEBHOOK_SECRET_ARN` -> `WEBHOOK_SECRET`: mail sender, recovery (only with webhooks);
- `TOKEN_SECRET_ARN` -> `TOKEN_SECRET`: confirm, erase, mail sender, recovery.

`Cache(env, fetch, only=...)` fetches a function's values from their ARNs (one GetSecretValue
per secret, on the function's first use: `Settings.from_env` then reads them as it reads a
value given directly) and keeps them `ttl` seconds: after that the next
invocation reads them again and, when one changed (a rotation), the function's objects are
built anew (`regflow.aws.wiring`). A value given directly (`TOKEN_SECRET`, tests, the embedded
server) wins over its ARN and is never fetched.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection, Mapping

from regflow.domain import ConfigError, StoreUnavailable

log = logging.getLogger("regflow.aws")

# the value's variable -> the variable holding its secret's ARN
ARN_VARIABLES: Mapping[str, str] = {
    "ORIGIN_VERIFY_SECRET": "ORIGIN_VERIFY_SECRET_ARN",
    "CHALLENGE_SECRET": "CHALLENGE_SECRET_ARN",
    "WEBHOOK_SECRET": "WEBHOOK_SECRET_ARN",
    "TOKEN_SECRET": "TOKEN_SECRET_ARN",
}
TTL_SECONDS = 300.0  # a rotated secret is in use everywhere within five minutes

Fetch = Callable[[str], str]


def wanted(env: Mapping[str, str], only: Collection[str] | None = None) -> dict[str, str]:
    """The values to fetch: variable -> ARN, for each ARN set whose value is not given (of
    the variables `only`, when given: what the function's path uses)."""
    arns = {  # each read by its name (docs/configuration.md lists them)
        "ORIGIN_VERIFY_SECRET": env.get("ORIGIN_VERIFY_SECRET_ARN", ""),
        "CHALLENGE_SECRET": env.get("CHALLENGE_SECRET_ARN", ""),
        "WEBHOOK_SECRET": env.get("WEBHOOK_SECRET_ARN", ""),
        "TOKEN_SECRET": env.get("TOKEN_SECRET_ARN", ""),
    }
    assert set(arns) == set(ARN_VARIABLES)
    out = {}
    for variable, raw in arns.items():
        if only is not None and variable not in only:
            continue
        arn = raw.strip()
        if arn and not env.get(variable, "").strip():
            if variable == "WEBHOOK_SECRET" and not env.get("WEBHOOK_URL", "").strip():
                continue  # no webhooks: their key is never needed
            out[variable] = arn
    return out


def fetch_all(
    env: Mapping[str, str], fetch: Fetch, only: Collection[str] | None = None
) -> dict[str, str]:
    """The values of `wanted(env, only)`, fetched now."""
    return {variable: fetch(arn) for variable, arn in wanted(env, only).items()}


def secrets_manager_fetch(client: Callable[[], object]) -> Fetch:
    """GetSecretValue of an ARN with the (lazily created) Secrets Manager client; throttled
    or unreachable: StoreUnavailable (the caller answers 503 or retries)."""

    def fetch(arn: str) -> str:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = client().get_secret_value(SecretId=arn)  # type: ignore[attr-defined]
        except (ClientError, BotoCoreError) as exc:
            raise StoreUnavailable(1) from exc
        text = response.get("SecretString")
        if not text:
            raise ConfigError(f"the secret {arn.rsplit(':', 1)[-1]} has no text value")
        return str(text)

    return fetch


def _now() -> float:
    return time.monotonic()


class Cache:
    """The fetched values of one function, kept `ttl` seconds. `current()` gives them,
    fetching them first when there are none or they are older than `ttl`; a failed re-read
    keeps the old values (logged) and is tried again on the next call."""

    def __init__(
        self,
        env: Mapping[str, str],
        fetch: Fetch,
        *,
        only: Collection[str] | None = None,
        ttl: float | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._env = env
        self._only = only
        self._ttl = TTL_SECONDS if ttl is None else ttl
        self._lock = threading.Lock()
        self._fetch = fetch
        self._clock = clock
        self._values: dict[str, str] | None = None
        self._at = 0.0

    def current(self) -> dict[str, str]:
        now = (self._clock or _now)()
        if self._values is not None and now - self._at < self._ttl:
            return self._values
        with self._lock:
            if self._values is not None and now - self._at < self._ttl:
                return self._values
            return self._refresh(now)

    def _refresh(self, now: float) -> dict[str, str]:
        try:
            values = fetch_all(self._env, self._fetch, self._only)
        except StoreUnavailable:
            if self._values is None:
                raise
            log.warning("secrets not re-read (Secrets Manager unavailable): keeping them")
            return self._values
        if self._values is not None and values != self._values:
            log.info("a secret changed (rotated): the function's objects are rebuilt")
        self._values, self._at = values, now
        return values


def with_secrets(env: Mapping[str, str], values: Mapping[str, str]) -> dict[str, str]:
    """`env` with the fetched values filled in (what `Settings.from_env` reads)."""
    return {**env, **values}
