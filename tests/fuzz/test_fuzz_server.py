"""The fuzzer against the live embedded server (issue 9): `regflow serve` as a subprocess,
hostile requests as raw bytes over real sockets. Invariants: every answer is HTTP with a
status below 500 and the security headers, no traceback in an answer or in the server's
output, every log line one JSON object, no registration stored by a rejected request."""

from __future__ import annotations

import json
import socket
import sqlite3
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.fuzz.strategies import (
    content_types,
    header_names,
    header_values,
    methods,
    paths,
    register_bodies,
)
from tests.support.server import RunningServer, regflow_server

pytestmark = pytest.mark.slow

LIVE = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    data = tmp_path_factory.mktemp("fuzz") / "data"
    env = {"IP_LIMIT_PER_HOUR": "0", "READ_TIMEOUT_SECONDS": "2"}
    with regflow_server(data, env) as running:
        yield running
    check_server_log(running)


def check_server_log(server: RunningServer) -> None:
    text = server.log_path.read_text(errors="replace")
    assert "Traceback" not in text, text[-4000:]
    for line in text.splitlines():
        if line.startswith("{"):
            json.loads(line)
        else:  # the start-up banner and the stop line are the only plain text
            assert line.startswith(("regflow", "  ", "Press Ctrl+C")), line


def registrations(server: RunningServer) -> int:
    db = sqlite3.connect(f"file:{server.db_path}?mode=ro", uri=True, timeout=5)
    try:
        return int(db.execute("SELECT COUNT(*) FROM registrations").fetchone()[0])
    finally:
        db.close()


def exchange(server: RunningServer, request: bytes) -> bytes:
    port = int(server.base_url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        try:
            sock.sendall(request)
            sock.shutdown(socket.SHUT_WR)
        except OSError:  # the server may answer and close before reading it all
            pass
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except (ConnectionResetError, TimeoutError):
            pass
    return b"".join(chunks)


def check_answer(answer: bytes) -> int:
    if not answer:
        return 0  # closed without an answer (e.g. the request never ended): no 5xx either
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0]
    assert status_line.startswith(b"HTTP/1.1 "), answer[:300]
    status = int(status_line.split()[1])
    assert 100 <= status < 500, answer[:600]
    lowered = head.lower()
    for name in (b"content-security-policy", b"x-content-type-options", b"x-frame-options"):
        assert name + b": " in lowered, answer[:600]
    assert b"Traceback" not in answer and b'File "' not in body
    return status


def build(method: bytes, path: bytes, headers: list[tuple[str, bytes]], body: bytes) -> bytes:
    lines = [method + b" " + path + b" HTTP/1.1", b"Host: 127.0.0.1", b"Connection: close"]
    lines += [name.encode("latin-1") + b": " + value for name, value in headers]
    lines.append(b"Content-Length: " + str(len(body)).encode())
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


@LIVE
@given(
    method=methods,
    path=paths,
    headers=st.lists(st.tuples(header_names, header_values), max_size=6),
    content_type=content_types,
    body=register_bodies(),
)
@example(method=b"GET", path=b"/%00", headers=[], content_type="", body=b"")
@example(method=b"GET", path=b"/" + b"a" * 300, headers=[], content_type="", body=b"")
@example(
    method=b"POST",
    path=b"/register",
    headers=[],
    content_type="application/json",
    body=b'{"name": "\\ud800x", "email": "jane@example.com"}',
)
@example(method=b"HEAD", path=b"/confirm?token=" + b"A" * 64, headers=[], content_type="", body=b"")
@example(
    method=b"GET",
    path=b"/_mailbox",
    headers=[("host", b"evil.example")],
    content_type="",
    body=b"",
)
def test_live_server_never_fails(
    server: RunningServer,
    method: bytes,
    path: bytes,
    headers: list[tuple[str, bytes]],
    content_type: str,
    body: bytes,
) -> None:
    if content_type:
        headers = [*headers, ("content-type", content_type.encode("latin-1"))]
    before = registrations(server)
    status = check_answer(exchange(server, build(method, path, headers, body)))
    if status >= 400 or status == 0:
        assert registrations(server) == before


@settings(LIVE, max_examples=40)
@given(data=st.binary(min_size=1, max_size=400))
@example(data=b"NOT HTTP AT ALL\r\n\r\n")
@example(data=b"GET / HTTP/1.1\r\nHost: \xff\xfe\r\n\r\n")
@example(data=b"GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n")
@example(data=b"POST /register HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
def test_live_server_survives_raw_bytes(server: RunningServer, data: bytes) -> None:
    before = registrations(server)
    check_answer(exchange(server, data))
    assert registrations(server) == before
