"""Webhooks: each event as an HTTP POST of a JSON body to one of the owner's `WEBHOOK_URL`s,
signed with HMAC-SHA256 under `WEBHOOK_SECRET` (scheme and verification: docs/events.md).

Headers:

- `Regflow-Event-Id`: the idempotency id (the same on every retry and every target);
- `Regflow-Event-Type`: `registration.confirmed` or `registration.erased`;
- `Regflow-Signature`: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>." + body>`.

Failures are judged by the HTTP status, never by text (`classify`): a time-out, a refused
connection, 408, 429 and 5xx are transient (retried, then parked); any other answer that is not
2xx (4xx, a redirect) is the owner's to fix (parked, retried from there, never dropped).
Redirects are not followed (a POST is never turned into a GET, nor sent on elsewhere).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from typing import Any

from regflow.domain import DeliveryError, Event, FailureClass, webhook_target

log = logging.getLogger("regflow.webhook")

SIGNATURE_HEADER = "Regflow-Signature"
EVENT_ID_HEADER = "Regflow-Event-Id"
EVENT_TYPE_HEADER = "Regflow-Event-Type"
TIMEOUT_SECONDS = 5.0
TOLERANCE_SECONDS = 300  # what `verify` accepts between the signature's time and now


def body_of(event: Event) -> bytes:
    """The POST body (docs/events.md): compact JSON, keys sorted."""
    payload = {"id": event.id, "type": event.type, "time": event.time, "data": event.detail}
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()


def signature(secret: bytes, timestamp: int, body: bytes) -> str:
    return hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(secret: bytes, timestamp: int, body: bytes) -> str:
    return f"t={timestamp},v1={signature(secret, timestamp, body)}"


def verify(
    secret: bytes, header: str, body: bytes, *, now: float, tolerance: int = TOLERANCE_SECONDS
) -> bool:
    """What a receiver does (docs/events.md has the same in ten lines)."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance:
        return False
    return hmac.compare_digest(parts.get("v1", ""), signature(secret, timestamp, body))


def classify(status: int) -> FailureClass:
    if status in (408, 429) or status >= 500:
        return FailureClass.TRANSIENT
    return FailureClass.ACCOUNT  # 3xx, 4xx: the owner fixes the URL or the receiver


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # the 3xx surfaces as an HTTPError


class WebhookChannel:
    """`EventChannel` for webhooks: the target names the URL (`webhook_target`)."""

    def __init__(
        self,
        urls: Iterable[str],
        secret: bytes,
        *,
        timeout: float = TIMEOUT_SECONDS,
        now: Callable[[], float] = time.time,
    ) -> None:
        self._urls = {webhook_target(url): url for url in urls}
        self._secret = secret
        self._timeout = timeout
        self._now = now
        self._opener = urllib.request.build_opener(_NoRedirect())

    @property
    def targets(self) -> tuple[str, ...]:
        return tuple(self._urls)

    def publish(self, event: Event) -> bool:
        url = self._urls.get(event.target)
        if url is None:
            log.warning("webhook no longer configured; event not sent", extra={"id": event.id})
            return False
        body = body_of(event)
        # S310: WEBHOOK_URL is checked to be http(s) at start-up (regflow.config)
        request = urllib.request.Request(  # noqa: S310
            url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "User-Agent": "regflow-webhook",
                EVENT_ID_HEADER: event.id,
                EVENT_TYPE_HEADER: event.type,
                SIGNATURE_HEADER: signature_header(self._secret, int(self._now()), body),
            },
        )
        try:
            with self._opener.open(request, timeout=self._timeout) as response:
                response.read(4096)
                status = int(response.status)
        except urllib.error.HTTPError as exc:
            status = int(exc.code)
            exc.close()
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise DeliveryError(
                f"webhook unreachable ({type(exc).__name__})",
                failure=FailureClass.TRANSIENT,
                code=type(exc).__name__,
            ) from exc
        if 200 <= status < 300:
            return True
        raise DeliveryError(
            f"webhook answered HTTP {status}", failure=classify(status), code=f"HTTP{status}"
        )
