"""`regflow serve` started the way a user starts it: a subprocess on a free loopback port.

`regflow_server(data_dir, env={...})` is a context manager yielding a `RunningServer` (its base
URL and data dir) once the server answers HTTP, and stopping it with SIGTERM afterwards. The
server's output goes to `<data dir>/../serve-<port>.log`; it is quoted when the server fails to
start or to stop.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

START_TIMEOUT_SECONDS = 20.0
STOP_TIMEOUT_SECONDS = 10.0

# Variables of the caller's environment that would change what the server does; a test sets
# what it needs explicitly.
_SCRUBBED_PREFIXES = ("AWS_", "REGFLOW_")
_SCRUBBED = frozenset(
    {
        "SMTP_URL",
        "DATABASE_URL",
        "API_BASE_URL",
        "SUCCESS_URL",
        "REGISTER_PAGE_URL",
        "SENDER_EMAIL",
        "OWNER_EMAIL",
        "HOST",
        "PORT",
        "CONFIRM_MODE",
        "TOKEN_SECRET",
        "TOKEN_SECRET_ARN",
        "TRUSTED_PROXIES",
        "BLOCKED_EMAIL_DOMAINS",
        "IP_LIMIT_PER_HOUR",
        "ADDRESS_LIMIT_PER_DAY",
        "ADDRESS_MIN_INTERVAL_SECONDS",
        "TOKEN_TTL_HOURS",
        "TABLE_NAME",
        "SITE_NAME",
        "LOG_LEVEL",
    }
)


@dataclass(frozen=True, slots=True)
class RunningServer:
    base_url: str
    data_dir: Path
    log_path: Path
    pid: int

    def url(self, path: str) -> str:
        return self.base_url + path

    @property
    def db_path(self) -> Path:
        return self.data_dir / "regflow.db"

    def status_of(self, email: str) -> list[str]:
        """The `status` of every registration row for `email`, read-only from the database."""
        db = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=5)
        try:
            rows = db.execute(
                "SELECT status FROM registrations WHERE lower(email) = lower(?)", (email,)
            ).fetchall()
        finally:
            db.close()
        return [str(r[0]) for r in rows]

    def outbox_kinds(self) -> list[str]:
        """The kinds of mail still owed (undelivered outbox rows)."""
        db = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=5)
        try:
            rows = db.execute("SELECT kind FROM outbox ORDER BY id").fetchall()
        finally:
            db.close()
        return [str(r[0]) for r in rows]

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no server log)"
        return "\n".join(text.splitlines()[-lines:])


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def regflow_command() -> list[str]:
    """The installed `regflow` console script next to this interpreter (as `make run` uses)."""
    script = Path(sys.executable).with_name("regflow")
    if script.exists():
        return [str(script)]
    found = shutil.which("regflow")
    if found:
        return [found]
    raise RuntimeError("the `regflow` command is not installed (pip install -e '.[local]')")


def server_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in _SCRUBBED and not k.startswith(_SCRUBBED_PREFIXES)
    }
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


def _wait_until_answering(
    proc: subprocess.Popen[bytes], base_url: str, log_path: Path, timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2.0) as client:
        while True:
            code = proc.poll()
            if code is not None:
                raise RuntimeError(
                    f"regflow serve exited with {code} before answering:\n"
                    + log_path.read_text(errors="replace")
                )
            try:
                if client.get(base_url + "/").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"regflow serve did not answer on {base_url} within {timeout:.0f}s:\n"
                    + log_path.read_text(errors="replace")
                )
            time.sleep(0.05)  # polling a subprocess's port: there is no event to await


@contextlib.contextmanager
def regflow_server(
    data_dir: Path,
    env: Mapping[str, str] | None = None,
    *,
    start_timeout: float = START_TIMEOUT_SECONDS,
) -> Iterator[RunningServer]:
    """Run `regflow serve --host 127.0.0.1 --port <free> --data-dir <data_dir>` with `env`
    added to a scrubbed copy of this process's environment."""
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    log_path = data_dir.parent / f"serve-{port}.log"
    cmd = [
        *regflow_command(),
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
    ]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=server_env(env)
        )
    try:
        _wait_until_answering(proc, base_url, log_path, start_timeout)
        yield RunningServer(base_url=base_url, data_dir=data_dir, log_path=log_path, pid=proc.pid)
    finally:
        stop(proc, log_path)


def stop(proc: subprocess.Popen[bytes], log_path: Path) -> None:
    """SIGTERM, then wait; a server that ignores SIGTERM is killed and reported."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise RuntimeError(
            f"regflow serve did not stop within {STOP_TIMEOUT_SECONDS:.0f}s of SIGTERM:\n"
            + log_path.read_text(errors="replace")
        ) from None
