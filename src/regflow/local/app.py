"""The embedded server's ASGI app: the API (every route of `regflow.routes`, through
`regflow.local.events` and the same `HttpApi` the Lambda handlers use), the static pages of
`web/` (Starlette's `StaticFiles`), the local mailbox (`/_mailbox`, loopback only),
`/openapi.yaml` and `/_health`. Every response carries `http.SECURITY_HEADERS`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from regflow import routes
from regflow.adapters.mailbox import MailboxMailer
from regflow.http import MAX_BODY_BYTES, SECURITY_HEADERS, HttpApi
from regflow.http.response import error
from regflow.local import mailbox_pages
from regflow.local.events import (
    Disconnected,
    Network,
    TooLarge,
    build_event,
    host_name,
    read_body,
    to_response,
)
from regflow.render import SUPPORTED_LANGUAGES
from regflow.render.catalog import Catalog
from regflow.render.templates import Renderer

log = logging.getLogger("regflow.gateway")

# an API path without a GET route: a GET there is answered 405 (the route exists, not the verb)
_API_ALLOW = {
    path: ", ".join(routes.methods(path))
    for path in routes.paths()
    if "GET" not in routes.methods(path)
}


@dataclass
class GatewayConfig:
    api: HttpApi
    web_dir: Path | None = None
    mailbox: MailboxMailer | None = None
    openapi_path: Path | None = None
    on_write: Callable[[], None] | None = None  # called after each API call (wakes the worker)
    trusted_proxies: Sequence[Network] = field(default_factory=tuple)
    # The Host names the loopback-only pages (the mailbox: live links) answer to; None: any.
    # `regflow serve` always sets it: a page elsewhere that rebinds its DNS name to 127.0.0.1
    # sends its own name as Host, and gets a 421.
    local_hosts: frozenset[str] | None = None


class WebFiles(StaticFiles):
    """`StaticFiles` that never serves a hidden file (`.git`, `.env`, ...)."""

    def lookup_path(self, path: str) -> tuple[str, os.stat_result | None]:
        if any(part.startswith(".") for part in Path(path).parts):
            return "", None
        return super().lookup_path(path)


class LastResort:
    """ASGI middleware: an exception no route handled becomes a plain 500 with one structured
    log line (its class, never the request's path or text), not a traceback from the server."""

    def __init__(self, app: ASGIApp, catalog: Catalog) -> None:
        self.app = app
        self.catalog = catalog

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            log.error("unhandled error in the gateway", extra={"exception": type(exc).__name__})
            if not started:
                message = self.catalog.text("error.internal", self.catalog.default_language)
                await JSONResponse({"error": message}, status_code=500)(scope, receive, send)


class SecurityHeaders:
    """ASGI middleware: every response gets `SECURITY_HEADERS` (unless it set its own)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._headers = [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in self._headers if k not in present]
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(config: GatewayConfig) -> ASGIApp:
    http_api = config.api
    catalog = http_api.catalog
    renderer = Renderer(catalog, http_api.edge.templates_dir, site=http_api.edge.site_name)
    smtp_mode = config.mailbox is None

    def language(request: Request) -> str:
        return http_api.language(request.headers)

    def json_error(request: Request, status: int, key: str, **headers: str) -> Response:
        message = catalog.text(key, language(request))
        return JSONResponse({"error": message}, status_code=status, headers=headers or None)

    files = WebFiles(directory=config.web_dir, html=True) if config.web_dir else None
    # The API calls block on the store: they run on this pool. asyncio's own executor hop
    # costs a fraction of anyio's `run_in_threadpool`, which looked its backend up on every
    # call (about a third of the server's CPU per request in a profile).
    executor = ThreadPoolExecutor(max_workers=16, thread_name_prefix="regflow-api")

    async def call_api(request: Request) -> Response:
        """Any route of the table: the request as the v2 event, answered by `HttpApi`."""
        try:
            body = await read_body(request, MAX_BODY_BYTES)
        except TooLarge:
            # byte for byte what `HttpApi` answers a body over the limit on Lambda
            too_large = error(413, catalog.text("error.body.too_large", language(request)))
            response = to_response(too_large.to_event(), str(uuid.uuid4()))
            response.headers["Connection"] = "close"
            return response
        except Disconnected:  # nobody to answer: nothing was done
            return Response(status_code=408, headers={"Connection": "close"})
        route_key = f"{request.method} {request.url.path}"
        event = build_event(
            request.scope, body, route_key=route_key, proxies=config.trusted_proxies
        )
        result = await asyncio.get_running_loop().run_in_executor(executor, http_api, event)
        if config.on_write is not None:
            config.on_write()
        return to_response(result, event["requestContext"]["requestId"])

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    def misdirected(request: Request) -> Response | None:
        if config.local_hosts is None:
            return None
        if host_name(request.headers.get("host", "")) in config.local_hosts:
            return None
        return json_error(request, 421, "error.misdirected")

    async def mailbox(request: Request) -> Response:
        if (refused := misdirected(request)) is not None:
            return refused
        return await run_in_threadpool(
            mailbox_pages.mailbox_index, renderer, language(request), config.mailbox, smtp_mode
        )

    async def message(request: Request) -> Response:
        if (refused := misdirected(request)) is not None:
            return refused
        return await run_in_threadpool(
            mailbox_pages.mailbox_message,
            renderer,
            language(request),
            config.mailbox,
            str(request.path_params["message_id"]),
        )

    async def messages(request: Request) -> Response:
        """The page scripts' words (`web/app.js`): `/i18n/<lang>.json`, from the catalog."""
        lang = str(request.path_params["lang"])
        if lang not in SUPPORTED_LANGUAGES:
            return json_error(request, 404, "error.not_found")
        words = catalog.web_messages(lang, site=http_api.edge.site_name)
        return JSONResponse(words, headers={"Cache-Control": "no-cache"})

    async def openapi(request: Request) -> Response:
        path = config.openapi_path
        if path is None or not path.is_file():
            return json_error(request, 404, "error.not_found")
        return FileResponse(path, media_type="application/yaml")

    async def static(request: Request) -> Response:
        if request.url.path in _API_ALLOW:  # e.g. GET /register: the route exists, not the verb
            allow = _API_ALLOW[request.url.path]
            return json_error(request, 405, "error.method_not_allowed", Allow=allow)
        if files is None:
            if request.url.path in ("/", "/index.html"):
                return mailbox_pages.missing_web(renderer, language(request))
            return json_error(request, 404, "error.not_found")
        try:
            response = await files.get_response(files.get_path(request.scope), request.scope)
        except HTTPException as exc:
            if exc.status_code == 405:
                return json_error(request, 405, "error.method_not_allowed", Allow="GET, HEAD")
            return json_error(request, 404, "error.not_found")
        except OSError:
            return json_error(request, 404, "error.not_found")
        media = response.headers.get("content-type", "")
        if media.startswith("application/javascript") and "charset" not in media:
            response.headers["content-type"] = "application/javascript; charset=utf-8"
        return response

    async def not_found(request: Request, exc: Exception) -> Response:
        return json_error(request, 404, "error.not_found")

    async def not_allowed(request: Request, exc: Exception) -> Response:
        allow = (
            exc.headers.get("Allow", "") if isinstance(exc, HTTPException) and exc.headers else ""
        )
        extra = {"Allow": allow} if allow else {}
        return json_error(request, 405, "error.method_not_allowed", **extra)

    table = [
        *(Route(path, call_api, methods=list(routes.methods(path))) for path in routes.paths()),
        Route("/_health", health, methods=["GET"]),
        Route("/_mailbox", mailbox, methods=["GET"]),
        Route("/_mailbox/{message_id}", message, methods=["GET"]),
        Route("/openapi.yaml", openapi, methods=["GET"]),
        Route("/i18n/{lang}.json", messages, methods=["GET"]),
        Route("/{path:path}", static, methods=["GET"]),
    ]
    app = Starlette(routes=table, exception_handlers={404: not_found, 405: not_allowed})
    return SecurityHeaders(LastResort(app, catalog))


def locate_web_dir(explicit: str | Path | None = None) -> Path | None:
    """`explicit` if given; else the pages the package carries (`regflow.setup.paths`)."""
    if explicit:
        return Path(explicit)
    from regflow.setup.paths import packaged_web_dir

    return packaged_web_dir()


def locate_openapi() -> Path | None:
    path = Path(__file__).resolve().parents[1] / "openapi.yaml"
    return path if path.is_file() else None
