"""The HTTP adapter: API Gateway HTTP API (payload format 2.0) events in, responses out.

The Lambda handlers and the embedded server both call these functions with the same event
shape, so local and AWS behaviour cannot drift. Errors map to HTTP by type, never by text, and
no response ever carries exception text.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import html
import ipaddress
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qs, urlencode

from regflow.config import ConfirmMode
from regflow.domain import ClientRateLimited, Outcome, StoreUnavailable, ValidationError
from regflow.logs import correlation_id
from regflow.service import RegistrationService

log = logging.getLogger("regflow.api")

Event = Mapping[str, Any]
Response = dict[str, Any]

MAX_BODY_BYTES = 16 * 1024
ACCEPTED_MESSAGE = (
    "Thanks! If this address can receive mail, a verification link is on its way. "
    "Please check your inbox."
)
SECURITY_HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": (
        "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
HONEYPOT_FIELD = "website"
METHOD_NOT_ALLOWED = "Method not allowed."
CONFIRM_FORM_ONLY = "Send the confirmation as application/x-www-form-urlencoded."


def _response(
    status: int, body: str = "", content_type: str | None = None, **extra: str
) -> Response:
    headers = dict(SECURITY_HEADERS)
    if content_type:
        headers["Content-Type"] = content_type
    headers.update(extra)
    return {"statusCode": status, "headers": headers, "body": body}


def json_response(status: int, payload: Mapping[str, Any], **extra: str) -> Response:
    return _response(status, json.dumps(payload), "application/json", **extra)


def error(status: int, message: str, field: str | None = None, **extra: str) -> Response:
    payload = {"error": message} if field is None else {"error": message, "field": field}
    return json_response(status, payload, **extra)


def redirect(status: int, location: str) -> Response:
    return _response(status, "", None, Location=location)


def with_query(url: str, **params: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}{urlencode(params)}"


class BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# --- request parsing --------------------------------------------------------------------


def headers_of(event: Event) -> dict[str, str]:
    raw = event.get("headers") or {}
    if not isinstance(raw, Mapping):
        return {}
    return {str(k).lower(): str(v) for k, v in raw.items()}


def body_bytes(event: Event) -> bytes:
    body = event.get("body")
    if body is None:
        return b""
    if not isinstance(body, str):
        raise BadRequest(400, "The request body could not be read.")
    if len(body) > MAX_BODY_BYTES * 2:  # cheap early bound before decoding
        raise BadRequest(413, "The request is too large.")
    if event.get("isBase64Encoded"):
        try:
            data = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise BadRequest(400, "The request body could not be read.") from None
    else:
        data = body.encode("utf-8", "surrogatepass")
    if len(data) > MAX_BODY_BYTES:
        raise BadRequest(413, "The request is too large.")
    return data


def media_type(headers: Mapping[str, str]) -> str:
    return headers.get("content-type", "").split(";", 1)[0].strip().lower()


def parse_form(data: bytes) -> dict[str, str]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest(400, "The form data is not valid UTF-8.") from None
    try:
        fields = parse_qs(text, keep_blank_values=True, max_num_fields=50)
    except ValueError:
        raise BadRequest(400, "The form has too many fields.") from None
    return {k: v[0] for k, v in fields.items()}


def parse_fields(event: Event) -> tuple[dict[str, Any], bool]:
    """The submitted fields and whether they came from a plain HTML form."""
    headers = headers_of(event)
    kind = media_type(headers)
    data = body_bytes(event)
    if kind == "application/json" or kind.endswith("+json"):
        try:
            payload = json.loads(data.decode("utf-8")) if data else None
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise BadRequest(400, "The request body is not valid JSON.") from None
        if not isinstance(payload, dict):
            raise BadRequest(400, "The request body must be a JSON object with name and email.")
        return payload, False
    if kind == "application/x-www-form-urlencoded":
        return parse_form(data), True
    raise BadRequest(415, "Send the form as application/json or application/x-www-form-urlencoded.")


def wants_html(event: Event) -> bool:
    return "text/html" in headers_of(event).get("accept", "")


VIEWER_ADDRESS_HEADER = "cloudfront-viewer-address"
ORIGIN_VERIFY_HEADER = "x-origin-verify"


def client_ip(event: Event, origin_verify_secret: str | None = None) -> str | None:
    """The client's IP address: the API Gateway source IP, or, for a request that provably came
    through our CloudFront distribution (it carries the origin-verify header CloudFront adds,
    whose value only the distribution and this function know), the viewer's address CloudFront
    reports. Behind CloudFront the source IP is an edge server's, shared by many visitors."""
    if origin_verify_secret:
        headers = headers_of(event)
        presented = headers.get(ORIGIN_VERIFY_HEADER, "")
        viewer = headers.get(VIEWER_ADDRESS_HEADER, "")
        if viewer and hmac.compare_digest(
            presented.encode("utf-8", "surrogatepass"),
            origin_verify_secret.encode("utf-8", "surrogatepass"),
        ):
            # "198.51.100.7:46532" or "2001:db8::7:46532": the address, then the source port
            host = viewer.rpartition(":")[0].strip("[]")
            try:
                return str(ipaddress.ip_address(host))
            except ValueError:
                pass
    ctx = event.get("requestContext")
    http = ctx.get("http") if isinstance(ctx, Mapping) else None
    ip = http.get("sourceIp") if isinstance(http, Mapping) else None
    return ip if isinstance(ip, str) and ip else None


def rate_limit_key(ip: str | None) -> str | None:
    """What the per-client limit counts: an IPv4 address, or an IPv6 /64 network (one
    subscriber usually holds a whole /64 and could otherwise rotate through its addresses)."""
    if ip is None:
        return None
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def query_param(event: Event, name: str) -> str | None:
    raw = event.get("rawQueryString")
    if isinstance(raw, str) and raw:
        try:
            values = parse_qs(raw, keep_blank_values=True, max_num_fields=50).get(name)
        except ValueError:  # more fields than any real link has: treat as absent
            return None
        return values[0] if values and len(values) == 1 else None
    params = event.get("queryStringParameters")
    if isinstance(params, Mapping):
        value = params.get(name)
        return value if isinstance(value, str) else None
    return None


def method_of(event: Event) -> str:
    ctx = event.get("requestContext")
    http = ctx.get("http") if isinstance(ctx, Mapping) else None
    method = http.get("method") if isinstance(http, Mapping) else None
    return method.upper() if isinstance(method, str) else "GET"


# --- handlers ---------------------------------------------------------------------------


def _guarded(event: Event, work: Callable[[], Response]) -> Response:
    """Correlation id, and the last line of defence: nothing unexpected leaks to a client."""
    ctx = event.get("requestContext")
    request_id = ctx.get("requestId") if isinstance(ctx, Mapping) else None
    token = correlation_id.set(request_id if isinstance(request_id, str) else None)
    try:
        return work()
    except BadRequest as exc:
        return error(exc.status, exc.message)
    except StoreUnavailable as exc:
        log.warning("store unavailable", extra={"retry_after": exc.retry_after})
        return error(
            503,
            "We are busy right now. Please try again shortly.",
            **{"Retry-After": str(exc.retry_after)},
        )
    except Exception:
        log.exception("unhandled error")
        return error(500, "Something went wrong on our side. Please try again later.")
    finally:
        correlation_id.reset(token)


def register(event: Event, service: RegistrationService) -> Response:
    """POST /register."""

    def work() -> Response:
        fields, from_form = parse_fields(event)
        html_client = from_form and wants_html(event)
        page = service.settings.register_page_url
        try:
            service.register(
                fields.get("name"),
                fields.get("email"),
                client_key=rate_limit_key(client_ip(event, service.settings.origin_verify_secret)),
                honeypot=fields.get(HONEYPOT_FIELD) or "",
            )
        except ValidationError as exc:
            if html_client:
                return redirect(303, with_query(page, status="error", field=exc.field))
            return error(400, exc.message, exc.field)
        except ClientRateLimited as exc:
            return error(
                429,
                "Too many sign-ups from your network. Please try again later.",
                **{"Retry-After": str(exc.retry_after)},
            )
        if from_form:
            return redirect(303, with_query(page, status="sent"))
        return json_response(202, {"message": ACCEPTED_MESSAGE})

    return _guarded(event, work)


def confirm(event: Event, service: RegistrationService) -> Response:
    """GET /confirm?token=... (and POST /confirm, the button of CONFIRM_MODE=button)."""

    def work() -> Response:
        success = service.settings.success_url
        method = method_of(event)
        if method == "HEAD":
            # HEAD never changes state (a link checker or prefetcher must not confirm), and
            # what GET would answer depends on the change: refuse it, touching nothing.
            return error(405, METHOD_NOT_ALLOWED, Allow="GET, POST")
        if method == "POST":
            kind = media_type(headers_of(event))
            if kind != "application/x-www-form-urlencoded" and (kind or event.get("body")):
                return error(415, CONFIRM_FORM_ONLY)  # a body is read only as a form
            try:
                token = parse_form(body_bytes(event)).get("token")
            except BadRequest:
                token = None
            outcome = service.confirm(token)
            return redirect(303, with_query(success, status=outcome.value))
        token = query_param(event, "token")
        if service.settings.confirm_mode is ConfirmMode.BUTTON:
            if token is None or service.check_token(token) is None:
                return redirect(302, with_query(success, status=Outcome.INVALID.value))
            return _response(200, confirm_page(token, service), "text/html; charset=utf-8")
        outcome = service.confirm(token)
        return redirect(302, with_query(success, status=outcome.value))

    return _guarded(event, work)


def confirm_page(token: str, service: RegistrationService) -> str:
    """The page of CONFIRM_MODE=button: GET changes nothing; the button POSTs the token."""
    # Relative: the page is served by /confirm itself, so the POST stays on whatever origin
    # (CloudFront domain, custom domain, localhost or 127.0.0.1) the visitor came in through,
    # which `form-action 'self'` requires.
    action = "confirm"
    site = html.escape(service.settings.site_name)
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Confirm your email - {site}</title>"
        '<link rel="stylesheet" href="/styles.css"></head><body><main class="card">'
        f"<h1>Confirm your email</h1><p>One more step to finish signing up for {site}.</p>"
        f'<form method="post" action="{action}">'
        f'<input type="hidden" name="token" value="{html.escape(token, quote=True)}">'
        '<button type="submit" id="confirm-button">Confirm my email</button>'
        "</form></main></body></html>"
    )
