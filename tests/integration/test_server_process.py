"""`regflow serve` started as a user starts it (a subprocess), driven over real HTTP."""

from __future__ import annotations

import signal
import subprocess
import time
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.support.server import free_port, regflow_command
from tests.support.sqlite import (
    ServerProcess,
    confirm_link,
    mailbox_messages,
    text_of,
)

pytestmark = pytest.mark.slow


def wait_for_mail(data_dir: Path, count: int, timeout: float = 10.0) -> list[EmailMessage]:
    deadline = time.monotonic() + timeout
    while True:
        messages = mailbox_messages(data_dir)
        if len(messages) >= count or time.monotonic() > deadline:
            return messages
        time.sleep(0.05)


def test_full_flow_over_http_then_sigterm_exits_cleanly(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = ServerProcess(data).start()
    try:
        with httpx.Client(base_url=server.base, timeout=5.0) as http:
            page = http.get("/")
            assert page.status_code == 200
            assert page.headers["content-type"].startswith("text/html")
            assert page.headers["content-security-policy"].startswith("default-src 'self'")

            r = http.post("/register", json={"name": "Zoë Ünïcode", "email": "zoe@example.com"})
            assert r.status_code == 202, r.text
            assert r.headers["x-content-type-options"] == "nosniff"

            [verification] = wait_for_mail(data, 1)
            assert verification["To"].addresses[0].addr_spec == "zoe@example.com"
            assert "Zoë Ünïcode" in text_of(verification)
            link = confirm_link(verification)
            assert link.startswith(f"{server.base}/confirm?token=")

            listing = http.get("/_mailbox")
            assert listing.status_code == 200
            assert "Please verify your email address" in listing.text

            first = http.get(link)
            assert first.status_code == 302
            location = urlsplit(first.headers["location"])
            assert f"{location.scheme}://{location.netloc}{location.path}" == (
                f"{server.base}/confirmed.html"
            )
            assert parse_qs(location.query) == {"status": ["confirmed"]}

            messages = wait_for_mail(data, 2)
            owner = messages[1]
            assert owner["To"].addresses[0].addr_spec == "owner@localhost"
            assert "zoe@example.com" in text_of(owner)

            again = http.get(link)
            assert again.status_code == 302
            assert again.headers["location"].endswith("status=already-confirmed")
            assert http.get("/nope").status_code == 404
            assert http.get("/nope").json() == {"error": "Not found."}
        assert len(mailbox_messages(data)) == 2  # nothing more was owed

        started = time.monotonic()
        server.signal(signal.SIGTERM)
        assert server.wait(10) == 0
        assert time.monotonic() - started < 5
        assert "Traceback" not in server.stderr()
    finally:
        server.stop()

    key = data / "secret.key"
    assert key.stat().st_mode & 0o777 == 0o600
    # a restart reuses the key: the old link still verifies (and says already-confirmed)
    with ServerProcess(data, port=server.port) as again_server:
        r = httpx.get(link, timeout=5.0)
        assert r.headers["location"].endswith("status=already-confirmed")
        again_server.signal(signal.SIGINT)
        assert again_server.wait(10) == 0


def test_busy_port_is_one_clear_line_and_exit_2(tmp_path: Path) -> None:
    with ServerProcess(tmp_path / "a") as running:
        result = subprocess.run(
            [
                *regflow_command(),
                "serve",
                "--port",
                str(running.port),
                "--data-dir",
                str(tmp_path / "b"),
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"port {running.port} on 127.0.0.1 is already in use" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_unwritable_data_dir_is_one_clear_line_and_exit_2(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    result = subprocess.run(
        [
            *regflow_command(),
            "serve",
            "--port",
            str(free_port()),
            "--data-dir",
            str(blocker / "data"),
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("regflow: cannot write to the data directory")
    assert len(result.stderr.strip().splitlines()) == 1
