"""The SQLite store for tests: a real database file under the test's tmp_path."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import httpx

from regflow.adapters.sqlite import SQLiteStore
from tests.support.server import free_port, regflow_command, server_env


@contextmanager
def sqlite_store(tmp_path: Path, event_targets: tuple[str, ...] = ()) -> Iterator[SQLiteStore]:
    store = SQLiteStore(tmp_path / "regflow.db", event_targets=event_targets)
    try:
        yield store
    finally:
        store.close()


def query(path: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """The rows of `sql` on the database file at `path`, read through a connection of its own
    (what another process, or an operator with the sqlite3 shell, would see)."""
    db = sqlite3.connect(path)
    try:
        return db.execute(sql, params).fetchall()
    finally:
        db.close()


# --- the embedded server (SQLite + outbox) as a user starts it: a `regflow serve` process ---


class ServerProcess:
    """`regflow serve --port <port> --data-dir <dir>` in a subprocess, ready when its
    `/_health` answers. Output goes to files under the data dir's parent."""

    def __init__(
        self, data_dir: Path, *, port: int | None = None, env: dict[str, str] | None = None
    ) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        # the caller's settings must not leak in: a test sets what it needs explicitly
        self.env = server_env({"LOG_LEVEL": "WARNING", **(env or {})})
        self.proc: subprocess.Popen[bytes] | None = None
        self._runs = 0

    def start(self, timeout: float = 15.0) -> ServerProcess:
        self._runs += 1
        logs = self.data_dir.parent / f"{self.data_dir.name}-run{self._runs}"
        self.stdout_path, self.stderr_path = logs.with_suffix(".out"), logs.with_suffix(".err")
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                [
                    *regflow_command(),
                    "serve",
                    "--port",
                    str(self.port),
                    "--data-dir",
                    str(self.data_dir),
                ],
                stdout=out,
                stderr=err,
                env=self.env,
            )
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited {self.proc.returncode}: {self.stderr()}")
            try:
                if httpx.get(f"{self.base}/_health", timeout=1.0).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"server not ready: {self.stderr()}")
            time.sleep(0.05)

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def signal(self, signum: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(signum)

    def wait(self, timeout: float = 15.0) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def mailbox_messages(data_dir: Path) -> list[EmailMessage]:
    """Every message in the server's local mailbox, oldest first."""
    box = data_dir / "mailbox"
    out = []
    for path in sorted(box.glob("*.eml")) if box.is_dir() else []:
        with open(path, "rb") as fh:
            msg = BytesParser(policy=policy.default).parse(fh)
        assert isinstance(msg, EmailMessage)
        out.append(msg)
    return out


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    content = part.get_content()
    assert isinstance(content, str)
    return content


def confirm_link(message: EmailMessage) -> str:
    match = re.search(r"https?://\S+/confirm\?token=[A-Za-z0-9_-]+", text_of(message))
    assert match is not None, text_of(message)
    return match.group(0)


class SmtpSink:
    """A real SMTP server (aiosmtpd) on loopback that keeps every message it accepts."""

    def __init__(self, port: int | None = None) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.arrived = threading.Condition()
        self.port = port or free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:
        msg = BytesParser(policy=policy.default).parsebytes(envelope.original_content)
        assert isinstance(msg, EmailMessage)
        with self.arrived:
            self.messages.append(msg)
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
            self.arrived.notify_all()
        return "250 OK"

    def wait_for(self, count: int, timeout: float = 10.0) -> list[EmailMessage]:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.messages) >= count, timeout)
            return list(self.messages)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def __enter__(self) -> SmtpSink:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()


# The DDL of a fresh file of schema version 3 (the last release before deliverability, the
# export index, events and the sign-up options), frozen as it was released: migration tests
# start from it.
VERSION_3_SCHEMA = """
CREATE TABLE IF NOT EXISTS registrations (
    id               TEXT PRIMARY KEY,
    addr_key         TEXT NOT NULL,
    name             TEXT NOT NULL,
    email            TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('PENDING', 'CONFIRMED')),
    timestamp        TEXT NOT NULL,        -- ISO-8601 UTC, microseconds
    ttl              INTEGER,              -- epoch seconds; NULL once confirmed
    confirmed_at     TEXT,                 -- ISO-8601 UTC, microseconds
    language         TEXT NOT NULL DEFAULT 'en',
    delivery_failure TEXT                  -- an error code, never message text
);
CREATE INDEX IF NOT EXISTS registrations_addr ON registrations (addr_key);
CREATE INDEX IF NOT EXISTS registrations_ttl ON registrations (ttl) WHERE status = 'PENDING';
CREATE INDEX IF NOT EXISTS registrations_time ON registrations (timestamp, id);
CREATE TABLE IF NOT EXISTS confirmed_addresses (
    addr_key        TEXT PRIMARY KEY,
    registration_id TEXT NOT NULL UNIQUE REFERENCES registrations (id)
);
CREATE TABLE IF NOT EXISTS limit_counters (  -- the per-client limit (fixed window)
    key          TEXT PRIMARY KEY,
    window_start INTEGER NOT NULL,
    count        INTEGER NOT NULL,
    last_at      INTEGER NOT NULL,
    expires      INTEGER NOT NULL          -- epoch seconds after which the counter is moot
);
CREATE TABLE IF NOT EXISTS send_logs (       -- the per-address limit (sliding log)
    key          TEXT PRIMARY KEY,         -- "address:<mailbox_key>"
    times        TEXT NOT NULL,            -- JSON array of epoch seconds, oldest first
    expires      INTEGER NOT NULL          -- epoch seconds after which the log is moot
);
CREATE TABLE IF NOT EXISTS outbox (          -- one row per message owed (kind, registration)
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    kind            TEXT NOT NULL,
    channel         TEXT NOT NULL DEFAULT 'email',
    registration_id TEXT NOT NULL,
    created         TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL,                  -- epoch seconds; NULL: parked until an operator asks
    claimed_at      REAL,                  -- set while a sender is delivering it
    last_error      TEXT,                  -- an error code, never message text
    parked          INTEGER NOT NULL DEFAULT 0,
    parked_at       REAL,                  -- epoch seconds it was first parked
    first_failed_at REAL                   -- epoch seconds of its first failed attempt
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (next_attempt_at);
CREATE INDEX IF NOT EXISTS outbox_message ON outbox (registration_id, kind);
"""


def version_3_file(path: Path) -> None:
    """A database file exactly as version 3 created it (no rows)."""
    from regflow.adapters.sqlite.schema import statements

    db = sqlite3.connect(path, isolation_level=None)
    try:
        for statement in statements(VERSION_3_SCHEMA):
            db.execute(statement)
        db.execute("PRAGMA user_version = 3")
    finally:
        db.close()
