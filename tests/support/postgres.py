"""A real PostgreSQL for tests: `TEST_DATABASE_URL` when given, else a throwaway cluster of
Debian's `postgresql` package (initdb into a temp dir, its own port on 127.0.0.1, its socket in
that dir, torn down after the session). As root the cluster runs as the `postgres` user.

`pg_server()` (session) yields the server's admin URL; `fresh_database(admin_url, name)` makes
an empty database on it and returns its URL; `truncate(url)` empties regflow's tables.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

from tests.support.server import free_port

TABLES = (
    "outbox, confirmed_addresses, registrations, limit_counters, send_logs,"
    " suppressions, soft_bounces, spent_challenges, digests"
)


def pg_bin() -> Path | None:
    """The newest `/usr/lib/postgresql/<major>/bin` with an initdb, if any."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parent.parent.name),
    )
    return Path(found[-1]).parent if found else None


def _as_postgres() -> list[str]:
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


@contextlib.contextmanager
def pg_server(*, durable: bool = False) -> Iterator[str]:
    """The server's admin URL. The throwaway cluster skips fsync (tests do not pull the plug)
    unless `durable` (the benchmark: commits as a production server makes them)."""
    given = os.environ.get("TEST_DATABASE_URL")
    if given:
        yield given
        return
    bin_dir = pg_bin()
    if bin_dir is None:
        raise RuntimeError(
            "no PostgreSQL server: install Debian's postgresql or set TEST_DATABASE_URL"
        )
    root = Path(tempfile.mkdtemp(prefix="regflow-pg-"))
    data = root / "data"
    port = free_port()
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    run = _as_postgres()
    subprocess.run(
        [
            *run,
            str(bin_dir / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
            "-E",
            "UTF8",
            "--locale=C",
        ],
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c max_connections=200"
    if not durable:
        options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    subprocess.run(
        [
            *run,
            str(bin_dir / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(root / "server.log"),
            "-o",
            options,
            "-w",
            "-t",
            "30",
            "start",
        ],
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*run, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
            check=False,
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)


def database_url(admin_url: str, name: str) -> str:
    parts = urlsplit(admin_url)
    return urlunsplit(parts._replace(path="/" + name))


def fresh_database(admin_url: str, name: str) -> str:
    """An empty database `name` on the server (dropped first if it was there)."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())
        conn.execute(f'CREATE DATABASE "{name}"'.encode())
    return database_url(admin_url, name)


def truncate(url: str) -> None:
    """Empty regflow's tables (fast; the schema stays)."""
    with psycopg.connect(url, autocommit=True) as conn:
        exists = conn.execute("SELECT to_regclass('outbox') IS NOT NULL").fetchone()
        if exists and exists[0]:
            conn.execute(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE".encode())


def wait_until(check: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(check) and check():
            return
        time.sleep(0.05)
    raise TimeoutError("condition not met")
