"""The request: one typed, frozen view of an API Gateway HTTP API (payload format 2.0) event.

Built once per call (`Request.from_event`), whatever the event holds: it never raises. Header
names are lower-cased; the body is decoded on first use, within `MAX_BODY_BYTES`; the client's
address is decided here and nowhere else (`client_ip`); the request's language too
(`Request.language`). A request that cannot be read raises `BadRequest` where it is read.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
import json
from collections.abc import Mapping
from functools import cached_property
from typing import Any
from urllib.parse import parse_qs

from regflow.http.errors import BadRequest
from regflow.render import SUPPORTED_LANGUAGES, negotiate_language

MAX_BODY_BYTES = 16 * 1024
FORM = "application/x-www-form-urlencoded"
VIEWER_ADDRESS_HEADER = "cloudfront-viewer-address"
ORIGIN_VERIFY_HEADER = "x-origin-verify"
_MAX_FIELDS = 50


def shipped(value: object) -> str | None:
    """`value` if it is the code of a shipped language exactly (a link's `lang`), else None."""
    return value if isinstance(value, str) and value in SUPPORTED_LANGUAGES else None


def client_ip(
    headers: Mapping[str, str], source_ip: str | None, origin_verify_secret: str | None = None
) -> str | None:
    """The client's IP address: the API Gateway source IP, or, for a request that provably came
    through our CloudFront distribution (it carries the origin-verify header CloudFront adds,
    whose value only the distribution and this function know), the viewer's address CloudFront
    reports. Behind CloudFront the source IP is an edge server's, shared by many visitors."""
    if origin_verify_secret:
        viewer = headers.get(VIEWER_ADDRESS_HEADER, "")
        if viewer and from_origin(headers, origin_verify_secret):
            # "198.51.100.7:46532" or "2001:db8::7:46532": the address, then the source port
            host = viewer.rpartition(":")[0].strip("[]")
            try:
                return str(ipaddress.ip_address(host))
            except ValueError:
                pass
    return source_ip or None


def from_origin(headers: Mapping[str, str], origin_verify_secret: str) -> bool:
    """The request (`headers`, names lower-cased) carries the origin-verify value: it came
    through our CloudFront distribution (constant-time comparison)."""
    presented = headers.get(ORIGIN_VERIFY_HEADER, "")
    return hmac.compare_digest(
        presented.encode("utf-8", "surrogatepass"),
        origin_verify_secret.encode("utf-8", "surrogatepass"),
    )


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


def parse_form(data: bytes) -> dict[str, str]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest(400, "error.form.not_utf8") from None
    try:
        fields = parse_qs(text, keep_blank_values=True, max_num_fields=_MAX_FIELDS)
    except ValueError:
        raise BadRequest(400, "error.form.too_many_fields") from None
    return {k: v[0] for k, v in fields.items()}


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


_NOTHING: Mapping[str, object] = {}


class Request:
    """Frozen: every attribute is set once, here; what is derived (the body, the fields, the
    language) is computed on first use and kept. (A plain class, not a dataclass: building a
    dataclass costs a Lambda cold start a few milliseconds.)"""

    method: str  # upper-case; GET when the event names none
    path: str  # the route's path (`/confirm`)
    headers: Mapping[str, str]  # names lower-cased
    cookies: tuple[str, ...]  # `name=value` pairs: the event's `cookies`, else a Cookie header
    client_ip: str | None  # decided once: `client_ip`
    request_id: str | None
    default_language: str
    raw_query: str
    query_parameters: Mapping[str, object]
    raw_body: object  # the event's `body`, as it came
    base64: bool

    def __init__(
        self,
        *,
        method: str,
        path: str,
        headers: Mapping[str, str],
        cookies: tuple[str, ...] = (),
        client_ip: str | None = None,
        request_id: str | None = None,
        default_language: str = "en",
        raw_query: str = "",
        query_parameters: Mapping[str, object] = _NOTHING,
        raw_body: object = None,
        base64: bool = False,
    ) -> None:
        self.__dict__.update(
            method=method,
            path=path,
            headers=headers,
            cookies=cookies,
            client_ip=client_ip,
            request_id=request_id,
            default_language=default_language,
            raw_query=raw_query,
            query_parameters=query_parameters,
            raw_body=raw_body,
            base64=base64,
        )

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"a Request is frozen ({name})")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"a Request is frozen ({name})")

    def __repr__(self) -> str:  # never the body, the cookies or the headers (tokens, addresses)
        return f"Request({self.method} {self.path})"

    @classmethod
    def from_event(
        cls,
        event: Mapping[str, Any],
        *,
        origin_verify_secret: str | None = None,
        default_language: str = "en",
    ) -> Request:
        raw_headers = event.get("headers")
        headers = (
            {str(k).lower(): str(v) for k, v in raw_headers.items()}
            if isinstance(raw_headers, Mapping)
            else {}
        )
        ctx = _mapping(event.get("requestContext"))
        http = _mapping(ctx.get("http"))
        # the route key ("POST /register"; a path has no space) names the route; a request
        # with none ("$default") is taken by the path it was sent to
        route_key = event.get("routeKey")
        key_method, _, path = (route_key if isinstance(route_key, str) else "").rpartition(" ")
        if not path.startswith("/"):
            raw_path = event.get("rawPath")
            key_method, path = "", raw_path if isinstance(raw_path, str) else ""
        method = http.get("method")
        method = method.upper() if isinstance(method, str) else (key_method.upper() or "GET")
        raw_cookies = event.get("cookies")
        pairs = [str(c) for c in raw_cookies] if isinstance(raw_cookies, list) else []
        if not pairs:
            pairs = [p for p in headers.get("cookie", "").split(";") if p.strip()]
        source = http.get("sourceIp")
        request_id = ctx.get("requestId")
        raw_query = event.get("rawQueryString")
        return cls(
            method=method,
            path=path,
            headers=headers,
            cookies=tuple(p.strip() for p in pairs),
            client_ip=client_ip(
                headers, source if isinstance(source, str) else None, origin_verify_secret
            ),
            request_id=request_id if isinstance(request_id, str) else None,
            default_language=default_language,
            raw_query=raw_query if isinstance(raw_query, str) else "",
            query_parameters=_mapping(event.get("queryStringParameters")),
            raw_body=event.get("body"),
            base64=bool(event.get("isBase64Encoded")),
        )

    # --- the query and the cookies ---------------------------------------------------------

    def query(self, name: str) -> str | None:
        """The query parameter `name`; None when absent or given more than once."""
        if self.raw_query:
            try:
                values = parse_qs(self.raw_query, keep_blank_values=True, max_num_fields=50)
            except ValueError:  # more fields than any real link has: treat as absent
                return None
            found = values.get(name)
            return found[0] if found and len(found) == 1 else None
        value = self.query_parameters.get(name)
        return value if isinstance(value, str) else None

    def cookie(self, name: str) -> str | None:
        """The value of cookie `name`; None when absent or given twice."""
        found = [v for k, _, v in (p.partition("=") for p in self.cookies) if k == name]
        return found[0] if len(found) == 1 else None

    # --- what the client is and wants ------------------------------------------------------

    @property
    def media_type(self) -> str:
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()

    @property
    def is_form(self) -> bool:
        """A plain HTML form post (what a browser sends without JavaScript)."""
        return self.media_type == FORM

    @property
    def wants_html(self) -> bool:
        """A browser that navigated here: it takes a page, not JSON."""
        return "text/html" in self.headers.get("accept", "")

    @property
    def user_agent(self) -> str | None:
        return self.headers.get("user-agent")

    @property
    def rate_limit_key(self) -> str | None:
        return rate_limit_key(self.client_ip)

    @property
    def link_language(self) -> str | None:
        """The link's `lang` query parameter, when it names a shipped language exactly."""
        return shipped(self.query("lang"))

    @cached_property
    def language(self) -> str:
        """The language of every answer: the link's `lang` (query), else a posted `lang`
        field, else the best match of Accept-Language, else `DEFAULT_LANGUAGE`."""
        explicit: object = self.link_language
        if explicit is None and self.method == "POST":
            try:
                explicit = self.fields[0].get("lang")
            except BadRequest:  # unreadable: its error is answered in the header's language
                explicit = None
        return negotiate_language(
            explicit, self.headers.get("accept-language"), self.default_language
        )

    # --- the body --------------------------------------------------------------------------

    @property
    def has_body(self) -> bool:
        return bool(self.raw_body)

    @cached_property
    def body(self) -> bytes:
        """The body's bytes (base64 decoded when the event says so), at most `MAX_BODY_BYTES`."""
        body = self.raw_body
        if body is None:
            return b""
        if not isinstance(body, str):
            raise BadRequest(400, "error.body.unreadable")
        if len(body) > MAX_BODY_BYTES * 2:  # cheap early bound before decoding
            raise BadRequest(413, "error.body.too_large")
        if self.base64:
            try:
                data = base64.b64decode(body, validate=True)
            except (binascii.Error, ValueError):
                raise BadRequest(400, "error.body.unreadable") from None
        else:
            data = body.encode("utf-8", "surrogatepass")
        if len(data) > MAX_BODY_BYTES:
            raise BadRequest(413, "error.body.too_large")
        return data

    @cached_property
    def fields(self) -> tuple[dict[str, Any], bool]:
        """The submitted fields (a JSON object or a form) and whether they came from a form."""
        kind = self.media_type
        data = self.body
        if kind == "application/json" or kind.endswith("+json"):
            try:
                payload = json.loads(data.decode("utf-8")) if data else None
            except (UnicodeDecodeError, ValueError, RecursionError):
                raise BadRequest(400, "error.json.invalid") from None
            if not isinstance(payload, dict):
                raise BadRequest(400, "error.json.not_object")
            return payload, False
        if kind == FORM:
            return parse_form(data), True
        raise BadRequest(415, "error.media_type")

    def form_only(self) -> dict[str, str]:
        """The body read only as a form (a page's button): 415 for any other body; an
        unreadable form is an empty one, but one too large to read is refused (413)."""
        kind = self.media_type
        if kind != FORM and (kind or self.has_body):
            raise BadRequest(415, "error.confirm.form_only")
        try:
            return parse_form(self.body)
        except BadRequest as exc:
            if exc.status == 413:  # too large to read: as /register and the gateway
                raise
            return {}
