"""A real webhook receiver on 127.0.0.1 for tests: verifies each POST's signature the way
docs/events.md tells owners to, can be told to fail the first attempts, and records what it
accepted per idempotency id (`Regflow-Event-Id`)."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def verify(secret: bytes, url: str, header: str, body: bytes, tolerance: int = 300) -> bool:
    """The receiver's check, as in docs/events.md (kept independent of regflow's code): `v2`
    under this URL's own secret (derived from `secret`), and `v1` while it is still sent."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    t = parts.get("t", "")
    if not (t.isascii() and t.isdigit()) or abs(time.time() - int(t)) > tolerance:
        return False
    key = hmac.new(secret, url.encode(), hashlib.sha256).hexdigest().encode()
    v2 = hmac.new(key, f"{t}.{url}.".encode() + body, hashlib.sha256).hexdigest()
    v1 = hmac.new(secret, f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(v2.encode(), parts.get("v2", "").encode()) and (
        hmac.compare_digest(v1.encode(), parts.get("v1", "").encode())
    )


@dataclass
class Receiver:
    secret: bytes
    url: str = ""
    fail_first: int = 0  # answer 503 to this many POSTs first
    fail_status: int = 503
    attempts: list[str] = field(default_factory=list)  # event id of every POST, in order
    accepted: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # id -> bodies
    bad_signatures: int = 0
    authorization: list[str | None] = field(default_factory=list)  # per POST
    request_lines: list[str] = field(default_factory=list)  # per POST

    def accepted_once(self) -> bool:
        return all(len(bodies) == 1 for bodies in self.accepted.values())


@contextmanager
def webhook_receiver(
    secret: bytes, *, fail_first: int = 0, status: int = 503
) -> Iterator[Receiver]:
    receiver = Receiver(secret, fail_first=fail_first, fail_status=status)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            event_id = self.headers.get("Regflow-Event-Id", "")
            with lock:
                receiver.attempts.append(event_id)
                receiver.authorization.append(self.headers.get("Authorization"))
                receiver.request_lines.append(self.requestline)
                signed = self.headers.get("Regflow-Signature", "")
                if not verify(receiver.secret, receiver.url, signed, body):
                    receiver.bad_signatures += 1
                    code = 401
                elif receiver.fail_first > 0:
                    receiver.fail_first -= 1
                    code = receiver.fail_status
                else:
                    receiver.accepted.setdefault(event_id, []).append(json.loads(body))
                    code = 204
            self.send_response(code)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/regflow"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Dribbler:
    """A receiver that takes the POST and then answers one byte every `interval` seconds,
    forever: each socket read gets data in time, only a wall-clock deadline ends it."""

    url: str = ""
    connections: int = 0
    stopped: threading.Event = field(default_factory=threading.Event)


@contextmanager
def dribbling_receiver(interval: float = 0.2, *, answer: bytes | None = None) -> Iterator[Dribbler]:
    """`answer`: send these bytes at once instead of dribbling (a broken answer, say)."""
    import socket

    dribbler = Dribbler()
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    dribbler.url = f"http://127.0.0.1:{listener.getsockname()[1]}/hooks/slow"

    def serve(conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            try:
                conn.recv(65536)
                if answer is not None:
                    conn.sendall(answer)
                    conn.shutdown(socket.SHUT_WR)
                    return
                line = b"HTTP/1.1 200 OK\r\n" + b"X-Slow: " + b"a" * 10_000
                for byte in line:
                    if dribbler.stopped.wait(interval):
                        return
                    conn.sendall(bytes([byte]))
            except OSError:
                return

    def accept() -> None:
        while not dribbler.stopped.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            dribbler.connections += 1
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield dribbler
    finally:
        dribbler.stopped.set()
        thread.join(2)
        listener.close()
