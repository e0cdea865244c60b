"""HTTP in, the very API Gateway HTTP API v2 event the Lambda handlers get; their v2 response
back out as HTTP (the idea of AWS Chalice's local gateway), so local and AWS behaviour cannot
drift. Also the client address (`X-Forwarded-For` only from `TRUSTED_PROXIES`)."""

from __future__ import annotations

import base64
import ipaddress
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Scope

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_TEXT_TYPES = ("text/", "application/json", "application/x-www-form-urlencoded", "+json", "xml")


def _join(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    joined: dict[str, str] = {}
    for key, value in pairs:
        joined[key] = f"{joined[key]},{value}" if key in joined else value
    return joined


def _trusted(ip: str, proxies: Sequence[Network]) -> bool:
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(addr in net for net in proxies)


def source_ip(peer: str, forwarded_for: str | None, proxies: Sequence[Network]) -> str:
    """The client address: the socket peer, unless the peer is a trusted proxy; then the
    right-most hop of `X-Forwarded-For` that is not itself a trusted proxy."""
    if not forwarded_for or not _trusted(peer, proxies):
        return peer
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    for hop in reversed(hops):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return peer  # a malformed chain: trust none of it
        if not _trusted(hop, proxies):
            return hop
    return hops[0] if hops else peer


def _is_text(content_type: str) -> bool:
    kind = content_type.split(";", 1)[0].strip().lower()
    return not kind or any(t in kind for t in _TEXT_TYPES)


def build_event(
    scope: Scope, body: bytes, *, route_key: str, proxies: Sequence[Network] = ()
) -> dict[str, Any]:
    """The API Gateway HTTP API (payload format 2.0) event for one ASGI request."""
    method = str(scope["method"]).upper()
    path = str(scope["path"])
    raw_query = bytes(scope.get("query_string", b"")).decode("latin-1")
    header_pairs = [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in scope["headers"]]
    cookies = [
        c.strip() for k, v in header_pairs if k == "cookie" for c in v.split(";") if c.strip()
    ]
    headers = _join((k, v) for k, v in header_pairs if k != "cookie")
    client = scope.get("client")
    peer = str(client[0]) if client else "127.0.0.1"
    ip = source_ip(peer, headers.get("x-forwarded-for"), proxies)
    from urllib.parse import parse_qsl

    params = _join(parse_qsl(raw_query, keep_blank_values=True))
    request_id = str(uuid.uuid4())
    now_ms = int(time.time() * 1000)
    host = headers.get("host", "localhost")
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": raw_query,
        "headers": headers,
        "requestContext": {
            "accountId": "local",
            "apiId": "local",
            "domainName": host,
            "domainPrefix": host.split(".", 1)[0],
            "http": {
                "method": method,
                "path": path,
                "protocol": f"HTTP/{scope.get('http_version', '1.1')}",
                "sourceIp": ip,
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": request_id,
            "routeKey": route_key,
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now_ms / 1000)),
            "timeEpoch": now_ms,
        },
        "isBase64Encoded": False,
    }
    if cookies:
        event["cookies"] = cookies
    if params:
        event["queryStringParameters"] = params
    if body:
        text: str | None = None
        if _is_text(headers.get("content-type", "")):
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError:
                text = None
        if text is None:
            event["body"] = base64.b64encode(body).decode("ascii")
            event["isBase64Encoded"] = True
        else:
            event["body"] = text
    return event


def to_response(result: Mapping[str, Any], request_id: str) -> Response:
    """A v2 response dict (statusCode/headers/body/isBase64Encoded/cookies) as HTTP."""
    body = result.get("body") or ""
    data = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode("utf-8")
    response = Response(content=data, status_code=int(result.get("statusCode", 200)))
    for key, value in (result.get("headers") or {}).items():
        response.headers[str(key)] = str(value)
    for cookie in result.get("cookies") or ():
        response.headers.append("set-cookie", str(cookie))
    response.headers["x-request-id"] = request_id
    return response


class TooLarge(Exception):
    pass


class Disconnected(Exception):
    """The client went away (or the server's body read timeout closed the connection)."""


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refusing (without reading it whole) anything over `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise TooLarge
        except ValueError:
            raise TooLarge from None
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise TooLarge
            chunks.append(chunk)
    except ClientDisconnect:
        raise Disconnected from None
    return b"".join(chunks)


def host_name(host_header: str) -> str:
    """The name of a Host header: lowercased, without port or IPv6 brackets."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host
