"""4. A burst of 1,000 registrations against a throttled SES.

The registrations go through the real register handler (`regflow.handlers.register`) and
DynamoDBStore under moto, sent by 16 client threads as fast as they can, each from its own
client IP (1,000 different visitors; default limits). Then the stream is drained the way the
event source mapping of template.yaml does it: batches of 10 in stream order, the mail sender's
own code (`mail_sender.process`: the delivery policy's quick retries with backoff, then parking
in the table), a partial batch response re-feeding from the failed record, at most 10 retries
of a batch that makes no progress before it goes to the dead-letter queue; then the scheduled
recovery (`regflow.aws.recovery`) is run, as its schedule would, until nothing parked is due.

SES is emulated at 14 messages per second: a `before-call` hook on the sender's SES v2 client
runs a token bucket (14 per second, burst 14) and answers above the rate with the real error
(HTTP 429 `TooManyRequestsException`, raised by botocore as a ClientError); below it the call
goes on to moto's SES, which keeps the message. Time is simulated: the clock is the real
processing time plus the sender's backoff sleeps, which advance it instead of sleeping (at
14/s the drain cannot physically take less than ~71 s, so sleeping for real would eat the
benchmark's budget).
"""

from __future__ import annotations

import concurrent.futures
import threading
import time
from collections import Counter
from typing import Any

from bench.aws_support import fast_moto_transactions, quiet_logs
from bench.common import Section, Target, fmt, table

SES_RATE = 14.0
BATCH_SIZE = 10
MAX_RETRY_ATTEMPTS = 10
TIMEOUT_MS = 60_000


class SimClock:
    """Real elapsed time plus simulated sleeps."""

    def __init__(self) -> None:
        self._start = time.perf_counter()
        self.slept = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        return time.perf_counter() - self._start + self.slept

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.slept += max(0.0, seconds)


class ThrottledSes:
    """A token bucket in front of an SES v2 client's SendEmail (see the module docstring)."""

    def __init__(self, client: Any, clock: SimClock, rate: float = SES_RATE) -> None:
        self.clock = clock
        self.rate = rate
        self.tokens = rate
        self.updated = clock.now()
        self.accepted = 0
        self.throttled = 0
        client.meta.events.register("before-call.sesv2.SendEmail", self._gate)

    def _gate(self, **_: Any) -> Any:
        from tests.support.aws import error_response

        now = self.clock.now()
        self.tokens = min(self.rate, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            self.accepted += 1
            return None  # on to moto's SES
        self.throttled += 1
        return error_response("TooManyRequestsException", 429, "Too many requests.")


def stream_records(stack: Any) -> list[dict[str, Any]]:
    """Every new record of the table's stream that passes the mapping's filter, in order."""
    from tests.support.aws import matches_any

    from regflow.adapters.dynamodb import FILTER_PATTERNS

    out: list[dict[str, Any]] = []
    while True:
        chunk = stack.stream.records()
        if not chunk:
            return out
        out += [r for r in chunk if matches_any(FILTER_PATTERNS, r)]


def drain(records: list[dict[str, Any]], clock: SimClock) -> dict[str, Any]:
    """The event source mapping, simulated: see the module docstring."""
    from regflow import aws
    from regflow.aws import mail_sender

    service = aws.delivery()
    # the sender stamps parked messages with epoch seconds: run it on the simulated clock
    clock_origin = time.time() - clock.now()
    service._now = lambda: clock.now() + clock_origin
    start = clock.now()
    position = 0
    no_progress = 0
    invocations = 0
    dead_lettered: list[str] = []
    while position < len(records):
        batch = records[position : position + BATCH_SIZE]
        began = clock.now()

        def remaining_ms(began: float = began) -> int:
            return int(TIMEOUT_MS - (clock.now() - began) * 1000)

        response = mail_sender.process(
            batch,
            service,
            remaining_ms=remaining_ms,
            sleep=clock.sleep,
        )
        invocations += 1
        failures = response["batchItemFailures"]
        if not failures:
            position += len(batch)
            no_progress = 0
            continue
        seqs = [r["dynamodb"]["SequenceNumber"] for r in batch]
        done = seqs.index(failures[0]["itemIdentifier"])
        if done:
            position += done
            no_progress = 0
            continue
        no_progress += 1
        if no_progress > MAX_RETRY_ATTEMPTS:  # the mapping gives the batch up: on to the DLQ
            dead_lettered += seqs
            position += len(batch)
            no_progress = 0
    from regflow.aws.recovery import recover

    parked = len(service.outbox.parked()) if service.outbox is not None else 0
    recovery_runs = 0
    while service.outbox is not None and service.outbox.parked():
        # the recovery schedule: the next run when the earliest parked message is due
        due = min(p.next_attempt_at or float("inf") for p in service.outbox.parked())
        if due == float("inf"):
            break
        clock.sleep(max(0.0, due - (clock.now() + clock_origin)))
        recover(service, service.outbox, now=lambda: clock.now() + clock_origin)
        recovery_runs += 1
    return {
        "drain_simulated_s": clock.now() - start,
        "invocations": invocations,
        "dead_lettered": len(dead_lettered),
        "parked": parked,
        "recovery_runs": recovery_runs,
    }


def measure(registrations: int = 1000, threads: int = 16) -> dict[str, Any]:
    from moto.ses.models import ses_backends
    from tests.support.aws import ACCOUNT, REGION, aws_stack
    from tests.support.events import json_post

    from regflow.domain import address_key

    addresses = [f"burst{i}@example.com" for i in range(registrations)]
    with quiet_logs(), fast_moto_transactions(), aws_stack() as stack:
        from regflow import aws

        clock = SimClock()
        ses = ThrottledSes(stack.clients.sesv2(), clock)
        aws.http_api(aws.Role.REGISTER)  # init outside the timed burst, as a warm Lambda

        def post(i: int) -> int:
            event = json_post(
                "/register",
                {"name": f"Burst {i}", "email": addresses[i]},
                source_ip=f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}",
            )
            return int(stack.register(event)["statusCode"])

        t0 = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(threads) as pool:
            statuses = Counter(pool.map(post, range(registrations)))
        burst_s = time.perf_counter() - t0

        records = stream_records(stack)
        wall0 = time.perf_counter()
        drained = drain(records, clock)
        drain_wall_s = time.perf_counter() - wall0

        raw = ses_backends[ACCOUNT][REGION].sent_messages
        import email
        import email.policy

        recipients: Counter[str] = Counter()
        for message in raw:
            msg = email.message_from_string(message.raw_data, policy=email.policy.default)
            for addr in msg["To"].addresses:
                recipients[str(addr.addr_spec).lower()] += 1
        wanted = {a.lower() for a in addresses}
        delivered = sum(1 for a in wanted if recipients[a] >= 1)
        duplicates = sum(n - 1 for a, n in recipients.items() if a in wanted and n > 1)
        reg_items = len(stack.items("REG#"))
        keys = {address_key(a) for a in addresses}
    return {
        "registrations": registrations,
        "client_threads": threads,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "non_2xx": sum(v for k, v in statuses.items() if not 200 <= k < 300),
        "burst_wall_s": burst_s,
        "burst_rps": registrations / burst_s,
        "registrations_stored": reg_items,
        "records_fed": len(records),
        "ses_rate_per_s": SES_RATE,
        "ses_accepted": ses.accepted,
        "ses_throttled": ses.throttled,
        "delivered": delivered,
        "duplicates": duplicates,
        "distinct_addresses": len(keys),
        "drain_wall_s": drain_wall_s,
        "floor_s": max(0.0, (registrations - SES_RATE) / SES_RATE),
        **drained,
    }


def section(data: dict[str, Any]) -> Section:
    n = data["registrations"]
    rows = [
        [
            "registrations sent",
            f"{n} ({data['client_threads']} client threads, a distinct client IP per registration)",
        ],
        ["responses", ", ".join(f"{k}: {v}" for k, v in data["statuses"].items())],
        ["non-2xx responses", data["non_2xx"]],
        [
            "burst duration (wall, moto)",
            f"{fmt(data['burst_wall_s'], 1)} s ({fmt(data['burst_rps'], 0)} req/s)",
        ],
        ["registrations stored", data["registrations_stored"]],
        [
            "SendEmail calls accepted / throttled (429)",
            f"{data['ses_accepted']} / {data['ses_throttled']}",
        ],
        ["verification emails delivered after the drain", data["delivered"]],
        ["duplicate emails", data["duplicates"]],
        ["batches dead-lettered", data["dead_lettered"]],
        ["mail sender invocations", data["invocations"]],
        [
            "time to drain (simulated clock)",
            f"{fmt(data['drain_simulated_s'], 1)} s (floor at 14/s: "
            f"{fmt(data['floor_s'], 1)} s; {fmt(data['drain_wall_s'], 1)} s of real work)",
        ],
    ]
    md = table(["burst of registrations, SES at 14 msg/s", "result"], rows)
    md += (
        "\n\nThe drain starts after the burst; its clock is simulated (real processing time "
        "plus the mail sender's backoff sleeps, which advance the clock instead of sleeping). "
        "SES above 14/s answers the real throttling error (429 TooManyRequestsException)."
    )
    targets = [
        Target("burst: non-2xx responses", "0", str(data["non_2xx"]), data["non_2xx"] == 0),
        Target(
            "burst: verification emails after the drain",
            str(n),
            str(data["delivered"]),
            data["delivered"] == n,
        ),
        Target("burst: duplicate emails", "0", str(data["duplicates"]), data["duplicates"] == 0),
    ]
    return Section("burst", "Burst against a throttled SES (moto)", md, data, targets)


def run(quick: bool = False) -> Section:
    return section(measure(40 if quick else 1000, 4 if quick else 16))
