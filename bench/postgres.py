"""8. PostgreSQL replicas (issue 13): 1, 2 and 4 `regflow serve` processes on one PostgreSQL
(a throwaway local cluster with fsync on, or `TEST_DATABASE_URL`), each with its own SMTP sink
target (one aiosmtpd on loopback), behind a round-robin client (request k goes to replica
k mod n, keep-alive connections to every replica).

Per replica count, on a fresh database:
- throughput: `POST /register` for unique addresses, each from its own client address
  (`X-Forwarded-For`, the replicas trust loopback as their proxy): req/s, p50, p99;
- drain: from the last 2xx until the outbox is empty (every verification mail handed to SMTP);
- exactness under load: posts for a few addresses (each many times) and a burst from one client,
  spread over every replica at once; mails per address must equal the address limit
  (`ADDRESS_LIMIT_PER_DAY`) and the client's 202s its limit (`IP_LIMIT_PER_HOUR`), never more.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench.common import Section, Target, fmt, percentile, table
from bench.loadgen import read_response

ADDRESS_LIMIT = 3

FULL = {
    "replicas": (1, 2, 4),
    "unique": 1500,
    "connections": 16,
    "addresses": 20,
    "posts": 10,
    "client_posts": 120,
    "client_limit": 40,
}
QUICK = {
    "replicas": (1, 2),
    "unique": 20,
    "connections": 4,
    "addresses": 2,
    "posts": 6,
    "client_posts": 12,
    "client_limit": 5,
}


def _encode(path: str, body: dict[str, Any], client: str, port: int) -> bytes:
    data = json.dumps(body).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: regflow-bench\r\n"
        f"X-Forwarded-For: {client}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(data)}\r\n\r\n"
    )
    return head.encode() + data


async def _round_robin(
    ports: list[int], requests: list[tuple[dict[str, Any], str]], connections: int
) -> dict[str, Any]:
    """Every request, request k to replica k mod n; `connections` workers, each keeping one
    connection to every replica."""
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    next_index = 0

    async def worker() -> None:
        nonlocal next_index
        conns = [await asyncio.open_connection("127.0.0.1", p) for p in ports]
        while next_index < len(requests):
            k = next_index
            next_index += 1
            body, client = requests[k]
            r = k % len(ports)
            reader, writer = conns[r]
            t0 = time.perf_counter()
            writer.write(_encode("/register", body, client, ports[r]))
            status, keep_alive = await read_response(reader)
            latencies.append((time.perf_counter() - t0) * 1000)
            statuses[status] += 1
            if not keep_alive:
                writer.close()
                conns[r] = await asyncio.open_connection("127.0.0.1", ports[r])
        for _, writer in conns:
            writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    elapsed = time.perf_counter() - start
    return {
        "completed": len(latencies),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "elapsed_s": elapsed,
        "rps": len(latencies) / elapsed if elapsed else 0.0,
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
        "end": time.perf_counter(),
    }


def _drive(ports: list[int], requests: list[tuple[dict[str, Any], str]], connections: int) -> Any:
    """`_round_robin` on an event loop of its own, in a thread of its own (the caller may
    already run a loop: pytest plugins, a notebook)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(_round_robin(ports, requests, connections))).result()


def _outbox_rows(url: str) -> int:
    import psycopg

    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM outbox").fetchone()
        return int(row[0]) if row else 0


def _wait_drained(url: str, timeout: float) -> float:
    deadline = time.perf_counter() + timeout
    while _outbox_rows(url) and time.perf_counter() < deadline:
        time.sleep(0.02)
    return time.perf_counter()


def measure_replicas(admin_url: str, n: int, plan: dict[str, Any], work: Path) -> dict[str, Any]:
    from tests.support.postgres import fresh_database
    from tests.support.sqlite import ServerProcess, SmtpSink

    url = fresh_database(admin_url, f"bench_{n}")
    with ExitStack() as stack:
        sink = stack.enter_context(SmtpSink())
        env = {
            "DATABASE_URL": url,
            "SMTP_URL": sink.url,
            "TOKEN_SECRET": "b" * 48,
            "TRUSTED_PROXIES": "127.0.0.1/32",
            "IP_LIMIT_PER_HOUR": str(plan["client_limit"]),
            "ADDRESS_LIMIT_PER_DAY": str(ADDRESS_LIMIT),
            "ADDRESS_MIN_INTERVAL_SECONDS": "0",
        }
        servers = [
            stack.enter_context(ServerProcess(work / f"r{n}-{i}", env=env)) for i in range(n)
        ]
        ports = [s.port for s in servers]
        conns = int(plan["connections"])
        # warm-up (discarded)
        warm = [
            ({"name": "Warm", "email": f"warm{i}@example.com"}, f"10.9.0.{i}") for i in range(20)
        ]
        _drive(ports, warm, conns)
        _wait_drained(url, 30)
        sent_before = len(sink.messages)

        unique = [
            (
                {"name": f"Bench {i}", "email": f"u{i}@example.com"},
                f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}",
            )
            for i in range(int(plan["unique"]))
        ]
        load = _drive(ports, unique, conns)
        drained = _wait_drained(url, 120)
        drain_s = drained - load["end"]
        mails = len(sink.messages) - sent_before

        # exactness: many posts per address (each from its own client), and one busy client
        same = [
            ({"name": "Same", "email": f"same{a}@example.com"}, f"10.200.{a}.{p}")
            for p in range(int(plan["posts"]))
            for a in range(int(plan["addresses"]))
        ]
        busy = [
            ({"name": "Busy", "email": f"busy{i}@example.com"}, "198.51.100.7")
            for i in range(int(plan["client_posts"]))
        ]
        limits = _drive(ports, same + busy, conns)
        _wait_drained(url, 60)
        sent = Counter(m["To"].addresses[0].addr_spec for m in list(sink.messages))
        per_address = [sent[f"same{a}@example.com"] for a in range(int(plan["addresses"]))]
        busy_mails = sum(v for k, v in sent.items() if k.startswith("busy"))
        expected_busy = min(int(plan["client_limit"]), int(plan["client_posts"]))
    return {
        "replicas": n,
        "load": {k: v for k, v in load.items() if k != "end"},
        "drain_s": drain_s,
        "mails": mails,
        "limit_statuses": limits["statuses"],
        "per_address_max": max(per_address),
        "per_address_min": min(per_address),
        "address_limit": min(ADDRESS_LIMIT, int(plan["posts"])),
        "busy_mails": busy_mails,
        "busy_expected": expected_busy,
    }


def measure(quick: bool = False) -> dict[str, Any]:
    from tests.support.postgres import pg_server

    plan: dict[str, Any] = dict(QUICK if quick else FULL)
    with (
        tempfile.TemporaryDirectory(prefix="regflow-bench-pg-") as tmp,
        pg_server(durable=True) as admin,
    ):
        runs = [measure_replicas(admin, n, plan, Path(tmp)) for n in plan["replicas"]]
    return {"runs": runs, "plan": {k: v for k, v in plan.items() if k != "replicas"}}


def section(data: dict[str, Any]) -> Section:
    rows = []
    for r in data["runs"]:
        load = r["load"]
        ok = load["statuses"].get("202", 0)
        rows.append(
            [
                r["replicas"],
                f"{ok}/{load['completed']}",
                fmt(load["rps"], 0),
                fmt(load["p50_ms"], 1),
                fmt(load["p99_ms"], 1),
                f"{r['mails']}",
                fmt(r["drain_s"], 2),
                f"{r['per_address_min']}-{r['per_address_max']} (limit {r['address_limit']})",
                f"{r['busy_mails']} (limit {r['busy_expected']})",
            ]
        )
    md = table(
        [
            "replicas",
            "202/posts",
            "req/s",
            "p50 ms",
            "p99 ms",
            "mails",
            "drain s",
            "mails per address",
            "mails of one client",
        ],
        rows,
    )
    md += (
        "\n\nOne PostgreSQL (fsync on) and every replica on this machine's cores, with the "
        "round-robin client (in the bench process) and one SMTP sink. `drain s`: from the last "
        "response until every verification mail was handed to SMTP. The last two columns are "
        "the exactness of the limits under that load: many posts for each of a few addresses "
        "and a burst from one client, spread over every replica at once."
    )
    targets = []
    exact = all(
        r["per_address_max"] == r["address_limit"] and r["busy_mails"] == r["busy_expected"]
        for r in data["runs"]
    )
    targets.append(
        Target(
            "PostgreSQL limits exact across replicas",
            "mails = limits, never more",
            "exact" if exact else "NOT exact",
            exact,
        )
    )
    return Section("postgres", "PostgreSQL: replicas on one database", md, data, targets)


def run(quick: bool = False) -> Section:
    return section(measure(quick))
