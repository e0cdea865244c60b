"""5. Abuse cost: 1,000 posts for one address, and 1,000 posts from one IP, with the default
limits (one verification email per address per 60 s and 5 per 24 h; 20 registrations per IP
per hour), through the real register handler and DynamoDBStore under moto, the stream then
drained by the mail sender. Next to it, a naive handler doing what the seed's does (one item
and one email per post, no limits), under the same moto in the same run.

Four regflow runs: each pattern once as fast as one client can send (real clock), and once
spread evenly over 24 hours (a simulated clock given to the same service the handler builds,
so the daily caps show). "Item writes" counts every item the posts created or changed (one
stream record each: registrations, limit counters); "registrations stored" the `REG#` items.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.aws_support import Meter, fast_moto_transactions, quiet_logs
from bench.common import Section, Target, table

DAY = 24 * 3600


def _all_records(stack: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    while True:
        chunk = stack.stream.records()
        if not chunk:
            return out
        out += chunk


def _sent() -> int:
    from moto.ses.models import ses_backends
    from tests.support.aws import ACCOUNT, REGION

    return len(ses_backends[ACCOUNT][REGION].sent_messages)


def _deliver(records: list[dict[str, Any]]) -> None:
    """Feeds the records the mapping's filter passes to the mail sender, batches of 10, a
    partial batch response re-feeding from the failed record (none expected here)."""
    from tests.support.aws import matches_any

    from regflow.adapters.dynamodb import FILTER_PATTERNS
    from regflow.handlers import mail_sender

    queue = [r for r in records if matches_any(FILTER_PATTERNS, r)]
    stuck = 0
    while queue:
        batch = queue[:10]
        failures = mail_sender.lambda_handler({"Records": batch}, None)["batchItemFailures"]
        if not failures:
            queue = queue[10:]
            continue
        seqs = [r["dynamodb"]["SequenceNumber"] for r in batch]
        done = seqs.index(failures[0]["itemIdentifier"])
        stuck = 0 if done else stuck + 1
        if stuck > 10:
            raise RuntimeError("the mail sender made no progress")
        queue = queue[done:]


def run_pattern(
    stack: Any,
    meter: Meter,
    events: list[dict[str, Any]],
    handler: Callable[[dict[str, Any]], dict[str, Any]],
) -> dict[str, Any]:
    _all_records(stack)  # skip what earlier runs wrote
    regs_before = len(stack.items("REG#"))
    mails_before = _sent()
    writes_before = meter.writes["posts"]
    t0 = time.perf_counter()
    with meter.during("posts"):
        statuses = Counter(int(handler(e)["statusCode"]) for e in events)
    elapsed = time.perf_counter() - t0
    records = _all_records(stack)
    _deliver(records)
    return {
        "posts": len(events),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "emails": _sent() - mails_before,
        "item_writes": meter.writes["posts"] - writes_before,
        "registrations_stored": len(stack.items("REG#")) - regs_before,
        "seconds": elapsed,
    }


def one_address_events(n: int, tag: str) -> list[dict[str, Any]]:
    from tests.support.events import json_post

    return [
        json_post(
            "/register",
            {"name": "Victim", "email": f"victim-{tag}@example.com"},
            source_ip=f"10.{tag_octet(tag)}.{(i >> 8) & 255}.{i & 255}",
        )
        for i in range(n)
    ]


def one_ip_events(n: int, tag: str) -> list[dict[str, Any]]:
    from tests.support.events import json_post

    ip = f"192.0.2.{tag_octet(tag)}"
    return [
        json_post(
            "/register", {"name": f"Bot {i}", "email": f"{tag}-{i}@example.com"}, source_ip=ip
        )
        for i in range(n)
    ]


def tag_octet(tag: str) -> int:
    return {"a": 11, "b": 12, "c": 13, "d": 14}.get(tag, 99)


class SpreadClock:
    """Post i happens at start + i * span / n: `advance()` before each post."""

    def __init__(self, n: int, span_seconds: float) -> None:
        self.start = datetime.now(UTC)
        self.step = timedelta(seconds=span_seconds / n)
        self.i = -1

    def advance(self) -> None:
        self.i += 1

    def __call__(self) -> datetime:
        return self.start + self.step * max(self.i, 0)


def spread_handler(n: int) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """The register handler's own code (`HttpApi` over the intake `aws` builds for
    the register role), with a clock that spreads the posts over 24 hours."""
    from regflow import aws
    from regflow.http import HttpApi
    from regflow.intake import IntakeService

    base = aws.http_api(aws.Role.REGISTER)
    clock = SpreadClock(n, DAY)
    intake = IntakeService(
        store=base.intake.store, rules=base.intake.rules, signer=base.intake.signer, clock=clock
    )
    http_api = HttpApi(intake, base.edge)

    def handle(event: dict[str, Any]) -> dict[str, Any]:
        clock.advance()
        return http_api(event)

    return handle


class NaiveHandler:
    """The seed's RegistrationHandler logic: one item and one email per post, no limits."""

    def __init__(self, dynamodb: Any, ses: Any, table_name: str, sender: str) -> None:
        self.dynamodb = dynamodb
        self.ses = ses
        self.table = table_name
        self.sender = sender

    def __call__(self, event: dict[str, Any]) -> dict[str, Any]:
        body = json.loads(event.get("body") or "{}")
        token = str(uuid.uuid4())
        self.dynamodb.put_item(
            TableName=self.table,
            Item={
                "token": {"S": token},
                "name": {"S": body["name"]},
                "email": {"S": body["email"]},
                "status": {"S": "PENDING"},
                "ttl": {"N": str(int(time.time()) + DAY)},
            },
        )
        self.ses.send_email(
            Source=self.sender,
            Destination={"ToAddresses": [body["email"]]},
            Message={
                "Subject": {"Data": "Please verify your email address"},
                "Body": {"Html": {"Data": f"<a href='https://x/confirm?token={token}'>Verify</a>"}},
            },
        )
        return {"statusCode": 200}


def run_naive(stack: Any, events: list[dict[str, Any]]) -> dict[str, Any]:
    import boto3
    from tests.support.aws import REGION

    dynamodb = boto3.client("dynamodb", region_name=REGION)
    name = f"Naive{uuid.uuid4().hex[:8]}"
    dynamodb.create_table(
        TableName=name,
        AttributeDefinitions=[{"AttributeName": "token", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "token", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    handler = NaiveHandler(
        dynamodb, boto3.client("ses", region_name=REGION), name, "no-reply@regflow.example"
    )
    mails_before = _sent()
    statuses = Counter(int(handler(e)["statusCode"]) for e in events)
    return {
        "posts": len(events),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "emails": _sent() - mails_before,
        "item_writes": dynamodb.scan(TableName=name, Select="COUNT")["Count"],
    }


def measure(posts: int = 1000) -> dict[str, Any]:
    from tests.support.aws import aws_stack

    from regflow import aws

    out: dict[str, Any] = {"posts": posts}
    with quiet_logs(), fast_moto_transactions(), aws_stack() as stack:
        meter = Meter(stack.dynamodb, stack.table_name)
        meter.attach(stack.clients.dynamodb())
        rules = aws.http_api(aws.Role.REGISTER).intake.rules
        out["limits"] = {
            "address_min_interval_s": rules.address_min_interval_seconds,
            "address_limit_per_day": rules.address_limit_per_day,
            "ip_limit_per_hour": rules.ip_limit_per_hour,
        }

        def real(event: dict[str, Any]) -> dict[str, Any]:
            return stack.register(event)  # through the stand-in CloudFront (origin value)

        out["one_address_burst"] = run_pattern(stack, meter, one_address_events(posts, "a"), real)
        out["one_ip_burst"] = run_pattern(stack, meter, one_ip_events(posts, "b"), real)
        out["one_address_24h"] = run_pattern(
            stack, meter, one_address_events(posts, "c"), spread_handler(posts)
        )
        out["one_ip_24h"] = run_pattern(
            stack, meter, one_ip_events(posts, "d"), spread_handler(posts)
        )
        out["naive_one_address"] = run_naive(stack, one_address_events(posts, "e"))
        out["naive_one_ip"] = run_naive(stack, one_ip_events(posts, "f"))
    return out


def expected(data: dict[str, Any]) -> dict[str, int]:
    """What the default limits allow for these patterns."""
    limits = data["limits"]
    n = data["posts"]
    per_hour = limits["ip_limit_per_hour"] or n
    hours = -(-DAY // 3600)
    return {
        "one_address_burst": 1
        if limits["address_min_interval_s"]
        else min(n, limits["address_limit_per_day"] or n),
        "one_ip_burst": min(n, per_hour),
        "one_address_24h": min(n, limits["address_limit_per_day"] or n),
        "one_ip_24h": min(n, per_hour * hours),
    }


def section(data: dict[str, Any]) -> Section:
    n = data["posts"]
    allowed = expected(data)
    labels = {
        "one_address_burst": ("one address, many IPs", "as fast as possible"),
        "one_ip_burst": ("one IP, many addresses", "as fast as possible"),
        "one_address_24h": ("one address, many IPs", "spread over 24 h"),
        "one_ip_24h": ("one IP, many addresses", "spread over 24 h"),
    }
    naive_of = {
        "one_address_burst": "naive_one_address",
        "one_ip_burst": "naive_one_ip",
        "one_address_24h": "naive_one_address",
        "one_ip_24h": "naive_one_ip",
    }
    rows = []
    targets = []
    for key, (who, when) in labels.items():
        r = data[key]
        naive = data[naive_of[key]]
        rows.append(
            [
                f"{n} posts: {who}, {when}",
                ", ".join(f"{k}: {v}" for k, v in r["statuses"].items()),
                r["emails"],
                allowed[key],
                r["registrations_stored"],
                r["item_writes"],
                naive["emails"],
                naive["item_writes"],
            ]
        )
        targets.append(
            Target(
                f"abuse: emails for {who}, {when}",
                f"<= {allowed[key]} (the limits)",
                str(r["emails"]),
                r["emails"] <= allowed[key],
            )
        )
    md = table(
        [
            "pattern",
            "responses",
            "emails sent",
            "limits allow",
            "registrations stored",
            "item writes",
            "naive: emails",
            "naive: items",
        ],
        rows,
    )
    lim = data["limits"]
    md += (
        f"\n\nDefault limits: one verification email per address per "
        f"{lim['address_min_interval_s']} s and {lim['address_limit_per_day']} per 24 h, "
        f"{lim['ip_limit_per_hour']} registrations per IP per hour (then 429). The naive "
        "handler is the simplest possible one (one `PutItem` and one `SendEmail` per post, no "
        "limits), measured "
        "under the same moto. Item writes count registrations and limit counters alike; a "
        "rate-limited post writes nothing."
    )
    return Section("abuse", "Abuse cost (moto, default limits)", md, data, targets)


def run(quick: bool = False) -> Section:
    return section(measure(25 if quick else 1000))
