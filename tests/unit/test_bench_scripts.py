"""Every bench script's core on tiny inputs, so the scripts do not rot. Nothing here is timed:
the assertions are on counts and on how targets are judged, never on speed."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
from pathlib import Path
from typing import Any

import pytest
from bench import abuse, burst, cold_start, loadgen, postgres, request_path, run, server_load


def test_cold_start_samples_fresh_processes_and_judges_ratios() -> None:
    subjects = tuple(s for s in cold_start.SUBJECTS if s.key in ("bare", "floor"))
    data = cold_start.measure(1, subjects)
    assert data["subjects"]["floor"]["modules"] > data["subjects"]["bare"]["modules"]
    assert data["subjects"]["floor"]["ratio_cpu"] == pytest.approx(1.0)

    fake = {
        "rounds": 7,
        "subjects": {
            key: {
                "label": key,
                "cpu_median_ms": 100.0 * ratio,
                "wall_median_ms": 100.0 * ratio,
                "process_wall_median_ms": 150.0,
                "imports_email_validator": False,
                "modules": 1,
                "ratio_cpu": ratio,
                "ratio_wall": ratio,
            }
            for key, ratio in (("floor", 1.0), ("register", 1.25), ("confirm", 1.05))
        },
    }
    targets = {t.name: t.met for t in cold_start.section(fake).targets}
    assert targets == {"cold start: register": False, "cold start: confirm": True}


def test_cold_start_handler_subject_builds_its_service() -> None:
    subject = next(s for s in cold_start.SUBJECTS if s.key == "confirm")
    out = cold_start.sample(subject, cold_start.child_env())
    assert out["seconds"] > 0
    assert out["modules"] > 100  # boto3 and regflow were imported


async def _tiny_server(responses: list[bytes]) -> tuple[asyncio.AbstractServer, int]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        i = 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.decode().split("\r\n"):
                    if line.lower().startswith("content-length:"):
                        length = int(line.split(":", 1)[1])
                await reader.readexactly(length)
                writer.write(responses[i % len(responses)])
                await writer.drain()
                i += 1
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


def test_loadgen_reads_sized_and_chunked_responses() -> None:
    responses = [
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.1 302 Found\r\nLocation: /x\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 202 Accepted\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    ]

    async def scenario() -> dict[str, Any]:
        server, port = await _tiny_server(responses)
        async with server:
            spec = {
                "host": "127.0.0.1",
                "port": port,
                "connections": 1,
                "max_seconds": 30,
                "requests": [{"method": "POST", "path": "/register", "body": "{}"}] * 6,
            }
            return await loadgen.run(spec)

    # its own thread: a session-scoped Playwright browser (sync API) may hold a running
    # event loop in the main thread when this test runs after the browser tests
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        result = pool.submit(asyncio.run, scenario()).result()
    assert result["completed"] == 6
    assert result["statuses"] == {"200": 2, "202": 2, "302": 2}
    assert result["errors"] == {}
    assert result["p50_ms"] <= result["p99_ms"] <= result["max_ms"]


def test_loadgen_encodes_requests() -> None:
    raw = loadgen.encode({"method": "POST", "path": "/register", "body": "{}"}, "127.0.0.1", 80)
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"POST /register HTTP/1.1\r\n")
    assert b"Content-Length: 2" in head and body == b"{}"


def test_request_path_counts_one_dynamodb_call_per_request() -> None:
    data = request_path.measure(flows=2)
    assert data["outcomes"] == {"confirmed": 3}
    assert data["mails_per_flow"] == 2
    section = request_path.section(data)
    assert [t.met for t in section.targets] == [True, True, True]
    assert data["calls_per_flow"]["register"] == {"dynamodb.TransactWriteItems": 1}
    assert data["wcu_per_flow"]["register"] > 0


def test_throttled_ses_gate_follows_the_rate() -> None:
    class Events:
        def register(self, *_: Any) -> None:
            pass

    class Client:
        class meta:
            events = Events()

    class Clock:
        t = 0.0

        def now(self) -> float:
            return self.t

    clock = Clock()
    gate = burst.ThrottledSes(Client(), clock, rate=14.0)  # type: ignore[arg-type]
    answers = [gate._gate() for _ in range(20)]
    assert answers[:14] == [None] * 14  # the bucket starts full
    assert all(a is not None for a in answers[14:])
    clock.t = 0.5  # half a second later: 7 more tokens
    assert [gate._gate() is None for _ in range(8)] == [True] * 7 + [False]
    assert (gate.accepted, gate.throttled) == (21, 7)


def test_burst_delivers_every_mail_once_through_throttling() -> None:
    data = burst.measure(registrations=30, threads=3)
    assert data["non_2xx"] == 0
    assert data["delivered"] == 30
    assert data["duplicates"] == 0
    assert data["ses_throttled"] > 0  # the emulated limit was actually hit
    assert data["drain_simulated_s"] >= data["floor_s"] * 0.9
    assert [t.met for t in burst.section(data).targets] == [True, True, True]


def test_abuse_counts_against_the_limits() -> None:
    data = abuse.measure(posts=8)
    assert data["one_address_burst"]["emails"] == 1
    assert data["one_address_burst"]["registrations_stored"] == 1
    assert data["one_ip_burst"]["statuses"] == {"202": 8}  # under the 20/hour limit
    assert data["naive_one_address"] == {
        "posts": 8,
        "statuses": {"200": 8},
        "emails": 8,
        "item_writes": 8,
    }
    assert all(t.met for t in abuse.section(data).targets)


def test_run_writes_markdown_and_json(tmp_path: Path) -> None:
    code = run.main(["--quick", "--only", "request_path", "--out", str(tmp_path)])
    assert code == 0
    md = (tmp_path / "latest.md").read_text()
    assert md.startswith("## Performance")
    assert "| DynamoDB calls in register's request path | 1 | 1.00 | met |" in md
    payload = json.loads((tmp_path / "latest.json").read_text())
    assert payload["machine"]["cores"] >= 1
    assert payload["quick"] is True
    assert set(payload["sections"]) == {"request_path"}

    # --render rebuilds the same Markdown from the JSON alone
    (tmp_path / "latest.md").unlink()
    assert run.main(["--render", str(tmp_path / "latest.json"), "--out", str(tmp_path)]) == 0
    assert (tmp_path / "latest.md").read_text() == md


@pytest.mark.slow
def test_server_load_drives_the_embedded_server() -> None:
    section = server_load.run(quick=True)
    for level in section.data["levels"]:
        for name in ("ceiling", "register", "confirm"):
            result = level[name]
            assert result["errors"] == {}
            assert result["completed"] > 0
        assert level["register"]["statuses"] == {"202": level["register"]["completed"]}
        assert level["confirmed_after_confirm"] == level["confirm"]["completed"]
    assert section.data["peak_rss_mib"] > 10
    durability = section.data["durability"]
    for setting in ("normal", "full"):
        for result in durability["runs"][setting]:
            assert result["statuses"] == {"202": result["completed"]}
    assert durability["ratio"] > 0
    assert any(t.name.startswith("embedded durable") for t in section.targets)


@pytest.mark.slow
def test_postgres_replicas_bench_runs_and_limits_are_exact() -> None:
    section = postgres.run(quick=True)
    for r in section.data["runs"]:
        assert r["load"]["statuses"] == {"202": r["load"]["completed"]}
        assert r["mails"] == r["load"]["completed"]
        assert r["per_address_max"] == r["per_address_min"] == r["address_limit"]
        assert r["busy_mails"] == r["busy_expected"]
    assert [t.met for t in section.targets] == [True]
