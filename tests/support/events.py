"""Faithful API Gateway HTTP API (payload format 2.0) request events for tests.

Shapes follow the AWS documentation of the Lambda proxy integration, format 2.0: header
names arrive lowercased, repeated headers and query parameters are joined with commas,
`rawQueryString` keeps the query exactly as sent, and cookies move to `cookies`.
"""

from __future__ import annotations

import base64 as b64
import re
import secrets
import time
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

API_ID = "abc123defg"
DOMAIN = f"{API_ID}.execute-api.us-east-1.amazonaws.com"
DEFAULT_USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) regflow-tests"

QueryArg = str | Mapping[str, str] | Iterable[tuple[str, str]]


def _query_pairs(query: QueryArg | None) -> tuple[str, list[tuple[str, str]]]:
    if query is None:
        return "", []
    if isinstance(query, str):
        raw = query.lstrip("?")
        return raw, parse_qsl(raw, keep_blank_values=True)
    pairs = list(query.items()) if isinstance(query, Mapping) else list(query)
    return urlencode(pairs, quote_via=quote), pairs


def http_event(
    method: str,
    path: str,
    *,
    body: str | bytes | None = None,
    headers: Mapping[str, str] | None = None,
    query: QueryArg | None = None,
    source_ip: str = "203.0.113.10",
    base64: bool = False,
) -> dict[str, Any]:
    """One v2 event for `method path`. `query` may be a raw string ("a=1&a=2"), a mapping or
    a list of pairs (duplicates allowed). `body` bytes are sent base64-encoded (as API Gateway
    does for binary media); `base64=True` forces encoding of a str body too."""
    method = method.upper()
    raw_query, pairs = _query_pairs(query)
    params: dict[str, str] = {}
    for key, value in pairs:
        params[key] = f"{params[key]},{value}" if key in params else value

    lowered: dict[str, str] = {}
    cookies: list[str] = []
    sent = {
        "accept": "*/*",
        "host": DOMAIN,
        "user-agent": DEFAULT_USER_AGENT,
        "x-amzn-trace-id": f"Root=1-{int(time.time()):08x}-{secrets.token_hex(12)}",
        "x-forwarded-for": source_ip,
        "x-forwarded-port": "443",
        "x-forwarded-proto": "https",
    }
    for key, value in (headers or {}).items():
        sent[key.lower()] = value  # a caller's header replaces the default of the same name
    for key, value in sent.items():
        if key == "cookie":
            cookies.extend(c.strip() for c in value.split(";") if c.strip())
            continue
        lowered[key] = f"{lowered[key]},{value}" if key in lowered else value

    encoded = base64 or isinstance(body, bytes)
    if body is None:
        body_value: str | None = None
    elif isinstance(body, bytes):
        body_value = b64.b64encode(body).decode("ascii")
    elif base64:
        body_value = b64.b64encode(body.encode("utf-8")).decode("ascii")
    else:
        body_value = body
    if body_value is not None and "content-length" not in lowered:
        raw_body = body if isinstance(body, bytes) else str(body).encode("utf-8")
        lowered["content-length"] = str(len(raw_body))

    now_ms = int(time.time() * 1000)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": f"{method} {path}",
        "rawPath": path,
        "rawQueryString": raw_query,
        "headers": lowered,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": API_ID,
            "domainName": DOMAIN,
            "domainPrefix": API_ID,
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": lowered.get("user-agent", DEFAULT_USER_AGENT),
            },
            "requestId": b64.b64encode(secrets.token_bytes(11)).decode("ascii"),
            "routeKey": f"{method} {path}",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now_ms / 1000)),
            "timeEpoch": now_ms,
        },
        "isBase64Encoded": encoded if body_value is not None else False,
    }
    if cookies:
        event["cookies"] = cookies
    if params:
        event["queryStringParameters"] = params
    if body_value is not None:
        event["body"] = body_value
    return event


def json_post(path: str, payload: Any, **kwargs: Any) -> dict[str, Any]:
    """POST with a JSON body (payload serialised with `json.dumps`)."""
    import json

    headers = {"content-type": "application/json", **kwargs.pop("headers", {})}
    return http_event("POST", path, body=json.dumps(payload), headers=headers, **kwargs)


def form_post(path: str, fields: Mapping[str, str], **kwargs: Any) -> dict[str, Any]:
    """POST of an HTML form (urlencoded), as a browser sends it."""
    headers = {
        "content-type": "application/x-www-form-urlencoded",
        "accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        **kwargs.pop("headers", {}),
    }
    return http_event("POST", path, body=urlencode(fields), headers=headers, **kwargs)


def say(key: str, lang: str = "en", **params: object) -> str:
    """A message of the shipped catalog, as the API answers it."""
    from regflow.render.catalog import Catalog

    return Catalog().text(key, lang, **params)


ACCEPTED = say("api.accepted")


_HANDLE = re.compile(r"regflow_reg=[A-Za-z0-9_-]+;")


def public_answer(response: dict[str, Any]) -> dict[str, Any]:
    """A register answer with its registration cookie's value set aside: every accepted post
    gets a fresh random handle (CONFIRM_CODE), the one part of two answers that may differ."""
    cookies = [_HANDLE.sub("regflow_reg=HANDLE;", c) for c in response.get("cookies") or ()]
    return {**response, "cookies": cookies} if "cookies" in response else response
