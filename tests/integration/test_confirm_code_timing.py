"""Issue 27: `POST /confirm-code` with a wrong code took measurably longer for a registration
that was stored (the wrong try is counted: a write, a commit) than for one that was not (a
limited post's cookie: nothing to count, nothing written), which told a visitor whether their
own post had been stored, and so whether someone had just registered that address. Both now do
the same work (one row written and committed). Real server, real SQLite file (synchronous
commits), loopback; medians of interleaved tries."""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.server import RunningServer, regflow_server

STORED = 40  # registrations; each takes 4 wrong codes (the 5th would kill its code)
TRIES = 4


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    data = Path(tmp_path_factory.mktemp("timing")) / "data"
    env = {"IP_LIMIT_PER_HOUR": "1000000", "SQLITE_DURABILITY": "full", "LOG_LEVEL": "WARNING"}
    with regflow_server(data, env) as running:
        yield running


def _cookie(client: httpx.Client, server: RunningServer, email: str) -> str:
    client.cookies.clear()
    answer = client.post(server.url("/register"), json={"name": "Timing", "email": email})
    assert answer.status_code == 202
    return str(answer.cookies["regflow_reg"])


def test_a_wrong_code_takes_as_long_whether_the_post_was_stored_or_not(
    server: RunningServer,
) -> None:
    with httpx.Client(timeout=10.0) as client:
        stored, missing = [], []
        for i in range(STORED):
            email = f"timing{i}@example.com"
            stored.append(_cookie(client, server, email))
            missing.append(_cookie(client, server, email))  # limited: nothing stored
        client.cookies.clear()

        def wrong_code(handle: str) -> float:
            started = time.perf_counter()
            answer = client.post(
                server.url("/confirm-code"),
                json={"code": "000000"},
                headers={"cookie": f"regflow_reg={handle}"},
            )
            took = time.perf_counter() - started
            assert answer.status_code == 400 and answer.json()["field"] == "code"
            return took

        for handle in stored[:2] + missing[:2]:  # warm up
            wrong_code(handle)
        # pairs of one try each, the order alternating: drift on a shared machine (other
        # processes, the disk) hits both sides of a pair alike
        gaps: list[float] = []
        both: list[float] = []
        for round_ in range(TRIES - 1):
            for i in range(2 if round_ == 0 else 0, STORED):
                if (i + round_) % 2:
                    a, b = wrong_code(stored[i]), wrong_code(missing[i])
                else:
                    b, a = wrong_code(missing[i]), wrong_code(stored[i])
                gaps.append(a - b)
                both += [a, b]
    gap, typical = statistics.median(gaps), statistics.median(both)
    print(f"median try {typical * 1000:.2f} ms, stored minus not stored {gap * 1000:+.3f} ms")
    assert abs(gap) < max(0.0005, 0.15 * typical), (gap, typical)
