"""The HTTP adapter: API Gateway HTTP API (payload format 2.0) events in, responses out.

The Lambda handlers and the embedded server both call `HttpApi` with the same event shape, so
local and AWS behaviour cannot drift. Errors map to HTTP by type, never by text, and no
response ever carries exception text; every word comes from the message catalog.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
import json
import logging
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode

from regflow.config import ConfirmMode, HttpEdge
from regflow.domain import (
    ClientRateLimited,
    Consent,
    Outcome,
    StoreUnavailable,
    ValidationError,
)
from regflow.domain.challenge import FIELD as CHALLENGE_FIELD
from regflow.intake import IntakeService
from regflow.logs import correlation_id
from regflow.metrics import NO_METRICS, Metrics, outcome_metric, status_class
from regflow.render import SUPPORTED_LANGUAGES, negotiate_language
from regflow.render.catalog import Catalog
from regflow.tokens import open_handle, read_handle, seal_handle

if TYPE_CHECKING:
    from regflow.render.templates import Renderer

log = logging.getLogger("regflow.api")

Event = Mapping[str, Any]
Response = dict[str, Any]

MAX_BODY_BYTES = 16 * 1024
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
    """A request that cannot be taken as it is; `key` names its message in the catalog."""

    def __init__(self, status: int, key: str) -> None:
        super().__init__(key)
        self.status = status
        self.key = key


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
        raise BadRequest(400, "error.body.unreadable")
    if len(body) > MAX_BODY_BYTES * 2:  # cheap early bound before decoding
        raise BadRequest(413, "error.body.too_large")
    if event.get("isBase64Encoded"):
        try:
            data = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise BadRequest(400, "error.body.unreadable") from None
    else:
        data = body.encode("utf-8", "surrogatepass")
    if len(data) > MAX_BODY_BYTES:
        raise BadRequest(413, "error.body.too_large")
    return data


def media_type(headers: Mapping[str, str]) -> str:
    return headers.get("content-type", "").split(";", 1)[0].strip().lower()


def parse_form(data: bytes) -> dict[str, str]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest(400, "error.form.not_utf8") from None
    try:
        fields = parse_qs(text, keep_blank_values=True, max_num_fields=50)
    except ValueError:
        raise BadRequest(400, "error.form.too_many_fields") from None
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
            raise BadRequest(400, "error.json.invalid") from None
        if not isinstance(payload, dict):
            raise BadRequest(400, "error.json.not_object")
        return payload, False
    if kind == "application/x-www-form-urlencoded":
        return parse_form(data), True
    raise BadRequest(415, "error.media_type")


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
        viewer = headers_of(event).get(VIEWER_ADDRESS_HEADER, "")
        if viewer and from_origin(event, origin_verify_secret):
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


def from_origin(event: Event, origin_verify_secret: str) -> bool:
    """The request carries the origin-verify value: it came through our CloudFront
    distribution (constant-time comparison)."""
    presented = headers_of(event).get(ORIGIN_VERIFY_HEADER, "")
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


def _guarded(
    event: Event,
    work: Callable[[], Response],
    say: Say,
    browser: Callable[[], Problem | None] = lambda: None,
) -> Response:
    """Correlation id, and the last line of defence: nothing unexpected leaks to a client.
    `browser()`: how to answer a browser that navigated here (a page, not JSON), or None."""
    ctx = event.get("requestContext")
    request_id = ctx.get("requestId") if isinstance(ctx, Mapping) else None
    token = correlation_id.set(request_id if isinstance(request_id, str) else None)
    try:
        return work()
    except BadRequest as exc:
        return error(exc.status, say(exc.key))
    except StoreUnavailable as exc:
        log.warning("store unavailable", extra={"retry_after": exc.retry_after})
        retry = {"Retry-After": str(exc.retry_after)}
        page = browser()
        if page is not None:
            return page(503, "busy", retry)
        return error(503, say("error.busy"), **retry)
    except Exception:
        log.exception("unhandled error")
        page = browser()
        if page is not None:
            try:
                return page(500, "error", {})
            except Exception:  # the page itself failed: the plain answer still goes out
                log.exception("the error page failed")
        return error(500, say("error.internal"))
    finally:
        correlation_id.reset(token)


Say = Callable[..., str]
Problem = Callable[[int, str, dict[str, str]], Response]


class HttpApi:
    """`POST /register` and `GET|POST /confirm` over the intake service. Every answer is in
    the request's language (`lang` field or query parameter, else Accept-Language, else
    `DEFAULT_LANGUAGE`), from the message catalog (`regflow.render`)."""

    def __init__(
        self,
        intake: IntakeService,
        edge: HttpEdge,
        metrics: Metrics = NO_METRICS,
        cookie_key: bytes | None = None,
    ) -> None:
        # signs the registration cookie (`tokens.seal_handle`); CONFIRM_MODE=button trusts
        # only a sealed one, so without a key the same-browser shortcut is off
        self.cookie_key = cookie_key
        self.intake = intake
        self.edge = edge
        self.metrics = metrics
        self._catalog: Catalog | None = None
        self._renderer: Renderer | None = None

    def from_edge(self, event: Event) -> Response | None:
        """None for a request that may be served; 403 for one that bypassed CloudFront (and
        so the web ACL) when the API is fronted by it (ORIGIN_VERIFY_SECRET is set)."""
        secret = self.edge.origin_verify_secret
        if not secret or from_origin(event, secret):
            return None
        self.metrics.emit({"OriginRefused": 1.0}, route="edge")
        return error(403, self._say(self.language(event))("error.origin"))

    @property
    def catalog(self) -> Catalog:
        if self._catalog is None:  # on the first answer, not at cold start
            self._catalog = Catalog(self.edge.templates_dir, self.edge.default_language)
        return self._catalog

    def language(self, event: Event, explicit: object = None) -> str:
        return negotiate_language(
            explicit, headers_of(event).get("accept-language"), self.edge.default_language
        )

    def _say(self, lang: str) -> Say:
        def say(key: str, **params: object) -> str:
            return self.catalog.text(key, lang, **params)

        return say

    def register(self, event: Event) -> Response:
        """POST /register."""
        say = self._say(self.language(event))
        outcome = "RegistrationRejected"
        problem: Problem | None = None  # a plain form post from a browser: pages, not JSON

        def work() -> Response:
            nonlocal say, outcome, problem
            fields, from_form = parse_fields(event)
            html_client = from_form and wants_html(event)
            page = self.edge.register_page_url
            language = self.language(event, fields.get("lang"))
            say = self._say(language)
            problem = self._problem(language, page) if html_client else None
            handle: str | None = None
            try:
                if self.edge.confirm_code or self.edge.confirm_mode is ConfirmMode.BUTTON:
                    _, handle = self.intake.register_with_handle(
                        fields.get("name"),
                        fields.get("email"),
                        client_key=rate_limit_key(client_ip(event, self.edge.origin_verify_secret)),
                        honeypot=fields.get(HONEYPOT_FIELD) or "",
                        language=language,
                        consent=self._consent(event),
                        challenge=fields.get(CHALLENGE_FIELD),
                    )
                else:
                    self.intake.register(
                        fields.get("name"),
                        fields.get("email"),
                        client_key=rate_limit_key(client_ip(event, self.edge.origin_verify_secret)),
                        honeypot=fields.get(HONEYPOT_FIELD) or "",
                        language=language,
                        consent=self._consent(event),
                        challenge=fields.get(CHALLENGE_FIELD),
                    )
            except ValidationError as exc:
                if html_client:
                    return redirect(303, with_query(page, status="error", field=exc.field))
                return error(400, say(exc.key, **exc.params), exc.field)
            except ClientRateLimited as exc:
                outcome = "RegistrationLimited"
                retry = {"Retry-After": str(exc.retry_after)}
                if problem is not None:
                    return problem(429, "rate_limited", retry)
                return error(429, say("error.rate_limited"), **retry)
            outcome = "RegistrationAccepted"
            if from_form:
                accepted = redirect(303, with_query(page, status="sent"))
            else:
                body = {"message": say("api.accepted")}
                if self.edge.sender_email:  # where the mail comes from: the same for everyone
                    body["sender"] = self.edge.sender_email
                accepted = json_response(202, body)
            if handle is not None:
                accepted["cookies"] = [self._registration_cookie(handle)]
            return accepted

        response = _guarded(event, work, lambda key, **p: say(key, **p), lambda: problem)
        status = int(response["statusCode"])
        values = {status_class(status): 1.0}
        if status < 500:  # a 5xx is neither accepted nor refused: it counts as Http5xx only
            values[outcome] = 1.0
        self.metrics.emit(values, route="register")
        return response

    def _landing(self, outcome: Outcome, lang: str | None) -> str:
        """The confirmed page's address for `outcome`, in the link's language."""
        if lang is not None and lang != self.edge.default_language:
            return with_query(self.edge.success_url, status=outcome.value, lang=lang)
        return with_query(self.edge.success_url, status=outcome.value)

    def confirm(self, event: Event) -> Response:
        """GET /confirm?token=... (and POST /confirm, the button of CONFIRM_MODE=button)."""
        requested = query_param(event, "lang")
        link_lang = requested if requested in SUPPORTED_LANGUAGES else None
        lang = link_lang or self.language(event)
        outcome: Outcome | None = None

        def work() -> Response:
            nonlocal outcome
            method = method_of(event)
            if method == "HEAD":
                # HEAD never changes state (a link checker or prefetcher must not confirm),
                # and what GET would answer depends on the change: refuse it, touching nothing.
                return error(405, self._say(lang)("error.method_not_allowed"), Allow="GET, POST")
            if method == "POST":
                kind = media_type(headers_of(event))
                if kind != "application/x-www-form-urlencoded" and (kind or event.get("body")):
                    # a body is read only as a form
                    return error(415, self._say(lang)("error.confirm.form_only"))
                try:
                    token = parse_form(body_bytes(event)).get("token")
                except BadRequest as exc:
                    if exc.status == 413:  # too large to read: as /register and the gateway
                        raise
                    token = None
                outcome = self.intake.confirm(token, self._consent(event))
                return redirect(303, self._expired_landing(outcome, link_lang, token))
            token = query_param(event, "token")
            if self.edge.confirm_mode is ConfirmMode.BUTTON:
                if token is None or self.intake.check_token(token) is None:
                    outcome = Outcome.INVALID
                    return redirect(302, self._landing(Outcome.INVALID, link_lang))
                if not self._same_browser(event, token):
                    # no cookie (a scanner, another device, or a webmail click that did not
                    # carry the SameSite=Strict cookie): the button, and once, a reload from
                    # this origin that would carry it
                    again = None if query_param(event, "same") == "1" else "1"
                    page = self.confirm_page(token, lang, link_lang, refresh=again)
                    return _response(200, page, "text/html; charset=utf-8")
                # the browser that filled in the form: confirmed without the extra click
            outcome = self.intake.confirm(token, self._consent(event))
            return redirect(302, self._expired_landing(outcome, link_lang, token))

        # a link in a mail, or the button's form: a browser navigated here
        page = self._problem(lang, self.edge.register_page_url) if wants_html(event) else None
        response = _guarded(event, work, self._say(lang), lambda: page)
        values = {status_class(int(response["statusCode"])): 1.0}
        if outcome is not None:
            values[outcome_metric("Confirmation", outcome.value)] = 1.0
        self.metrics.emit(values, route="confirm")
        return response

    def _problem(self, lang: str, back: str) -> Problem:
        """An HTML page for a browser that navigated to the API and cannot be answered the
        normal way (429, 503, 500): what happened, in its language, and a way back."""

        def page(status: int, kind: str, headers: dict[str, str]) -> Response:
            html = self._render("problem", lang, kind=kind, back=back)
            return _response(status, html, "text/html; charset=utf-8", **headers)

        return page

    def _render(self, name: str, lang: str, **context: object) -> str:
        from regflow.render.templates import Renderer  # only here: the template engine

        if self._renderer is None:
            self._renderer = Renderer(
                self.catalog, self.edge.templates_dir, site=self.edge.site_name
            )
        return self._renderer.page(name, lang, **context)

    def erase(self, event: Event) -> Response:
        """GET /erase?token=... shows a page with a button and changes nothing (a mail
        scanner that follows the link erases nothing); POST /erase (the button) erases and
        lands on GET /erase?status=erased, the erased page (docs/erasure.md)."""
        requested = query_param(event, "lang")
        link_lang = requested if requested in SUPPORTED_LANGUAGES else None
        lang = link_lang or self.language(event)
        outcome = "invalid"

        def page(status: int, state: str, **context: object) -> Response:
            html = self._render("erase", lang, state=state, site=self.edge.site_name, **context)
            return _response(status, html, "text/html; charset=utf-8")

        def work() -> Response:
            nonlocal outcome
            method = method_of(event)
            if method == "HEAD":  # never a change, and GET's answer depends on none
                return error(405, self._say(lang)("error.method_not_allowed"), Allow="GET, POST")
            if method == "POST":
                kind = media_type(headers_of(event))
                if kind != "application/x-www-form-urlencoded" and (kind or event.get("body")):
                    return error(415, self._say(lang)("error.confirm.form_only"))
                try:
                    token = parse_form(body_bytes(event)).get("token")
                except BadRequest as exc:
                    if exc.status == 413:
                        raise
                    token = None
                erased = self.intake.erase(token)
                if erased is None:
                    return page(400, "invalid")
                outcome = "erased" if erased else "nothing-left"
                done = "erase" if link_lang is None else with_query("erase", lang=link_lang)
                return redirect(303, with_query(done, status="erased"))
            if query_param(event, "status") == "erased":
                outcome = "page"
                return page(200, "done")
            token = query_param(event, "token")
            if token is None or self.intake.check_erase_token(token) is None:
                return page(400, "invalid")
            outcome = "asked"
            action = "erase" if link_lang is None else with_query("erase", lang=link_lang)
            return page(200, "ask", token=token.strip(), action=action)

        problem = self._problem(lang, self.edge.register_page_url)
        response = _guarded(event, work, self._say(lang), lambda: problem)
        values = {status_class(int(response["statusCode"])): 1.0}
        values[outcome_metric("Erasure", outcome)] = 1.0
        self.metrics.emit(values, route="erase")
        return response

    def confirm_page(
        self, token: str, lang: str, link_lang: str | None = None, refresh: str | None = None
    ) -> str:
        """The page of CONFIRM_MODE=button: GET changes nothing; the button POSTs the token
        (to `confirm`, relative: the page is served by /confirm itself, so the POST stays on
        whatever origin the visitor came in through, which `form-action 'self'` requires)."""
        action = "confirm" if link_lang is None else with_query("confirm", lang=link_lang)
        again = None
        if refresh is not None:
            params = {"token": token, "same": refresh}
            if link_lang is not None:
                params["lang"] = link_lang
            again = "confirm?" + urlencode(params)
        return self._render(
            "confirm_button",
            lang,
            token=token,
            site=self.edge.site_name,
            action=action,
            refresh=again,
        )

    # --- CONFIRM_CODE: POST /confirm-code ---------------------------------------------------

    def challenge(self, event: Event) -> Response:
        """GET /challenge (CHALLENGE=pow): a fresh HMAC-signed, expiring proof-of-work
        challenge in the ALTCHA format; 204 (no content) when the challenge is off, so a
        page that asks on every load learns it without an error."""
        say = self._say(self.language(event))

        def work() -> Response:
            issued = self.intake.issue_challenge()
            if issued is None:
                return _response(204)
            return json_response(200, issued)

        response = _guarded(event, work, lambda key, **p: say(key, **p))
        self.metrics.emit({status_class(int(response["statusCode"])): 1.0}, route="challenge")
        return response

    def _cookie_handle(self, event: Event) -> str | None:
        """The registration cookie's handle: checked against its seal when there is a key."""
        value = cookie_value(event, REGISTRATION_COOKIE)
        if self.cookie_key is None:
            return value
        return open_handle(self.cookie_key, value)

    def _same_browser(self, event: Event, token: str) -> bool:
        """CONFIRM_MODE=button: does this request carry the sealed registration cookie of
        the registration `token` names (the browser that filled in the form)?"""
        if self.cookie_key is None:
            return False
        handle = open_handle(self.cookie_key, cookie_value(event, REGISTRATION_COOKIE))
        parsed = self.intake.check_token(token)
        return handle is not None and parsed is not None and read_handle(handle) == parsed

    def _consent(self, event: Event) -> Consent:
        """The proof of consent of this request: the client address as the limits see it
        (CloudFront's viewer address behind the origin-verify header), the user agent."""
        ip = client_ip(event, self.edge.origin_verify_secret)
        return self.intake.consent_of(ip, headers_of(event).get("user-agent"))

    def _registration_cookie(self, handle: str, max_age: int | None = None) -> str:
        """The cookie naming the submitting browser's registration (`tokens.issue_handle`):
        HttpOnly (no script reads it), SameSite=Strict (no other site's request carries it),
        Path=/ (pages and API share one origin: CloudFront routes /register, /confirm and
        /confirm-code to the API), Secure when the site is served over https."""
        age = self.intake.rules.token_ttl_hours * 3600 if max_age is None else max_age
        if handle and self.cookie_key is not None:
            handle = seal_handle(self.cookie_key, handle)
        cookie = f"{REGISTRATION_COOKIE}={handle}; Path=/; Max-Age={age}; HttpOnly; SameSite=Strict"
        if self.edge.register_page_url.startswith("https://") or self.edge.success_url.startswith(
            "https://"
        ):
            cookie += "; Secure"
        return cookie

    def confirm_code(self, event: Event) -> Response:
        """POST /confirm-code: the code from the verification mail, in the browser that
        submitted the form (its registration cookie names the registration). JSON: 200 with
        the outcome for a right code (`confirmed`, `already-confirmed`), 400 `field: code`
        otherwise (wrong, dead, unknown registration: one answer; an expired registration with
        the right code: its own message). A plain form post: 303 to the confirmed page, or
        back to the register page with `?status=code-error`. 404 when CONFIRM_CODE=off."""
        say = self._say(self.language(event))
        outcome: Outcome | None = None

        def work() -> Response:
            nonlocal say, outcome
            if not self.edge.confirm_code:
                return error(404, say("error.not_found"))
            fields, from_form = parse_fields(event)
            html_client = from_form and wants_html(event)
            requested = fields.get("lang")
            link_lang = requested if requested in SUPPORTED_LANGUAGES else None
            say = self._say(self.language(event, requested))
            outcome = self.intake.confirm_code(
                self._cookie_handle(event), fields.get("code"), self._consent(event)
            )
            ok = outcome in (Outcome.CONFIRMED, Outcome.ALREADY_CONFIRMED)
            landing = self._landing(outcome, link_lang)
            if html_client:
                if ok or outcome is Outcome.EXPIRED:
                    answer = redirect(303, landing)
                else:
                    page = self.edge.register_page_url
                    answer = redirect(303, with_query(page, status="code-error"))
            elif ok:
                key = (
                    "api.signup_code.confirmed"
                    if outcome is Outcome.CONFIRMED
                    else "api.signup_code.already"
                )
                answer = json_response(
                    200, {"status": outcome.value, "message": say(key), "location": landing}
                )
            elif outcome is Outcome.EXPIRED:
                return error(400, say("error.signup_code.expired"), "code")
            else:
                return error(400, say("error.signup_code.invalid"), "code")
            if ok:  # the registration is done: the browser forgets it
                answer["cookies"] = [self._registration_cookie("", max_age=0)]
            return answer

        response = _guarded(event, work, lambda key, **p: say(key, **p))
        values = {status_class(int(response["statusCode"])): 1.0}
        if outcome is not None:
            values[outcome_metric("CodeConfirmation", outcome.value)] = 1.0
        self.metrics.emit(values, route="confirm-code")
        return response

    # --- a way back from an expired link: POST /resend ------------------------------------

    def _expired_landing(self, outcome: Outcome, lang: str | None, token: object) -> str:
        """`_landing`, and for an expired link its token in the fragment (`#resend=<token>`),
        for the expired page's "send me a new link": a fragment never reaches a server, a
        log or a Referer; the page's script reads it and removes it from the address bar."""
        landing = self._landing(outcome, lang)
        if outcome is Outcome.EXPIRED and isinstance(token, str) and _TOKEN_SHAPE.fullmatch(token):
            return f"{landing}#resend={token}"
        return landing

    def resend(self, event: Event) -> Response:
        """POST /resend (a form post from the expired page, or JSON): `token`, the expired
        link's. One answer whatever happens (a new link mailed, the address limited, the
        registration gone or confirmed, a forged token, the client limited): 202 JSON, or a
        303 to the confirmed page with `?status=resent` for a browser's form post."""
        say = self._say(self.language(event))

        def work() -> Response:
            nonlocal say
            fields, from_form = parse_fields(event)
            requested = fields.get("lang")
            link_lang = requested if requested in SUPPORTED_LANGUAGES else None
            say = self._say(self.language(event, requested))
            self.intake.resend(
                fields.get("token"),
                client_key=rate_limit_key(client_ip(event, self.edge.origin_verify_secret)),
                consent=self._consent(event),
            )
            if from_form and wants_html(event):
                landing = self.edge.success_url
                if link_lang is not None and link_lang != self.edge.default_language:
                    return redirect(303, with_query(landing, status="resent", lang=link_lang))
                return redirect(303, with_query(landing, status="resent"))
            return json_response(202, {"message": say("api.signup_resend.accepted")})

        response = _guarded(event, work, lambda key, **p: say(key, **p))
        self.metrics.emit({status_class(int(response["statusCode"])): 1.0}, route="resend")
        return response


REGISTRATION_COOKIE = "regflow_reg"


def cookie_value(event: Event, name: str) -> str | None:
    """The value of cookie `name`: from the v2 event's `cookies` (API Gateway and the local
    gateway put them there), else a `Cookie` header. None when absent or given twice."""
    raw = event.get("cookies")
    pairs: list[str] = [str(c) for c in raw] if isinstance(raw, list) else []
    if not pairs:
        header = headers_of(event).get("cookie", "")
        pairs = [p for p in header.split(";") if p.strip()]
    found = [v for k, _, v in (p.strip().partition("=") for p in pairs) if k == name]
    return found[0] if len(found) == 1 else None


_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{64}")
