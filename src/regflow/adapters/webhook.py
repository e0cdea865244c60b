"""Webhooks: each event as an HTTP POST of a JSON body to one of the owner's `WEBHOOK_URL`s,
signed with HMAC-SHA256 under `WEBHOOK_SECRET` (scheme and verification: docs/events.md).

Headers:

- `Regflow-Event-Id`: the idempotency id (the same on every retry and every target);
- `Regflow-Event-Type`: `registration.confirmed` or `registration.erased`;
- `Regflow-Signature`: `t=<unix seconds>,v1=<hex>,v2=<hex>`:
  - `v2`: HMAC-SHA256 under the URL's own secret (`url_secret`: derived from `WEBHOOK_SECRET`
    and the URL) of `"<t>.<url>."` + body, the URL as configured less `user:password@` and
    `#fragment` (`public_url`): a receiver holds only its own secret, and a POST signed for
    one URL does not verify at another;
  - `v1` (kept for one release): HMAC-SHA256 under `WEBHOOK_SECRET` of `"<t>."` + body.

Failures are judged by the HTTP status, never by text (`classify`): a time-out, a refused
connection, 408, 429 and 5xx are transient (retried, then parked); any other answer that is not
2xx (4xx, a redirect) is the owner's to fix (parked, retried from there, never dropped).
Redirects are not followed (a POST is never turned into a GET, nor sent on elsewhere).

Each POST has a wall-clock deadline (`DEADLINE_SECONDS`, connection to the end of the answer's
first 4 KiB): a receiver that dribbles its answer a byte at a time is cut off then, like one
that does not answer at all (every socket operation also has its own `TIMEOUT_SECONDS`). A URL
with credentials (`https://user:pass@host/hook`) sends them as `Authorization: Basic`, never in
the request line. Every client error is a delivery failure, and no log line, error text or
exception chain carries the URL (it may hold a credential): only the error's type.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import http.client
import json
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from urllib.parse import unquote, urlsplit, urlunsplit

from regflow.domain import DeliveryError, Event, FailureClass, webhook_target

log = logging.getLogger("regflow.webhook")

SIGNATURE_HEADER = "Regflow-Signature"
EVENT_ID_HEADER = "Regflow-Event-Id"
EVENT_TYPE_HEADER = "Regflow-Event-Type"
TIMEOUT_SECONDS = 5.0  # each socket operation (connect, one read, one write)
DEADLINE_SECONDS = 10.0  # the whole POST, wall clock (regflow.aws.budget counts it)
TOLERANCE_SECONDS = 300  # what `verify` accepts between the signature's time and now
ANSWER_BYTES = 4096  # what is read of an answer's body


def body_of(event: Event) -> bytes:
    """The POST body (docs/events.md): compact JSON, keys sorted."""
    payload = {"id": event.id, "type": event.type, "time": event.time, "data": event.detail}
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()


def public_url(url: str) -> str:
    """The URL as configured, less `user:password@` and `#fragment`: what `v2` signs, and
    what its secret is derived from (docs/events.md)."""
    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme.lower(), netloc, parts.path, parts.query, ""))


def url_secret(secret: bytes, url: str) -> bytes:
    """The `v2` key of one webhook URL: the hex HMAC-SHA256 of `public_url(url)` under
    `WEBHOOK_SECRET`, as 64 ASCII bytes (`printf %s URL | openssl dgst -sha256 -hmac SECRET`)."""
    return hmac.new(secret, public_url(url).encode(), hashlib.sha256).hexdigest().encode()


def signature(secret: bytes, timestamp: int, body: bytes) -> str:
    """`v1` (one release more): under `WEBHOOK_SECRET`, over `<t>.` + body."""
    return hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_v2(key: bytes, timestamp: int, url: str, body: bytes) -> str:
    """`v2`: under the URL's own secret (`url_secret`), over `<t>.<public url>.` + body."""
    signed = f"{timestamp}.{public_url(url)}.".encode() + body
    return hmac.new(key, signed, hashlib.sha256).hexdigest()


def signature_header(secret: bytes, timestamp: int, body: bytes, url: str | None = None) -> str:
    """`t=...,v1=...` and, for a URL, `,v2=...`."""
    header = f"t={timestamp},v1={signature(secret, timestamp, body)}"
    if url is not None:
        header += f",v2={signature_v2(url_secret(secret, url), timestamp, url, body)}"
    return header


def _timestamp(parts: dict[str, str], now: float, tolerance: int) -> int | None:
    stamp = parts.get("t", "")
    if not (stamp.isascii() and stamp.isdigit()):  # "²".isdigit() is True, int("²") raises
        return None
    timestamp = int(stamp)
    return timestamp if abs(now - timestamp) <= tolerance else None


def _parts(header: str) -> dict[str, str]:
    return dict(p.split("=", 1) for p in header.split(",") if "=" in p)


def _same(given: str, expected: str) -> bool:
    # bytes: compare_digest raises TypeError for a str that is not ASCII
    return hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode())


def verify(
    secret: bytes, header: str, body: bytes, *, now: float, tolerance: int = TOLERANCE_SECONDS
) -> bool:
    """`v1`, as a receiver checks it (False, never an exception, for any header)."""
    parts = _parts(header)
    timestamp = _timestamp(parts, now, tolerance)
    if timestamp is None:
        return False
    return _same(parts.get("v1", ""), signature(secret, timestamp, body))


def verify_v2(
    key: bytes,
    url: str,
    header: str,
    body: bytes,
    *,
    now: float,
    tolerance: int = TOLERANCE_SECONDS,
) -> bool:
    """`v2`, as a receiver checks it with its own key (docs/events.md has it in ten lines)."""
    parts = _parts(header)
    timestamp = _timestamp(parts, now, tolerance)
    if timestamp is None:
        return False
    return _same(parts.get("v2", ""), signature_v2(key, timestamp, url, body))


def classify(status: int) -> FailureClass:
    if status in (408, 429) or status >= 500:
        return FailureClass.TRANSIENT
    return FailureClass.ACCOUNT  # 3xx, 4xx: the owner fixes the URL or the receiver


class _Target:
    """One webhook URL, taken apart once: where to connect, what to ask for, and the Basic
    credentials of its `user:password@` (sent as a header, never in the request line)."""

    __slots__ = ("authorization", "host", "https", "path", "port", "url")

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.https = parts.scheme.lower() == "https"
        self.host = parts.hostname or ""
        self.port = parts.port
        self.path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.authorization: str | None = None
        if parts.username is not None or parts.password is not None:
            pair = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}"
            self.authorization = "Basic " + base64.b64encode(pair.encode("utf-8")).decode()
        self.url = url


class _Deadline:
    """Cuts a connection's socket when the wall-clock deadline passes: a read or write that
    blocks then fails at once, whatever the per-operation time-out."""

    def __init__(self, connection: http.client.HTTPConnection, seconds: float) -> None:
        self.passed = threading.Event()
        self._connection = connection
        self._timer = threading.Timer(seconds, self._cut)
        self._timer.daemon = True

    def _cut(self) -> None:
        self.passed.set()
        sock = self._connection.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> _Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()

    def check(self) -> None:
        if self.passed.is_set():
            raise TimeoutError


class WebhookChannel:
    """`EventChannel` for webhooks: the target names the URL (`webhook_target`)."""

    def __init__(
        self,
        urls: Iterable[str],
        secret: bytes,
        *,
        timeout: float = TIMEOUT_SECONDS,
        deadline: float = DEADLINE_SECONDS,
        now: Callable[[], float] = time.time,
    ) -> None:
        self._urls = {webhook_target(url): _Target(url) for url in urls}
        self._secret = secret
        self._timeout = timeout
        self._deadline = deadline
        self._now = now
        self._tls = ssl.create_default_context()

    @property
    def targets(self) -> tuple[str, ...]:
        return tuple(self._urls)

    def publish(self, event: Event) -> bool:
        target = self._urls.get(event.target)
        if target is None:
            log.warning("webhook no longer configured; event not sent", extra={"id": event.id})
            return False
        body = body_of(event)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "regflow-webhook",
            EVENT_ID_HEADER: event.id,
            EVENT_TYPE_HEADER: event.type,
            SIGNATURE_HEADER: signature_header(
                self._secret, int(self._now()), body, url=target.url
            ),
        }
        if target.authorization is not None:
            headers["Authorization"] = target.authorization
        try:
            status = self._post(target, headers, body)
        except Exception as exc:  # every client error is a failed delivery
            code = "Deadline" if isinstance(exc, _DeadlinePassed) else type(exc).__name__
            # no `from exc`: its text (and its chain's) may hold the URL and its credentials
            raise DeliveryError(
                f"webhook unreachable ({code})", failure=FailureClass.TRANSIENT, code=code
            ) from None
        if 200 <= status < 300:
            return True
        raise DeliveryError(
            f"webhook answered HTTP {status}", failure=classify(status), code=f"HTTP{status}"
        )

    def _post(self, target: _Target, headers: dict[str, str], body: bytes) -> int:
        timeout = min(self._timeout, self._deadline)
        connection: http.client.HTTPConnection
        if target.https:
            connection = http.client.HTTPSConnection(
                target.host, target.port, timeout=timeout, context=self._tls
            )
        else:
            connection = http.client.HTTPConnection(target.host, target.port, timeout=timeout)
        try:
            with _Deadline(connection, self._deadline) as deadline:
                try:
                    connection.connect()
                    deadline.check()
                    connection.request("POST", target.path, body=body, headers=headers)
                    response = connection.getresponse()
                except Exception:
                    if deadline.passed.is_set():
                        raise _DeadlinePassed from None
                    raise
                status = int(response.status)
                # the answer is in: a body that dribbles or breaks changes nothing
                with contextlib.suppress(Exception):
                    response.read(ANSWER_BYTES)
                return status
        finally:
            connection.close()


class _DeadlinePassed(Exception):
    """The POST's wall-clock deadline passed."""
