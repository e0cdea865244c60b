"""uvicorn's HTTP protocol (httptools), hardened for `regflow serve`:

- read timeouts: a request's headers must arrive within `HEADER_TIMEOUT_SECONDS` of the
  connection (or of the first byte of the next request on a kept-alive one), its body within
  `BODY_TIMEOUT_SECONDS` of the headers; otherwise `408` (if nothing was answered yet) and the
  connection is closed. uvicorn itself only times out idle kept-alive connections.
- uvicorn's own answers to malformed requests (`400`, and `408` here) carry
  `SECURITY_HEADERS` like every answer of the app.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from regflow.http.response import SECURITY_HEADERS

HEADER_TIMEOUT_SECONDS = 10.0
BODY_TIMEOUT_SECONDS = 15.0
KEEP_ALIVE_SECONDS = 5
BAD_REQUEST = "Invalid HTTP request received."
REQUEST_TIMEOUT = "The request was not received in time."

_SECURITY = b"".join(
    k.lower().encode("latin-1") + b": " + v.encode("latin-1") + b"\r\n"
    for k, v in SECURITY_HEADERS.items()
)


def plain_response(status: bytes, text: str) -> bytes:
    body = text.encode("ascii")
    return (
        b"HTTP/1.1 " + status + b"\r\n" + _SECURITY + b"content-type: text/plain; charset=utf-8\r\n"
        b"content-length: " + str(len(body)).encode("ascii") + b"\r\n"
        b"connection: close\r\n\r\n" + body
    )


class HardenedHttpToolsProtocol(HttpToolsProtocol):
    header_timeout = HEADER_TIMEOUT_SECONDS
    body_timeout = BODY_TIMEOUT_SECONDS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._read_timer: asyncio.TimerHandle | None = None
        self._awaiting_body = False

    def _arm(self, seconds: float, *, body: bool = False) -> None:
        self._disarm()
        self._awaiting_body = body
        self._read_timer = self.loop.call_later(seconds, self._read_timed_out)

    def _disarm(self) -> None:
        if self._read_timer is not None:
            self._read_timer.cancel()
            self._read_timer = None

    def _read_timed_out(self) -> None:
        self._read_timer = None
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if self._awaiting_body:  # this request's cycle: answer unless the app has begun to
            answer = cycle is not None and not cycle.response_started
        else:  # headers: `cycle` is the previous request's, if any
            answer = cycle is None or cycle.response_complete
        if answer:
            self.transport.write(plain_response(b"408 Request Timeout", REQUEST_TIMEOUT))
        if cycle is not None and not cycle.response_complete:
            # the app, waiting for the body, reads a disconnect; its answer goes nowhere
            cycle.disconnected = True
            cycle.message_event.set()
        self.transport.close()

    # --- the connection and parser callbacks --------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.header_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._read_timer is None:  # a new request on a kept-alive connection
            self._arm(self.header_timeout)

    def on_headers_complete(self) -> None:
        self._arm(self.body_timeout, body=True)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def send_400_response(self, msg: str) -> None:
        self._disarm()
        self.transport.write(plain_response(b"400 Bad Request", BAD_REQUEST))
        self.transport.close()
