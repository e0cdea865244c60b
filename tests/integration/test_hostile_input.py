"""Issue 9, tried as an attacker would: `regflow serve` over real sockets (a subprocess on a
loopback port) and the Lambda handlers under moto. Each test failed before its fix."""

from __future__ import annotations

import json
import os
import re
import socket
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.aws import Stack, aws_stack
from tests.support.events import http_event, json_post
from tests.support.names import LINK_NAMES
from tests.support.server import RunningServer, regflow_command, regflow_server, server_env

pytestmark = pytest.mark.slow

SURROGATE_BODY = '{"name": "\\ud800x", "email": "jane@example.com"}'
SECURITY = ("content-security-policy", "x-content-type-options", "x-frame-options")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    data = tmp_path_factory.mktemp("hostile") / "data"
    old = os.umask(0o022)  # the usual default umask: files would be 0644 without the fix
    try:
        env = {"READ_TIMEOUT_SECONDS": "1.5", "IP_LIMIT_PER_HOUR": "1000"}
        with regflow_server(data, env) as running:
            yield running
    finally:
        os.umask(old)


def raw(server: RunningServer, data: bytes, *, wait: float = 5.0) -> bytes:
    """Send `data` on a fresh connection; everything the server answers until it closes."""
    port = int(server.base_url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as sock:
        sock.sendall(data)
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except TimeoutError:
            pass
    return b"".join(chunks)


def no_traceback(server: RunningServer) -> None:
    text = server.log_path.read_text(errors="replace")
    assert "Traceback" not in text, text[-3000:]
    for line in text.splitlines():
        if line.startswith("{"):
            json.loads(line)  # one JSON object per log line


# --- the per-client limit from loopback --------------------------------------------------------


def test_forwarded_for_from_loopback_is_not_believed(tmp_path: Path) -> None:
    with (
        regflow_server(tmp_path / "data") as server,
        httpx.Client(base_url=server.base_url, timeout=5) as http,
    ):
        codes = [
            http.post(
                "/register",
                json={"name": "Jane", "email": f"xff{i}@example.com"},
                headers={"X-Forwarded-For": f"198.51.100.{i}"},
            ).status_code
            for i in range(25)
        ]
    assert codes[:20] == [202] * 20
    assert codes[20:] == [429] * 5


# --- 5xx from client input ---------------------------------------------------------------------


def test_lone_surrogate_in_name_is_a_400_embedded(server: RunningServer) -> None:
    r = httpx.post(
        server.url("/register"),
        content=SURROGATE_BODY,
        headers={"content-type": "application/json", "x-forwarded-for": "10.9.9.9"},
    )
    assert r.status_code == 400
    assert r.json()["field"] == "name"
    no_traceback(server)


@pytest.mark.parametrize("name", LINK_NAMES)
def test_a_name_with_a_short_link_or_an_ip_address_is_a_400_embedded(
    server: RunningServer, name: str
) -> None:
    """Issue 27: nothing is stored or mailed for a name a mail client would make a link of."""
    r = httpx.post(
        server.url("/register"),
        json={"name": name, "email": "linky@example.com"},
        headers={"x-forwarded-for": "10.9.9.8"},
    )
    assert r.status_code == 400
    assert r.json()["field"] == "name"
    assert "web address" in r.json()["error"]


@pytest.mark.parametrize(
    "path",
    [b"/%00", b"/a%00b.html", b"/" + b"a" * 300, b"/x/" + b"%C3%A9" * 200, b"/%ff%fe"],
)
def test_bad_static_paths_are_404_without_traceback(server: RunningServer, path: bytes) -> None:
    answer = raw(server, b"GET " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 404 "), answer[:200]
    no_traceback(server)


def test_the_servers_own_400_carries_the_security_headers(server: RunningServer) -> None:
    answer = raw(server, b"NOT HTTP AT ALL\r\n\r\n").lower()
    assert answer.startswith(b"http/1.1 400 "), answer[:200]
    for name in SECURITY:
        assert name.encode() + b": " in answer
    no_traceback(server)


# --- loopback-only pages and Host ---------------------------------------------------------------


def test_mailbox_answers_only_to_its_own_host_names(server: RunningServer) -> None:
    port = server.base_url.rsplit(":", 1)[1]
    with httpx.Client(base_url=server.base_url, timeout=5) as http:
        assert http.get("/_mailbox", headers={"Host": f"evil.example:{port}"}).status_code == 421
        assert http.get("/_mailbox", headers={"Host": "evil.example"}).status_code == 421
        assert http.get("/_mailbox", headers={"Host": f"127.0.0.1:{port}"}).status_code == 200
        assert http.get("/_mailbox", headers={"Host": f"localhost:{port}"}).status_code == 200
        # the sign-up page itself is not loopback-only
        assert http.get("/", headers={"Host": "evil.example"}).status_code == 200


# --- read timeouts ------------------------------------------------------------------------------


def test_slow_headers_and_slow_bodies_are_cut_off(server: RunningServer) -> None:
    port = int(server.base_url.rsplit(":", 1)[1])
    socks = []
    started = time.monotonic()
    for i in range(20):
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        if i % 2:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        else:
            sock.sendall(
                b"POST /register HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
            )
        socks.append(sock)
    try:
        for sock in socks:
            data = b""
            while chunk := sock.recv(4096):  # the server closes: recv returns b""
                data += chunk
            assert data.startswith(b"HTTP/1.1 408 "), data[:200]
            assert b"x-frame-options: DENY" in data
    finally:
        for sock in socks:
            sock.close()
    assert time.monotonic() - started < 8  # READ_TIMEOUT_SECONDS=1.5, not indefinitely
    with httpx.Client(base_url=server.base_url, timeout=5) as http:
        assert http.get("/_health").status_code == 200  # and the server is fine
    no_traceback(server)


# --- HEAD and POST /confirm ---------------------------------------------------------------------


def _token(server: RunningServer, email: str) -> str:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for path in (server.data_dir / "mailbox").glob("*.eml"):
            text = path.read_text(errors="replace")
            if email in text and (m := re.search(r"token=([A-Za-z0-9_-]{64})", text)):
                return m.group(1)
        time.sleep(0.05)
    raise AssertionError("no verification mail")


def test_head_never_confirms_and_post_wants_a_form(server: RunningServer) -> None:
    email = "head@example.com"
    with httpx.Client(base_url=server.base_url, timeout=5) as http:
        r = http.post(
            "/register",
            json={"name": "Head", "email": email},
            headers={"x-forwarded-for": "1.1.1.1"},
        )
        assert r.status_code == 202
        token = _token(server, email)
        head = http.head(f"/confirm?token={token}")
        assert head.status_code == 405
        assert server.status_of(email) == ["PENDING"]
        as_json = http.post(
            "/confirm", content=json.dumps({"token": token}), headers={"content-type": "text/plain"}
        )
        assert as_json.status_code == 415
        as_text = http.post(
            "/confirm", content=f"token={token}", headers={"content-type": "text/plain"}
        )
        assert as_text.status_code == 415
        assert server.status_of(email) == ["PENDING"]
        assert http.post("/confirm", data={"token": token}).status_code == 303
        assert server.status_of(email) == ["CONFIRMED"]


# --- the data directory ---------------------------------------------------------------------------


def test_data_dir_is_private_whatever_the_umask(server: RunningServer) -> None:
    _token(server, "@example.com")  # at least one message was written
    data = server.data_dir
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    wal = data / "regflow.db-wal"
    assert wal.exists()
    for root, dirs, files in os.walk(data):
        for name in dirs:
            assert stat.S_IMODE(os.stat(os.path.join(root, name)).st_mode) == 0o700, name
        for name in files:
            assert stat.S_IMODE(os.stat(os.path.join(root, name)).st_mode) == 0o600, name


def _serve_once(data: Path) -> subprocess.CompletedProcess[str]:
    cmd = [*regflow_command(), "serve", "--port", "1", "--data-dir", str(data)]
    return subprocess.run(
        cmd, capture_output=True, text=True, timeout=15, env=server_env(), check=False
    )


@pytest.mark.parametrize(
    ("content", "mode", "says"),
    [
        (bytes(range(32)).hex(), 0o644, "can be read by other users"),
        ((b"\x00" * 32).hex(), 0o600, "too weak"),
        ((b"\x07" * 40).hex(), 0o600, "too weak"),
        ((b"\x01\x02" * 8).hex(), 0o600, "too weak"),
    ],
)
def test_exposed_or_weak_key_stops_start_up_with_one_line(
    tmp_path: Path, content: str, mode: int, says: str
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    key = data / "secret.key"
    key.write_text(content + "\n")
    os.chmod(key, mode)
    done = _serve_once(data)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert str(key) in lines[0] and says in lines[0]


# --- the Lambda path ----------------------------------------------------------------------------


@pytest.fixture
def stack() -> Iterator[Stack]:
    with aws_stack() as s:
        yield s


def test_lone_surrogate_in_name_is_a_400_on_lambda(stack: Stack) -> None:
    event = http_event(
        "POST", "/register", body=SURROGATE_BODY, headers={"content-type": "application/json"}
    )
    response = stack.register(event)
    assert response["statusCode"] == 400
    assert json.loads(response["body"])["field"] == "name"
    assert stack.items() == []


def test_validation_cancellation_is_500_without_retry_after(
    stack: Stack, capfd: pytest.CaptureFixture[str]
) -> None:
    ddb = stack.clients.dynamodb()
    cancelled: dict[str, Any] = {
        "Error": {"Code": "TransactionCanceledException", "Message": "cancelled"},
        "CancellationReasons": [{"Code": "ValidationError"}, {"Code": "None"}],
        "ResponseMetadata": {"HTTPStatusCode": 400},
    }
    calls: list[int] = []

    def fail(**_: Any) -> Any:
        from botocore.awsrequest import AWSResponse

        calls.append(1)
        return AWSResponse("https://fault.invalid/", 400, {}, None), cancelled  # type: ignore[arg-type]

    ddb.meta.events.register("before-call.dynamodb.TransactWriteItems", fail)
    response = stack.register(json_post("/register", {"name": "Jane", "email": "j@example.com"}))
    assert response["statusCode"] == 500
    assert "Retry-After" not in response["headers"]
    assert len(calls) == 1  # not retried: it cannot succeed
    lines = [json.loads(line) for line in capfd.readouterr().out.splitlines() if line]
    assert any(e["level"] == "ERROR" and e.get("exception") == "StoreFault" for e in lines)


def test_limited_post_spends_client_quota_on_lambda(stack: Stack) -> None:
    """IP_LIMIT_PER_HOUR=20 (the default): a client posting one limited address over and over
    gets the same 20 posts as a client posting fresh addresses."""

    def post(email: str, ip: str) -> int:
        event = json_post("/register", {"name": "Jane", "email": email}, source_ip=ip)
        return int(stack.register(event)["statusCode"])

    limited = [post("same@example.com", "203.0.113.50") for _ in range(22)]
    fresh = [post(f"f{i}@example.com", "203.0.113.51") for i in range(22)]
    assert limited == fresh == [202] * 20 + [429] * 2
