"""The HTTP API: an API Gateway HTTP API (payload format 2.0) event in, its response out, for
both runtimes (the Lambda handlers and the embedded server call it with the same event shape,
so local and AWS behaviour cannot drift).

`HttpApi.handle` is the one place around every view: it resolves the route in the route table
(`regflow.routes`), builds the `Request`, sets the correlation id, refuses HEAD, maps every error
to its status (by type, never by text; no answer carries exception text, every word comes from
the message catalog) and counts the metrics of the answer.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from regflow import routes
from regflow.config import HttpEdge
from regflow.domain import ClientRateLimited, Consent, StoreUnavailable, ValidationError
from regflow.http.cookies import registration_cookie
from regflow.http.errors import BadRequest
from regflow.http.request import Request, from_origin
from regflow.http.response import Response, error, html, redirect, with_query
from regflow.http.view import View
from regflow.intake import IntakeService
from regflow.logs import correlation_id
from regflow.metrics import NO_METRICS, Metrics, outcome_metric, status_class
from regflow.render import negotiate_language
from regflow.render.catalog import Catalog

if TYPE_CHECKING:
    from regflow.render.templates import Renderer

log = logging.getLogger("regflow.http")

Event = Mapping[str, Any]

_views: dict[str, View] = {}


def view_of(route: routes.Route) -> View:
    """The view a route names (`module:function` in `regflow.views`), imported on first use."""
    found = _views.get(route.view)
    if found is None:
        module, _, name = route.view.partition(":")
        found = getattr(importlib.import_module(f"regflow.views.{module}"), name)
        if not isinstance(found, View):
            raise TypeError(f"{route.view} is not a view")
        _views[route.view] = found
    return found


class HttpApi:
    """Every route of the table over the intake service. Every answer is in the request's
    language (`Request.language`), from the message catalog (`regflow.render`)."""

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

    # --- the one place around every view ---------------------------------------------------

    def __call__(self, event: Event) -> dict[str, Any]:
        return self.handle(event)

    def from_edge(self, event: Event) -> dict[str, Any] | None:
        """None for a request that may be served; 403 for one that bypassed CloudFront (and
        so the web ACL) when the API is fronted by it (ORIGIN_VERIFY_SECRET is set)."""
        secret = self.edge.origin_verify_secret
        if not secret:
            return None
        request = Request.from_event(event, default_language=self.edge.default_language)
        if from_origin(request.headers, secret):
            return None
        self.metrics.emit({"OriginRefused": 1.0}, route="edge")
        return error(403, self.text("error.origin", request.language)).to_event()

    def handle(self, event: Event, function: str | None = None) -> dict[str, Any]:
        """Answer `event` with the view of its route; `function` (a Lambda function's logical
        id): only the routes the table gives that function, others are not found."""
        request = Request.from_event(
            event,
            origin_verify_secret=self.edge.origin_verify_secret,
            default_language=self.edge.default_language,
        )
        token = correlation_id.set(request.request_id)
        try:
            method = "GET" if request.method == "HEAD" else request.method
            route = routes.find(method, request.path)
            if route is None:
                route = next((r for r in routes.ROUTES if r.path == request.path), None)
            if route is None or (function is not None and route.function != function):
                return error(404, self.text("error.not_found", request.language)).to_event()
            view = view_of(route)
            response = self._answer(request, route, view)
            self._count(route, view, response)
            return response.to_event()
        finally:
            correlation_id.reset(token)

    def _answer(self, request: Request, route: routes.Route, view: View) -> Response:
        if request.method == "HEAD" or request.method != route.method:
            # HEAD never changes state (a link checker or prefetcher must not confirm), and
            # what GET would answer depends on the change: refuse it, touching nothing.
            say = self.text("error.method_not_allowed", request.language)
            return error(405, say, Allow=", ".join(routes.methods(route.path)))
        try:
            return view(request, self)
        except Exception as exc:  # the last line of defence: nothing unexpected leaks
            return self._error(request, view, exc)

    def _error(self, request: Request, view: View, exc: Exception) -> Response:
        """The one map from an error to its answer: a JSON error, or for a browser (the
        view's `pages`) a page."""
        lang = request.language
        page = view.pages.for_request(request)
        if isinstance(exc, BadRequest):
            return error(exc.status, self.text(exc.key, lang))
        if isinstance(exc, ValidationError):
            if page:
                back = self.edge.register_page_url
                return redirect(303, with_query(back, status="error", field=exc.field))
            return error(400, self.text(exc.key, lang, **exc.params), exc.field)
        if isinstance(exc, ClientRateLimited):
            retry = {"Retry-After": str(exc.retry_after)}
            if page:
                return self.problem(429, "rate_limited", lang, retry).counted("limited")
            return error(429, self.text("error.rate_limited", lang), **retry).counted("limited")
        if isinstance(exc, StoreUnavailable):
            log.warning("store unavailable", extra={"retry_after": exc.retry_after})
            retry = {"Retry-After": str(exc.retry_after)}
            if page:
                return self.problem(503, "busy", lang, retry)
            return error(503, self.text("error.busy", lang), **retry)
        log.exception("unhandled error", exc_info=exc)
        if page:
            try:
                return self.problem(500, "error", lang, {})
            except Exception:  # the page itself failed: the plain answer still goes out
                log.exception("the error page failed")
        return error(500, self.text("error.internal", lang))

    def _count(self, route: routes.Route, view: View, response: Response) -> None:
        """One metrics line per answer: its status class, and (below 500: a 5xx is neither
        accepted nor refused) the view's metric for its outcome."""
        values = {status_class(response.status): 1.0}
        outcome = response.outcome or view.otherwise
        if response.status < 500 and view.metric is not None and outcome is not None:
            values[outcome_metric(view.metric, outcome)] = 1.0
        self.metrics.emit(values, route=route.name)

    # --- what views share ------------------------------------------------------------------

    @property
    def catalog(self) -> Catalog:
        if self._catalog is None:  # on the first answer, not at cold start
            self._catalog = Catalog(self.edge.templates_dir, self.edge.default_language)
        return self._catalog

    def language(self, headers: Mapping[str, str]) -> str:
        """The language of a request that names none: its Accept-Language, else the default."""
        accept = next((v for k, v in headers.items() if k.lower() == "accept-language"), None)
        return negotiate_language(None, accept, self.edge.default_language)

    def text(self, key: str, lang: str, **params: object) -> str:
        return self.catalog.text(key, lang, **params)

    def render(self, name: str, lang: str, **context: object) -> str:
        """A server-rendered page (`templates/pages/<name>.j2`)."""
        from regflow.render.templates import Renderer  # only here: the template engine

        if self._renderer is None:
            self._renderer = Renderer(
                self.catalog, self.edge.templates_dir, site=self.edge.site_name
            )
        return self._renderer.page(name, lang, **context)

    def problem(self, status: int, kind: str, lang: str, headers: dict[str, str]) -> Response:
        """An HTML page for a browser that navigated to the API and cannot be answered the
        normal way (429, 503, 500): what happened, in its language, and a way back."""
        page = self.render("problem", lang, kind=kind, back=self.edge.register_page_url)
        return html(status, page, **headers)

    def consent(self, request: Request) -> Consent:
        """The proof of consent of this request: the client address as the limits see it
        (CloudFront's viewer address behind the origin-verify header), the user agent."""
        return self.intake.consent_of(request.client_ip, request.user_agent)

    def registration_cookie(self, handle: str, max_age: int | None = None) -> str:
        """The cookie naming the submitting browser's registration (`regflow.http.cookies`),
        for the life of its link unless `max_age` says otherwise."""
        age = self.intake.rules.token_ttl_hours * 3600 if max_age is None else max_age
        secure = self.edge.register_page_url.startswith(
            "https://"
        ) or self.edge.success_url.startswith("https://")
        return registration_cookie(handle, max_age=age, key=self.cookie_key, secure=secure)
