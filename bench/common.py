"""Shared helpers: statistics, the machine description, targets and Markdown tables."""

from __future__ import annotations

import math
import os
import platform
import statistics
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

# Fake AWS credentials: nothing here ever talks to real AWS.
FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}

# What the template gives the functions (fake values; no network is touched at init).
HANDLER_ENV = {
    "TABLE_NAME": "regflow-registrations",  # the template's name for stack "regflow"
    "SENDER_EMAIL": "no-reply@example.com",
    "OWNER_EMAIL": "owner@example.com",
    "API_BASE_URL": "https://regflow.example.com",
    "SUCCESS_URL": "https://regflow.example.com/confirmed.html",
    "REGISTER_PAGE_URL": "https://regflow.example.com/",
    "TOKEN_SECRET": "bench-secret-0123456789abcdef0123456789abcdef",
    "LOG_LEVEL": "WARNING",
}


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else math.nan


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (pct in 0..100) of `values`."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return float(ordered[rank - 1])


@dataclass
class Target:
    """One target of issue 5: what it says, the measured value, and whether it is met."""

    name: str
    goal: str
    measured: str
    met: bool

    def row(self) -> list[str]:
        return [self.name, self.goal, self.measured, "met" if self.met else "**not met**"]


@dataclass
class Section:
    key: str
    title: str
    markdown: str
    data: dict[str, Any]
    targets: list[Target]

    def as_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "data": self.data,
            "targets": [asdict(t) for t in self.targets],
        }


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    def cell(value: object) -> str:
        return str(value).replace("|", "\\|")

    lines = [
        "| " + " | ".join(cell(h) for h in header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
    ]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def fmt(value: float, digits: int = 1) -> str:
    if isinstance(value, float) and math.isnan(value):
        return "n/a"
    return f"{value:,.{digits}f}"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict[str, Any]:
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover (not Linux)
        cores = os.cpu_count() or 0
    mem_kb = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    except OSError:
        pass
    return {
        "cpu": cpu_model(),
        "cores": cores,
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "os": f"{platform.system()} {platform.release()}",
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "executable": sys.executable,
    }


def peak_rss_mib(pid: int) -> float:
    """VmHWM (peak resident set size) of a live process, MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return math.nan
