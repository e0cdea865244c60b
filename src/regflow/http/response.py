"""The response: what a view returns, and its API Gateway v2 form (`Response.to_event`).

Every answer carries `SECURITY_HEADERS`. `outcome` is what the metrics count for it (never
sent): the view's word for what happened (`accepted`, `confirmed`, ...)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

SECURITY_HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": (
        "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
HTML = "text/html; charset=utf-8"


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: str = ""
    content_type: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    cookies: tuple[str, ...] = ()  # Set-Cookie values
    outcome: str | None = None  # what the metrics count (not sent)

    def to_event(self) -> dict[str, Any]:
        """The Lambda proxy response (payload format 2.0)."""
        headers = dict(SECURITY_HEADERS)
        if self.content_type:
            headers["Content-Type"] = self.content_type
        headers.update(self.headers)
        out: dict[str, Any] = {"statusCode": self.status, "headers": headers, "body": self.body}
        if self.cookies:
            out["cookies"] = list(self.cookies)
        return out

    def counted(self, outcome: str) -> Response:
        return dataclasses.replace(self, outcome=outcome)

    def with_cookie(self, cookie: str) -> Response:
        return dataclasses.replace(self, cookies=(*self.cookies, cookie))


def json_response(status: int, payload: Mapping[str, Any], **headers: str) -> Response:
    return Response(status, json.dumps(payload), "application/json", headers)


def error(status: int, message: str, field: str | None = None, **headers: str) -> Response:
    payload = {"error": message} if field is None else {"error": message, "field": field}
    return json_response(status, payload, **headers)


def redirect(status: int, location: str) -> Response:
    return Response(status, headers={"Location": location})


def html(status: int, page: str, **headers: str) -> Response:
    return Response(status, page, HTML, headers)


def with_query(url: str, **params: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}{urlencode(params)}"
