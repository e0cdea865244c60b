"""Several `regflow serve` replicas on one PostgreSQL (issue 13): every guarantee of one process
holds across them. Real processes, a real cluster, a real SMTP server on loopback."""

from __future__ import annotations

import signal
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.support.postgres import fresh_database, wait_until
from tests.support.sqlite import ServerProcess, SmtpSink, confirm_link

pytestmark = pytest.mark.slow

SECRET = "r" * 48  # replicas share the token secret: a link works through any of them


@pytest.fixture
def db_url(pg_admin_url: str, request: pytest.FixtureRequest) -> str:
    return fresh_database(pg_admin_url, "replicas_" + request.node.name[:40].lower())


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    with SmtpSink() as s:
        yield s


def replicas(
    tmp_path: Path, db_url: str, sink: SmtpSink, n: int = 2, **extra: str
) -> list[ServerProcess]:
    env = {"DATABASE_URL": db_url, "SMTP_URL": sink.url, "TOKEN_SECRET": SECRET, **extra}
    servers = []
    try:
        for i in range(n):
            servers.append(ServerProcess(tmp_path / f"replica{i}", env=env).start())
    except BaseException:
        for s in servers:
            s.stop()
        raise
    return servers


def rows(db_url: str, sql: str) -> list[tuple[object, ...]]:
    with psycopg.connect(db_url) as conn:
        return conn.execute(sql.encode()).fetchall()


def outbox_empty(db_url: str) -> bool:
    return rows(db_url, "SELECT count(*) FROM outbox") == [(0,)]


def test_twenty_simultaneous_posts_for_one_address_send_one_mail(
    tmp_path: Path, db_url: str, sink: SmtpSink
) -> None:
    servers = replicas(tmp_path, db_url, sink, IP_LIMIT_PER_HOUR="0")
    try:
        barrier = threading.Barrier(20)

        def post(i: int) -> int:
            base = servers[i % 2].base
            barrier.wait()
            r = httpx.post(
                f"{base}/register", json={"name": "Ann", "email": "ann@example.com"}, timeout=10
            )
            return r.status_code

        with ThreadPoolExecutor(20) as pool:
            codes = list(pool.map(post, range(20)))
        assert set(codes) == {202}
        sink.wait_for(1)
        wait_until(lambda: outbox_empty(db_url))
        assert rows(db_url, "SELECT count(*) FROM registrations") == [(1,)]
        assert len(sink.messages) == 1
    finally:
        for s in servers:
            s.stop()


def test_simultaneous_clicks_through_both_replicas_notify_the_owner_once(
    tmp_path: Path, db_url: str, sink: SmtpSink
) -> None:
    servers = replicas(tmp_path, db_url, sink)
    try:
        r = httpx.post(
            f"{servers[0].base}/register", json={"name": "Bo", "email": "bo@example.com"}
        )
        assert r.status_code == 202
        [verification] = sink.wait_for(1)
        link = confirm_link(verification)
        path = link[link.index("/confirm") :]
        barrier = threading.Barrier(10)

        def click(i: int) -> str:
            barrier.wait()
            got = httpx.get(servers[i % 2].base + path, timeout=10, follow_redirects=False)
            assert got.status_code in (302, 303), got.text
            return got.headers["location"]

        with ThreadPoolExecutor(10) as pool:
            answers = list(pool.map(click, range(10)))
        assert sum("status=confirmed" in a for a in answers) == 1
        assert sum("already-confirmed" in a for a in answers) == 9
        sink.wait_for(2)
        wait_until(lambda: outbox_empty(db_url))
        owner = [m for m in sink.messages if m is not verification]
        assert len(owner) == 1
    finally:
        for s in servers:
            s.stop()


def test_per_client_limit_is_exact_across_replicas(
    tmp_path: Path, db_url: str, sink: SmtpSink
) -> None:
    servers = replicas(tmp_path, db_url, sink, IP_LIMIT_PER_HOUR="7")
    try:
        barrier = threading.Barrier(16)

        def post(i: int) -> int:
            barrier.wait()
            r = httpx.post(
                f"{servers[i % 2].base}/register",
                json={"name": "Cy", "email": f"cy{i}@example.com"},
                timeout=10,
            )
            return r.status_code

        with ThreadPoolExecutor(16) as pool:
            codes = Counter(pool.map(post, range(16)))
        assert codes == Counter({202: 7, 429: 9})
        sink.wait_for(7)
        wait_until(lambda: outbox_empty(db_url))
        assert len(sink.messages) == 7
    finally:
        for s in servers:
            s.stop()


def test_killing_a_replica_mid_burst_loses_nothing_acknowledged(
    tmp_path: Path, db_url: str, sink: SmtpSink
) -> None:
    servers = replicas(tmp_path, db_url, sink, IP_LIMIT_PER_HOUR="0")
    victim = servers[0]
    acknowledged: list[str] = []
    lock = threading.Lock()
    kill_at, total = 50, 100
    try:

        def client(worker: int) -> None:
            with httpx.Client(timeout=5.0) as http:
                for i in range(total // 4):
                    server = servers[(worker + i) % 2]  # round-robin
                    email = f"burst-{worker}-{i}@example.com"
                    try:
                        r = http.post(
                            f"{server.base}/register", json={"name": "Burst", "email": email}
                        )
                    except httpx.TransportError:
                        continue  # the killed replica: not acknowledged
                    assert r.status_code == 202, r.text
                    with lock:
                        acknowledged.append(email)
                        if len(acknowledged) == kill_at:
                            victim.signal(signal.SIGKILL)

        with ThreadPoolExecutor(4) as pool:
            for f in [pool.submit(client, w) for w in range(4)]:
                f.result()
        assert victim.wait() == -signal.SIGKILL
        stored = {str(e) for (e,) in rows(db_url, "SELECT email FROM registrations")}
        assert set(acknowledged) <= stored  # every 2xx is in the database
        # the survivor takes over the dead replica's claims (its advisory lock is gone)
        wait_until(lambda: outbox_empty(db_url), timeout=60)
        sent = Counter(m["To"].addresses[0].addr_spec for m in sink.messages)
        assert set(sent) == stored  # every stored registration got its mail...
        repeated = [e for e, n in sent.items() if n > 1]
        assert len(repeated) <= 1  # ...once (only a send in flight at the kill can repeat)
    finally:
        for s in servers:
            s.stop()
