"""1. Cold start: what a Lambda init costs, per function, next to the floor.

Each sample is a fresh `python -c` process. The child takes `time.perf_counter()` as its first
statement and again after importing the handler module and building the function's objects
(`regflow.aws.http_api(role)` or `delivery_for(role)`: settings, the boto3 session and
clients the path needs, the store); it prints the difference. Interpreter start-up (identical
for every subject) is thus left out of the ratio; the parent's wall time per process is
reported too. The floor is a module that only imports boto3 and creates one DynamoDB client.

Subjects run in rounds with a rotating order (A B C ..., B C ... A, ...) so that drift on a
shared machine hits all of them alike; one discarded warm-up round first fills `__pycache__`.
No network: fake credentials and region, `TOKEN_SECRET` given (no Secrets Manager fetch), and
creating a boto3 client makes no call.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

from bench.common import (
    FAKE_AWS_ENV,
    HANDLER_ENV,
    ROOT,
    Section,
    Target,
    fmt,
    median,
    percentile,
    table,
)

SEED_DIR = "/work/shared/seed"


@dataclass(frozen=True)
class Subject:
    key: str
    label: str
    code: str


def _service(module: str, role: str) -> str:
    build = "delivery_for" if role in ("MAIL_SENDER", "RECOVERY") else "http_api"
    return (
        f"import regflow.handlers.{module}\nfrom regflow import aws\naws.{build}(aws.Role.{role})\n"
    )


SUBJECTS: tuple[Subject, ...] = (
    Subject("bare", "bare interpreter (`pass`)", "pass\n"),
    Subject(
        "floor",
        "floor: import boto3 + one DynamoDB client",
        "import boto3\nboto3.client('dynamodb')\n",
    ),
    Subject("register", "RegistrationHandler (register.py)", _service("register", "REGISTER")),
    Subject("confirm", "ConfirmationHandler (confirm.py)", _service("confirm", "CONFIRM")),
    Subject("mail_sender", "MailSender (mail_sender.py)", _service("mail_sender", "MAIL_SENDER")),
    Subject("recovery", "ParkedMessageRecovery (recovery.py)", _service("recovery", "RECOVERY")),
    Subject("email_validator", "`import email_validator` alone", "import email_validator\n"),
)

CHILD = """\
import time
_t0 = time.perf_counter()
_c0 = time.process_time()
{body}
_c1 = time.process_time()
_t1 = time.perf_counter()
import json, sys
print(json.dumps({{"seconds": _t1 - _t0, "cpu": _c1 - _c0,
                  "email_validator": "email_validator" in sys.modules,
                  "modules": len(sys.modules)}}))
"""


def child_env() -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "REGFLOW_", "PYTHON")) and k not in HANDLER_ENV
    }
    env.update(FAKE_AWS_ENV)
    env.update(HANDLER_ENV)
    env["AWS_CONFIG_FILE"] = "/nonexistent/regflow-bench-aws-config"
    env["AWS_SHARED_CREDENTIALS_FILE"] = "/nonexistent/regflow-bench-aws-credentials"
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    return env


def sample(subject: Subject, env: dict[str, str]) -> dict[str, Any]:
    code = CHILD.format(body=subject.code)
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"cold start of {subject.key} failed:\n{proc.stderr[-2000:]}")
    out: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    out["wall"] = wall
    return out


def measure(rounds: int = 21, subjects: tuple[Subject, ...] = SUBJECTS) -> dict[str, Any]:
    env = child_env()
    for subject in subjects:  # warm-up: bytecode caches, page cache
        sample(subject, env)
    samples: dict[str, list[dict[str, Any]]] = {s.key: [] for s in subjects}
    for r in range(rounds):
        order = subjects[r % len(subjects) :] + subjects[: r % len(subjects)]
        for subject in order:
            samples[subject.key].append(sample(subject, env))
    result: dict[str, Any] = {"rounds": rounds, "subjects": {}}
    floor = samples.get("floor")
    for subject in subjects:
        runs = samples[subject.key]
        entry: dict[str, Any] = {
            "label": subject.label,
            "cpu_median_ms": median([s["cpu"] * 1000 for s in runs]),
            "wall_median_ms": median([s["seconds"] * 1000 for s in runs]),
            "process_wall_median_ms": median([s["wall"] * 1000 for s in runs]),
            "cpu_samples_ms": [round(s["cpu"] * 1000, 2) for s in runs],
            "wall_samples_ms": [round(s["seconds"] * 1000, 2) for s in runs],
            "imports_email_validator": any(s["email_validator"] for s in runs),
            "modules": runs[0]["modules"] if runs else 0,
        }
        if floor and subject.key != "bare":
            # Paired by round: each ratio compares two processes run back to back.
            ratios = [a["cpu"] / b["cpu"] for a, b in zip(runs, floor, strict=True) if b["cpu"] > 0]
            entry["ratio_cpu"] = median(ratios)
            entry["ratio_cpu_iqr"] = [percentile(ratios, 25), percentile(ratios, 75)]
            entry["ratio_wall"] = median(
                [a["seconds"] / b["seconds"] for a, b in zip(runs, floor, strict=True)]
            )
        result["subjects"][subject.key] = entry
    return result


def _ratio_cell(s: dict[str, Any]) -> str:
    if "ratio_cpu" not in s:
        return ""
    low, high = s.get("ratio_cpu_iqr", [s["ratio_cpu"], s["ratio_cpu"]])
    return f"{s['ratio_cpu']:.2f}x ({low:.2f}-{high:.2f})"


def section(data: dict[str, Any]) -> Section:
    subjects = data["subjects"]
    rows = []
    for s in subjects.values():
        rows.append(
            [
                s["label"],
                fmt(s["cpu_median_ms"], 0),
                _ratio_cell(s),
                fmt(s["wall_median_ms"], 0),
                f"{s['ratio_wall']:.2f}x" if "ratio_wall" in s else "",
                fmt(s["process_wall_median_ms"], 0),
                "yes" if s["imports_email_validator"] else "no",
                s["modules"],
            ]
        )
    md = table(
        [
            "module (import + build service)",
            "CPU ms",
            "CPU vs floor (IQR)",
            "wall ms",
            "wall vs floor",
            "process wall ms",
            "email_validator loaded",
            "modules",
        ],
        rows,
    )
    md += (
        f"\n\nMedians of {data['rounds']} fresh processes per row, run in rounds of rotating "
        "order. CPU and wall ms are timed inside the child, from its first statement to after "
        "importing the handler module and building its objects with `aws.http_api(role)` or "
        "`aws.delivery_for(role)` "
        "(interpreter start-up, the same for all, left out); 'process wall ms' is the whole "
        "process as the parent saw it. Ratios are medians of per-round ratios (each round runs "
        "the floor and the handler back to back), with the interquartile range of those "
        "ratios: on a shared 2-core machine single samples vary by +-20%, so a ratio is only "
        "as sharp as that range. The target is judged on the median CPU-time ratio (import is "
        "CPU-bound, and CPU time is less disturbed by other load than wall time)."
    )
    targets = []
    for key in ("register", "confirm"):
        if key in subjects and "ratio_cpu" in subjects[key]:
            ratio = subjects[key]["ratio_cpu"]
            targets.append(
                Target(
                    f"cold start: {key}",
                    "<= 1.10x the floor",
                    f"{_ratio_cell(subjects[key])}, wall {subjects[key]['ratio_wall']:.2f}x",
                    ratio <= 1.10,
                )
            )
    return Section("cold_start", "Cold start (Lambda init)", md, data, targets)


def run(quick: bool = False) -> Section:
    if quick:
        keys = {"floor", "register", "email_validator"}
        return section(measure(1, tuple(s for s in SUBJECTS if s.key in keys)))
    return section(measure())
