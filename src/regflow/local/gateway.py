"""The local gateway: HTTP in, the very API Gateway HTTP API v2 event the Lambda handlers get,
the same `regflow.api` functions, and their v2 response back out as HTTP (the idea of AWS
Chalice's local gateway), so local and AWS behaviour cannot drift.

Besides the API it serves the static pages of `web/`, the local mailbox at `/_mailbox`,
`/openapi.yaml` and `/_health`. Every response carries `api.SECURITY_HEADERS`.
"""

from __future__ import annotations

import asyncio
import base64
import html
import ipaddress
import mimetypes
import re
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from regflow import api
from regflow.adapters.mailbox import MailboxMailer
from regflow.service import RegistrationService

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
ApiHandler = Callable[[api.Event, RegistrationService], api.Response]

_TEXT_TYPES = ("text/", "application/json", "application/x-www-form-urlencoded", "+json", "xml")
_API_ALLOW = {"/register": "POST"}
_URL_RE = re.compile(r"https?://[^\s<>\"']+")


@dataclass
class GatewayConfig:
    service: RegistrationService
    web_dir: Path | None = None
    mailbox: MailboxMailer | None = None
    openapi_path: Path | None = None
    on_write: Callable[[], None] | None = None  # called after each API call (wakes the worker)
    trusted_proxies: Sequence[Network] = field(default_factory=tuple)


# --- HTTP -> v2 event ---------------------------------------------------------------------


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


class _TooLarge(Exception):
    pass


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, refusing (without reading it whole) anything over `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise _TooLarge
        except ValueError:
            raise _TooLarge from None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


# --- pages ----------------------------------------------------------------------------------


def _page(title: str, body: str, status: int = 200) -> Response:
    doc = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>{html.escape(title)}</title><link rel="stylesheet" href="/styles.css">'
        f'</head><body><main class="card mailbox">{body}</main></body></html>'
    )
    return Response(doc, status_code=status, media_type="text/html; charset=utf-8")


def _linkify(text: str) -> str:
    """Escape `text` for HTML and make each http(s) URL a link."""
    out: list[str] = []
    last = 0
    for match in _URL_RE.finditer(text):
        out.append(html.escape(text[last : match.start()]))
        url = match.group(0)
        out.append(
            f'<a class="mail-link" href="{html.escape(url, quote=True)}">{html.escape(url)}</a>'
        )
        last = match.end()
    out.append(html.escape(text[last:]))
    return "".join(out)


def _text_part(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    if part is None:
        return ""
    content = part.get_content()
    return content if isinstance(content, str) else ""


def mailbox_index(mailbox: MailboxMailer | None, smtp: bool) -> Response:
    if mailbox is None:
        return _page("Mailbox", "<h1>Mailbox</h1><p>No local mailbox in this mode.</p>", 404)
    messages = mailbox.messages()
    rows = "".join(
        "<tr>"
        f'<td><a class="message-link" href="/_mailbox/{m.id}">{html.escape(m.subject)}</a></td>'
        f"<td>{html.escape(m.to)}</td>"
        f'<td><time datetime="{m.date.isoformat()}">'
        f"{m.date.strftime('%Y-%m-%d %H:%M:%S')} UTC</time></td>"
        "</tr>"
        for m in messages
    )
    note = (
        "<p>Mail is going to the SMTP server in <code>SMTP_URL</code>; nothing lands here.</p>"
        if smtp
        else ""
    )
    table = (
        '<table class="messages"><thead><tr><th scope="col">Subject</th>'
        '<th scope="col">To</th><th scope="col">Received</th></tr></thead>'
        f"<tbody>{rows}</tbody></table>"
        if messages
        else '<p class="empty">No messages yet.</p>'
    )
    count = f"{len(messages)} message{'s' if len(messages) != 1 else ''}, newest first."
    return _page(
        "Mailbox",
        f'<h1>Local mailbox</h1>{note}<p>{count} <a href="/">Back to the sign-up page</a></p>'
        f"{table}",
    )


def mailbox_message(mailbox: MailboxMailer | None, message_id: str) -> Response:
    message = mailbox.message(message_id) if mailbox is not None else None
    if message is None:
        return _page(
            "Not found", '<h1>No such message</h1><p><a href="/_mailbox">Mailbox</a></p>', 404
        )
    fields = "".join(
        f"<dt>{name}</dt><dd>{html.escape(str(message.get(name, '')))}</dd>"
        for name in ("From", "To", "Subject", "Date")
    )
    return _page(
        str(message.get("Subject", "Message")),
        '<p><a href="/_mailbox">&larr; Mailbox</a></p>'
        f"<h1>{html.escape(str(message.get('Subject', '')))}</h1>"
        f'<dl class="headers">{fields}</dl>'
        f'<pre class="mail-body">{_linkify(_text_part(message))}</pre>',
    )


# --- the app ----------------------------------------------------------------------------------


def _json_error(status: int, message: str, **headers: str) -> Response:
    return JSONResponse({"error": message}, status_code=status, headers=headers or None)


def _find_static(web_dir: Path | None, path: str) -> Path | None:
    if web_dir is None:
        return None
    rel = path.lstrip("/") or "index.html"
    if rel.endswith("/"):
        rel += "index.html"
    root = web_dir.resolve()
    try:
        candidate = (root / rel).resolve()
    except (OSError, RuntimeError):
        return None
    if root not in candidate.parents or not candidate.is_file():
        return None
    if any(part.startswith(".") for part in candidate.relative_to(root).parts):
        return None
    return candidate


class SecurityHeaders:
    """ASGI middleware: every response gets `api.SECURITY_HEADERS` (unless it set its own)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._headers = [(k.lower().encode(), v.encode()) for k, v in api.SECURITY_HEADERS.items()]

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
    service = config.service
    smtp_mode = config.mailbox is None
    # The API calls block on SQLite: they run on this pool. asyncio's own executor hop costs
    # a fraction of anyio's `run_in_threadpool`, which looked its backend up on every call
    # (about a third of the server's CPU per request in a profile).
    executor = ThreadPoolExecutor(max_workers=16, thread_name_prefix="regflow-api")

    async def call_api(request: Request, handler: ApiHandler, route_key: str) -> Response:
        try:
            body = await _read_body(request, api.MAX_BODY_BYTES)
        except _TooLarge:
            # byte for byte what api.register answers a body over the limit on Lambda
            response = to_response(api.error(413, "The request is too large."), str(uuid.uuid4()))
            response.headers["Connection"] = "close"
            return response
        event = build_event(
            request.scope, body, route_key=route_key, proxies=config.trusted_proxies
        )
        result = await asyncio.get_running_loop().run_in_executor(executor, handler, event, service)
        if config.on_write is not None:
            config.on_write()
        return to_response(result, event["requestContext"]["requestId"])

    async def register(request: Request) -> Response:
        return await call_api(request, api.register, "POST /register")

    async def confirm(request: Request) -> Response:
        return await call_api(request, api.confirm, f"{request.method} /confirm")

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def mailbox(request: Request) -> Response:
        return await run_in_threadpool(mailbox_index, config.mailbox, smtp_mode)

    async def message(request: Request) -> Response:
        return await run_in_threadpool(
            mailbox_message, config.mailbox, str(request.path_params["message_id"])
        )

    async def openapi(request: Request) -> Response:
        path = config.openapi_path
        if path is None or not path.is_file():
            return _json_error(404, "Not found.")
        return FileResponse(path, media_type="application/yaml")

    async def static(request: Request) -> Response:
        if request.url.path in _API_ALLOW:  # e.g. GET /register: the route exists, not the verb
            allow = _API_ALLOW[request.url.path]
            return _json_error(405, "Method not allowed.", Allow=allow)
        found = _find_static(config.web_dir, request.url.path)
        if found is None:
            if request.url.path in ("/", "/index.html"):
                return _page(
                    "regflow",
                    "<h1>regflow</h1><p>The pages (<code>web/</code>) were not found; "
                    "start with <code>--web-dir</code>.</p>",
                    404,
                )
            return _json_error(404, "Not found.")
        media = mimetypes.guess_type(found.name)[0] or "application/octet-stream"
        if media.startswith("text/") or media == "application/javascript":
            media += "; charset=utf-8"
        return FileResponse(found, media_type=media)

    async def not_found(request: Request, exc: Exception) -> Response:
        return _json_error(404, "Not found.")

    async def not_allowed(request: Request, exc: Exception) -> Response:
        allow = (
            exc.headers.get("Allow", "") if isinstance(exc, HTTPException) and exc.headers else ""
        )
        return (
            _json_error(405, "Method not allowed.", Allow=allow)
            if allow
            else _json_error(405, "Method not allowed.")
        )

    routes = [
        Route("/register", register, methods=["POST"]),
        Route("/confirm", confirm, methods=["GET", "POST"]),
        Route("/_health", health, methods=["GET"]),
        Route("/_mailbox", mailbox, methods=["GET"]),
        Route("/_mailbox/{message_id}", message, methods=["GET"]),
        Route("/openapi.yaml", openapi, methods=["GET"]),
        Route("/{path:path}", static, methods=["GET"]),
    ]
    app = Starlette(routes=routes, exception_handlers={404: not_found, 405: not_allowed})
    return SecurityHeaders(app)


def locate_web_dir(explicit: str | Path | None = None) -> Path | None:
    """`explicit` if given; else the repository's `web/` (next to `src/`), else `./web`."""
    if explicit:
        return Path(explicit)
    here = Path(__file__).resolve()
    for candidate in (here.parents[3] / "web", Path.cwd() / "web"):
        if (candidate / "index.html").is_file():
            return candidate
    return None


def locate_openapi() -> Path | None:
    path = Path(__file__).resolve().parents[1] / "openapi.yaml"
    return path if path.is_file() else None
