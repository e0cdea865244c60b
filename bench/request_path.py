"""2. Request path cost on AWS: full flows (register, deliver the verification mail, confirm,
deliver the owner notification) through the real Lambda handlers under moto in-process, with
the table built from template.yaml and the stream fed to the mail sender as Lambda would.

API calls are counted with botocore `before-call` hooks on the very clients the handlers use,
attributed to the phase being driven (register handler, confirm handler, mail sender).
Capacity units are computed from item sizes (see `bench.aws_support`), because moto does not
report `ConsumedCapacity`. Each flow uses a new address and a new client IP (default limits on),
so every flow pays for a new registration and both limit counters, as a new visitor does.
"""

from __future__ import annotations

import email
import email.policy
import time
from collections import Counter
from typing import Any

from bench.aws_support import TOKEN_RE, Meter, fast_moto_transactions, quiet_logs
from bench.common import Section, Target, fmt, median, percentile, table

PHASES = ("register", "confirm", "sender")


def last_mail_text() -> str:
    from moto.ses.models import ses_backends
    from tests.support.aws import ACCOUNT, REGION

    raw = ses_backends[ACCOUNT][REGION].sent_messages[-1].raw_data
    msg = email.message_from_string(raw, policy=email.policy.default)
    body = msg.get_body(("plain",))
    return str(body.get_content()) if body is not None else ""


def sent_count() -> int:
    from moto.ses.models import ses_backends
    from tests.support.aws import ACCOUNT, REGION

    return len(ses_backends[ACCOUNT][REGION].sent_messages)


def measure(flows: int = 50) -> dict[str, Any]:
    from tests.support.aws import aws_stack
    from tests.support.events import http_event, json_post

    per_flow: list[dict[str, Any]] = []
    outcomes: Counter[str] = Counter()
    with quiet_logs(), fast_moto_transactions(), aws_stack() as stack:
        meter = Meter(stack.dynamodb, stack.table_name)
        meter.attach(
            stack.clients.dynamodb(), stack.clients.sesv2(), stack.clients.secretsmanager()
        )
        for i in range(flows + 1):
            before = meter.snapshot()
            mails_before = sent_count()
            ip = f"10.{(i >> 8) & 255}.{i & 255}.7"
            event = json_post(
                "/register", {"name": f"Flow {i}", "email": f"flow{i}@example.com"}, source_ip=ip
            )
            t0 = time.perf_counter()
            with meter.during("register"):
                reg = stack.register(event)
            t1 = time.perf_counter()
            with meter.during("sender"):
                stack.pump()
            t2 = time.perf_counter()
            token = TOKEN_RE.search(last_mail_text())
            if reg["statusCode"] != 202 or token is None:
                raise RuntimeError(f"flow {i}: register answered {reg['statusCode']}, no link")
            click = http_event("GET", "/confirm", query={"token": token.group(1)}, source_ip=ip)
            t3 = time.perf_counter()
            with meter.during("confirm"):
                conf = stack.confirm(click)
            t4 = time.perf_counter()
            with meter.during("sender"):
                stack.pump()
            t5 = time.perf_counter()
            outcomes[conf["headers"].get("Location", "").rpartition("status=")[2]] += 1
            after = meter.snapshot()
            per_flow.append(
                {
                    "register_ms": (t1 - t0) * 1000,
                    "confirm_ms": (t4 - t3) * 1000,
                    "flow_ms": ((t2 - t0) + (t5 - t3)) * 1000,
                    "mails": sent_count() - mails_before,
                    "calls": _diff_calls(before["calls"], after["calls"]),
                    "rcu": {p: after["rcu"].get(p, 0) - before["rcu"].get(p, 0) for p in PHASES},
                    "wcu": {p: after["wcu"].get(p, 0) - before["wcu"].get(p, 0) for p in PHASES},
                }
            )
    cold, steady = per_flow[0], per_flow[1:]
    return {
        "flows": len(steady),
        "outcomes": dict(outcomes),
        "cold_flow_calls": cold["calls"],
        "calls_per_flow": _mean_calls([f["calls"] for f in steady]),
        "calls_per_flow_max": _max_calls([f["calls"] for f in steady]),
        "rcu_per_flow": {p: sum(f["rcu"][p] for f in steady) / len(steady) for p in PHASES},
        "wcu_per_flow": {p: sum(f["wcu"][p] for f in steady) / len(steady) for p in PHASES},
        "mails_per_flow": sum(f["mails"] for f in steady) / len(steady),
        "flow_ms_median": median([f["flow_ms"] for f in steady]),
        "flow_ms_p90": percentile([f["flow_ms"] for f in steady], 90),
        "register_ms_median": median([f["register_ms"] for f in steady]),
        "confirm_ms_median": median([f["confirm_ms"] for f in steady]),
    }


def _diff_calls(
    before: dict[str, dict[str, int]], after: dict[str, dict[str, int]]
) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for phase, ops in after.items():
        diff = {op: n - before.get(phase, {}).get(op, 0) for op, n in ops.items()}
        diff = {op: n for op, n in diff.items() if n}
        if diff:
            out[phase] = diff
    return out


def _mean_calls(flows: list[dict[str, dict[str, int]]]) -> dict[str, dict[str, float]]:
    totals: dict[str, Counter[str]] = {}
    for flow in flows:
        for phase, ops in flow.items():
            totals.setdefault(phase, Counter()).update(ops)
    return {p: {op: n / len(flows) for op, n in ops.items()} for p, ops in totals.items()}


def _max_calls(flows: list[dict[str, dict[str, int]]]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for flow in flows:
        for phase, ops in flow.items():
            for op, n in ops.items():
                slot = out.setdefault(phase, {})
                slot[op] = max(slot.get(op, 0), n)
    return out


def _calls_text(ops: dict[str, float]) -> str:
    return ", ".join(f"{op} x{n:g}" for op, n in sorted(ops.items())) or "none"


def section(data: dict[str, Any]) -> Section:
    calls = data["calls_per_flow"]
    labels = {
        "register": "register handler (request path)",
        "confirm": "confirm handler (request path)",
        "sender": "mail sender (stream, off the request path)",
    }
    rows = []
    for phase in PHASES:
        ops = calls.get(phase, {})
        rows.append(
            [
                labels[phase],
                _calls_text(ops),
                fmt(sum(ops.values()), 2),
                fmt(data["rcu_per_flow"][phase], 1),
                fmt(data["wcu_per_flow"][phase], 1),
            ]
        )
    rows.append(
        [
            "**whole flow**",
            "",
            fmt(sum(sum(o.values()) for o in calls.values()), 2),
            fmt(sum(data["rcu_per_flow"].values()), 1),
            fmt(sum(data["wcu_per_flow"].values()), 1),
        ]
    )
    md = table(["path", "AWS API calls per flow", "calls", "RCU", "WCU"], rows)
    cold_extra = {
        p: {op: n for op, n in ops.items() if calls.get(p, {}).get(op, 0) < n}
        for p, ops in data["cold_flow_calls"].items()
    }
    cold_extra = {p: ops for p, ops in cold_extra.items() if ops}
    md += (
        f"\n\n{data['flows']} flows (after one cold flow), outcomes {data['outcomes']}, "
        f"{fmt(data['mails_per_flow'], 2)} emails per flow. "
        f"Milliseconds per flow under moto in-process (moto's emulation dominates): median "
        f"{fmt(data['flow_ms_median'], 1)} (p90 {fmt(data['flow_ms_p90'], 1)}); register "
        f"handler {fmt(data['register_ms_median'], 1)}, confirm handler "
        f"{fmt(data['confirm_ms_median'], 1)}. "
        f"Once per process (the first flow only): {cold_extra or 'nothing'}.\n\n"
        "Capacity is computed from item sizes by DynamoDB's rules (attribute names + values; "
        "1 WCU per started KB of the larger of the before/after image per item written, x2 "
        "inside `TransactWriteItems`; 1 RCU per started 4 KB for a strongly consistent "
        "`GetItem`, a missing item costing the minimum). On-demand bills the same numbers as "
        "write/read request units."
    )
    reg_ddb = sum(n for op, n in calls.get("register", {}).items() if op.startswith("dynamodb."))
    conf_ddb = sum(n for op, n in calls.get("confirm", {}).items() if op.startswith("dynamodb."))
    request_ses = sum(
        n
        for p in ("register", "confirm")
        for op, n in calls.get(p, {}).items()
        if op.startswith(("ses", "sesv2"))
    )
    targets = [
        Target("DynamoDB calls in register's request path", "1", fmt(reg_ddb, 2), reg_ddb == 1),
        Target("DynamoDB calls in confirm's request path", "1", fmt(conf_ddb, 2), conf_ddb == 1),
        Target("SES calls in the request path", "0", fmt(request_ses, 2), request_ses == 0),
    ]
    return Section("request_path", "Request path cost on AWS (moto)", md, data, targets)


def run(quick: bool = False) -> Section:
    return section(measure(3 if quick else 50))
