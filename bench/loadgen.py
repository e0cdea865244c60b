"""A small HTTP/1.1 keep-alive load generator on raw asyncio streams (no third-party client:
httpx would cost more CPU per request than the server under test on a 2-core machine).

Run as a separate process: `python -m bench.loadgen < spec.json`, where the spec is
`{"host", "port", "connections", "max_seconds", "requests": [{"method", "path", "body",
"content_type"}, ...]}`. Each connection takes the next request from the shared list until the
list or the time runs out. Prints one JSON object: completed, statuses, errors, elapsed
seconds, requests per second, p50 / p99 / max latency in milliseconds.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

from bench.common import percentile


def encode(req: dict[str, Any], host: str, port: int) -> bytes:
    body = str(req.get("body") or "").encode()
    lines = [
        f"{req.get('method', 'GET')} {req['path']} HTTP/1.1",
        f"Host: {host}:{port}",
        "User-Agent: regflow-bench",
        "Accept: */*",
    ]
    if body or req.get("method", "GET") in ("POST", "PUT"):
        lines.append(f"Content-Type: {req.get('content_type') or 'application/json'}")
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Reads one response; returns (status, keep_alive)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length = 0
    chunked = False
    keep_alive = True
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        value = value.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "transfer-encoding" and "chunked" in value:
            chunked = True
        elif name == "connection" and value == "close":
            keep_alive = False
    if chunked:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif length:
        await reader.readexactly(length)
    return status, keep_alive


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    host, port = spec["host"], int(spec["port"])
    payloads = [encode(r, host, port) for r in spec["requests"]]
    connections = int(spec["connections"])
    max_seconds = float(spec.get("max_seconds", 10.0))
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    errors: Counter[str] = Counter()
    next_index = 0

    async def connect() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection(host, port)

    pool = [await connect() for _ in range(connections)]
    start = time.perf_counter()
    deadline = start + max_seconds

    async def worker(conn: tuple[asyncio.StreamReader, asyncio.StreamWriter]) -> None:
        nonlocal next_index
        reader, writer = conn
        while next_index < len(payloads) and time.perf_counter() < deadline:
            data = payloads[next_index]
            next_index += 1
            t0 = time.perf_counter()
            try:
                writer.write(data)
                status, keep_alive = await read_response(reader)
            except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                errors[type(exc).__name__] += 1
                writer.close()
                reader, writer = await connect()
                continue
            latencies.append((time.perf_counter() - t0) * 1000)
            statuses[status] += 1
            if not keep_alive:
                writer.close()
                reader, writer = await connect()
        writer.close()

    await asyncio.gather(*(worker(c) for c in pool))
    elapsed = time.perf_counter() - start
    return summarize(latencies, statuses, errors, elapsed, connections)


def summarize(
    latencies: Sequence[float],
    statuses: Counter[int],
    errors: Counter[str],
    elapsed: float,
    connections: int,
) -> dict[str, Any]:
    return {
        "connections": connections,
        "completed": len(latencies),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "errors": dict(errors),
        "elapsed_s": elapsed,
        "rps": len(latencies) / elapsed if elapsed > 0 else 0.0,
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
        "max_ms": max(latencies) if latencies else 0.0,
    }


def main() -> None:
    spec = json.load(sys.stdin)
    result = asyncio.run(run(spec))
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
