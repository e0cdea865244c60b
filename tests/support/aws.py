"""moto-backed AWS for tests: fake credentials, the table built from template.yaml itself, the
stream records moto produced shaped as a Lambda event, mail read back from moto's SES, and
fault injection with the real error codes.

moto's in-process backend has no lock: two threads inside one `TransactWriteItems` can
interleave (its rollback even restores a stale copy of the whole table). Real DynamoDB applies
each request atomically, so `mock_aws_serialized()` runs one moto request at a time. Only the
emulator is serialized: the threads of a concurrency test still race through the real store
code, and each request is still judged by its condition expressions.
"""

from __future__ import annotations

import contextlib
import copy
import email
import email.policy
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from unittest import mock

import boto3
import yaml
from botocore.awsrequest import AWSResponse

from regflow.adapters.dynamodb import FILTER_PATTERNS, DynamoDBStore

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
ACCOUNT = "123456789012"
REGION = "us-east-1"
FAKE_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}


# --- moto ---------------------------------------------------------------------------------

_moto_lock = threading.RLock()


@contextlib.contextmanager
def fake_credentials() -> Iterator[None]:
    with mock.patch.dict(os.environ, FAKE_ENV):
        yield


@contextlib.contextmanager
def mock_aws_serialized() -> Iterator[None]:
    """`moto.mock_aws` with fake credentials, handling one request at a time (see above)."""
    from moto import mock_aws
    from moto.core.botocore_stubber import BotocoreStubber

    original = BotocoreStubber.process_request

    def one_at_a_time(self: BotocoreStubber, request: Any) -> Any:
        with _moto_lock:
            return original(self, request)

    with (
        fake_credentials(),
        mock.patch.object(BotocoreStubber, "process_request", one_at_a_time),
        mock_aws(),
    ):
        yield


# --- the table, from template.yaml -----------------------------------------------------------


class _CfnLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """A YAML loader that reads CloudFormation short tags (!Ref, !Sub, !GetAtt ...)."""


def _cfn_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt" and isinstance(value, str):
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_CfnLoader.add_multi_constructor("!", _cfn_tag)


_parsed: dict[tuple[Path, int], dict[str, Any]] = {}


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    """template.yaml as data (parsed again only when the file changes)."""
    key = (path, path.stat().st_mtime_ns)
    if key not in _parsed:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_CfnLoader)
        assert isinstance(data, dict)
        _parsed[key] = data
    return copy.deepcopy(_parsed[key])


_client_lock = threading.Lock()
_test_clients: dict[str, Any] = {}


def client(service: str) -> Any:
    """A boto3 client for the test side (created once: clients are stateless; moto's mock
    intercepts them whenever it is active)."""
    with _client_lock:
        if service not in _test_clients:
            # boto3-stubs types client() per literal service name; this one is any service
            _test_clients[service] = boto3.client(service, region_name=REGION)  # type: ignore[call-overload]
        return _test_clients[service]


TEST_STACK = "regflow"


def resolve(
    value: Any,
    *,
    stack: str = TEST_STACK,
    params: Mapping[str, str] | None = None,
    template: Mapping[str, Any] | None = None,
    region: str = REGION,
) -> Any:
    """`value` of template.yaml with the stack's name and parameters filled in: Ref of a
    parameter or pseudo parameter, Fn::Sub over those, Fn::If over the template's conditions
    (Fn::Equals, Fn::Not, Fn::And, Fn::Or, Condition). Resource references stay as they are."""
    tpl = template if template is not None else load_template()
    given = dict(params or {})
    pseudo = {
        "AWS::StackName": stack,
        "AWS::Region": region,
        "AWS::AccountId": ACCOUNT,
        "AWS::Partition": "aws",
        "AWS::URLSuffix": "amazonaws.com",
    }

    def ref(name: str) -> Any:
        if name in pseudo:
            return pseudo[name]
        declared = tpl.get("Parameters", {}).get(name)
        if declared is None:
            return {"Ref": name}
        return given.get(name, str(declared.get("Default", "")))

    def condition(name: str) -> bool:
        return bool(go(tpl["Conditions"][name]))

    def go(v: Any) -> Any:
        if isinstance(v, list):
            return [go(x) for x in v]
        if not isinstance(v, dict):
            return v
        if len(v) != 1:
            return {k: go(x) for k, x in v.items()}
        ((key, arg),) = v.items()
        if key == "Ref":
            return ref(arg)
        if key in ("Condition", "Fn::Condition"):
            return condition(arg)
        if key == "Fn::Equals":
            left, right = (go(x) for x in arg)
            return left == right
        if key == "Fn::Not":
            return not go(arg[0])
        if key == "Fn::And":
            return all(go(x) for x in arg)
        if key == "Fn::Or":
            return any(go(x) for x in arg)
        if key == "Fn::If":
            return go(arg[1] if condition(arg[0]) else arg[2])
        if key == "Fn::Join":
            return arg[0].join(str(go(x)) for x in go(arg[1]))
        if key == "Fn::Sub" and isinstance(arg, str):

            def sub(match: re.Match[str]) -> str:
                resolved = ref(match.group(1))
                return resolved if isinstance(resolved, str) else match.group(0)

            return re.sub(r"\$\{([A-Za-z0-9:]+)\}", sub, arg)
        return {key: go(arg)}

    return go(value)


def table_properties(path: Path = TEMPLATE, *, stack: str = TEST_STACK) -> dict[str, Any]:
    """The table's properties, its name resolved for `stack` (TableName parameter empty)."""
    template = load_template(path)
    props = template["Resources"]["UserRegistrations"]["Properties"]
    assert isinstance(props, dict)
    props["TableName"] = resolve(props["TableName"], stack=stack, template=template)
    return props


def create_table_from_template(client: Any, path: Path = TEMPLATE) -> str:
    """Create the registrations table (named as for stack TEST_STACK) exactly as template.yaml
    declares it (key schema, billing, global secondary indexes, stream) and enable TTL as its
    TimeToLiveSpecification says. Returns its name."""
    props = table_properties(path)
    name = props["TableName"]
    kwargs: dict[str, Any] = {
        "TableName": name,
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "BillingMode": props.get("BillingMode", "PROVISIONED"),
    }
    if "GlobalSecondaryIndexes" in props:
        kwargs["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
    if "StreamSpecification" in props:
        kwargs["StreamSpecification"] = {"StreamEnabled": True, **props["StreamSpecification"]}
    if "SSESpecification" in props:
        kwargs["SSESpecification"] = {"Enabled": props["SSESpecification"]["SSEEnabled"]}
    client.create_table(**kwargs)
    ttl = props.get("TimeToLiveSpecification")
    if ttl:
        client.update_time_to_live(
            TableName=name,
            TimeToLiveSpecification={
                "AttributeName": ttl["AttributeName"],
                "Enabled": bool(ttl["Enabled"]),
            },
        )
    return str(name)


@contextlib.contextmanager
def dynamodb_store(*, private_client: bool = False, **kwargs: Any) -> Iterator[DynamoDBStore]:
    """A DynamoDBStore on a fresh moto table built from template.yaml. Attach `Faults` only
    to a `private_client` (the shared test clients outlive the test)."""
    with mock_aws_serialized():
        ddb = boto3.client("dynamodb", region_name=REGION) if private_client else client("dynamodb")
        name = create_table_from_template(ddb)
        yield DynamoDBStore(ddb, name, **kwargs)


# --- the stream -----------------------------------------------------------------------------


class StreamReader:
    """Reads what moto wrote to the table's stream, as Lambda DynamoDB stream events."""

    def __init__(self, dynamodb: Any, table_name: str) -> None:
        self._streams = client("dynamodbstreams")
        self.arn = dynamodb.describe_table(TableName=table_name)["Table"]["LatestStreamArn"]
        self._after: str | None = None

    def records(self) -> list[dict[str, Any]]:
        """Every record written since the last call, oldest first, Lambda-shaped."""
        stream = self._streams.describe_stream(StreamArn=self.arn)["StreamDescription"]
        out: list[dict[str, Any]] = []
        for shard in stream["Shards"]:
            if self._after is None:
                it = self._streams.get_shard_iterator(
                    StreamArn=self.arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
                )["ShardIterator"]
            else:
                it = self._streams.get_shard_iterator(
                    StreamArn=self.arn,
                    ShardId=shard["ShardId"],
                    ShardIteratorType="AFTER_SEQUENCE_NUMBER",
                    SequenceNumber=self._after,
                )["ShardIterator"]
            response = self._streams.get_records(ShardIterator=it, Limit=1000)
            for record in response["Records"]:
                out.append(lambda_record(record, self.arn))
        if out:
            self._after = out[-1]["dynamodb"]["SequenceNumber"]
        return out

    def event(self) -> dict[str, Any]:
        return {"Records": self.records()}


def lambda_record(record: Mapping[str, Any], arn: str) -> dict[str, Any]:
    """A `get_records` record as the Lambda event source mapping delivers it."""
    out = {k: v for k, v in record.items() if k != "dynamodb"}
    dyn = dict(record["dynamodb"])
    when = dyn.get("ApproximateCreationDateTime")
    if isinstance(when, datetime):
        dyn["ApproximateCreationDateTime"] = int(when.timestamp())
    out["dynamodb"] = dyn
    out["eventSourceARN"] = arn
    return out


# --- SES ------------------------------------------------------------------------------------


@dataclass
class SentMail:
    to: list[str]
    sender: str
    subject: str
    text: str
    html: str
    message: EmailMessage = field(repr=False)


def sent_mail(account: str = ACCOUNT, region: str = REGION) -> list[SentMail]:
    """Every message moto's SES (v1 and v2 share a backend) accepted, oldest first."""
    from moto.ses.models import ses_backends

    out: list[SentMail] = []
    for raw in ses_backends[account][region].sent_messages:
        data = getattr(raw, "raw_data", None)
        assert data is not None, "regflow sends Raw content only"
        msg = email.message_from_string(data, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        text = msg.get_body(("plain",))
        html = msg.get_body(("html",))
        out.append(
            SentMail(
                to=[str(a.addr_spec) for a in msg["To"].addresses],
                sender=str(msg["From"]),
                subject=str(msg["Subject"]),
                text=text.get_content() if text is not None else "",
                html=html.get_content() if html is not None else "",
                message=msg,
            )
        )
    return out


def verify_identities(*identities: str) -> None:
    """Verify sender / recipient identities in moto's SES (sandbox rules)."""
    ses = client("sesv2")
    for identity in identities:
        ses.create_email_identity(EmailIdentity=identity)


# --- fault injection ------------------------------------------------------------------------


def error_response(
    code: str, status: int = 400, message: str = "injected"
) -> tuple[Any, dict[str, Any]]:
    http = AWSResponse("https://fault.invalid/", status, {}, None)  # type: ignore[arg-type]
    parsed = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status, "RetryAttempts": 0},
    }
    return http, parsed


_STATUS = {
    "ProvisionedThroughputExceededException": 400,
    "ThrottlingException": 400,
    "RequestLimitExceeded": 400,
    "InternalServerError": 500,
    "TooManyRequestsException": 429,
    "LimitExceededException": 400,
    "ServiceUnavailable": 503,
    "InternalFailure": 500,
    "MessageRejected": 400,
    "AccountSuspendedException": 400,
    "SendingPausedException": 400,
}


class Faults:
    """Short-circuits calls of one operation with the real error codes.

    `faults.fail("ThrottlingException", times=2)` makes the next two calls fail; `down(code)`
    makes every call fail until `up()`. Calls pass through to moto otherwise. `calls` counts
    every attempt, `failed` the injected failures."""

    def __init__(self, client: Any, operation: str) -> None:
        self._queue: list[str] = []
        self._down: str | None = None
        self.calls = 0
        self.failed = 0
        self.before: Callable[[], None] | None = None
        service = client.meta.service_model.service_id.hyphenize()
        client.meta.events.register(f"before-call.{service}.{operation}", self._handle)

    def fail(self, code: str, times: int = 1) -> Faults:
        self._queue.extend([code] * times)
        return self

    def down(self, code: str) -> Faults:
        self._down = code
        return self

    def up(self) -> Faults:
        self._down = None
        self._queue.clear()
        return self

    def _handle(self, **_: Any) -> tuple[Any, dict[str, Any]] | None:
        self.calls += 1
        if self.before is not None:
            self.before()
        code = self._queue.pop(0) if self._queue else self._down
        if code is None:
            return None
        self.failed += 1
        return error_response(code, _STATUS.get(code, 400))


def count_calls(clients: Iterable[Any]) -> dict[str, int]:
    """Counts every API call the clients make (`service.Operation` -> n), live."""
    counts: dict[str, int] = {}

    def seen(model: Any, **_: Any) -> None:
        key = f"{model.service_model.service_id.hyphenize()}.{model.name}"
        counts[key] = counts.get(key, 0) + 1

    for client in clients:
        client.meta.events.register("before-call", seen)
    return counts


# --- a whole stack: table, secret, SES identities, the real handlers ------------------------

SITE = "https://regflow.example"
STACK_ENV = {
    "SENDER_EMAIL": "no-reply@regflow.example",
    "OWNER_EMAIL": "owner@regflow.example",
    "API_BASE_URL": f"{SITE}/",
    "SUCCESS_URL": f"{SITE}/confirmed.html",
    "REGISTER_PAGE_URL": f"{SITE}/",
    "TOKEN_TTL_HOURS": "24",
    "LOG_LEVEL": "INFO",
    # as template.yaml sets them for the senders (docs/events.md)
    "EVENT_BUS_NAME": "default",
    "EVENT_SOURCE": "regflow.regflow",
}
TOKEN_RE = r"/confirm\?token=([A-Za-z0-9_-]{64})"
# the stack's other secrets, in Secrets Manager as template.yaml makes them (by ARN in the
# functions' environments, regflow.aws.secrets)
ORIGIN_VALUE = "origin-verify-" + "o" * 34
CHALLENGE_VALUE = "challenge-key-" + "c" * 34
WEBHOOK_VALUE = "webhook-key-" + "w" * 36


class Stack:
    """The deployed shape under moto: drive it through the real Lambda handlers with real v2
    events, pump the stream into the mail sender, read mail back from SES."""

    def __init__(self, table_name: str, secret_arn: str) -> None:
        from regflow import aws

        self.table_name = table_name
        self.secret_arn = secret_arn
        self.secret_arns: dict[str, str] = {}  # every secret's ARN, by its variable
        self.dynamodb = client("dynamodb")
        self.stream = StreamReader(self.dynamodb, table_name)
        self.clients = aws.clients()  # the very clients the handlers use
        self.pending: list[dict[str, Any]] = []  # records a partial batch response left behind
        self.sleeps: list[float] = []  # the mail sender's in-process backoff, not slept

    def parked(self) -> list[Any]:
        """The messages parked in the table (the Outbox port of the DynamoDB adapter)."""
        from regflow.adapters.dynamodb import DynamoDBStore

        return DynamoDBStore(self.dynamodb, self.table_name).parked()

    def recover(self, *, later_by: float = 0.0) -> dict[str, int]:
        """Run the scheduled recovery of parked messages, as its schedule would `later_by`
        seconds from now (the recovery function's own code and objects)."""
        from regflow.aws import recovery, wiring

        delivery = wiring.delivery_for(wiring.Role.RECOVERY)
        assert delivery.outbox is not None
        return recovery.recover(delivery, delivery.outbox, now=lambda: time.time() + later_by)

    def through_cloudfront(self, event: dict[str, Any]) -> dict[str, Any]:
        """`event` as CloudFront passes it on: with the origin-verify value (unless the test
        put a value of its own there)."""
        headers = event.setdefault("headers", {})
        headers.setdefault("x-origin-verify", ORIGIN_VALUE)
        return event

    def register(self, event: dict[str, Any]) -> dict[str, Any]:
        from regflow.handlers import register

        return register.lambda_handler(self.through_cloudfront(event), None)

    def confirm(self, event: dict[str, Any]) -> dict[str, Any]:
        from regflow.handlers import confirm

        return confirm.lambda_handler(self.through_cloudfront(event), None)

    def erase(self, event: dict[str, Any]) -> dict[str, Any]:
        from regflow.handlers import erase

        return erase.lambda_handler(self.through_cloudfront(event), None)

    def pump(self, *, batch_size: int = 10) -> list[dict[str, Any]]:
        """Feed the new stream records (after the filter, like the event source mapping) to
        the mail sender in batches; a partial batch response keeps that record and the rest
        for the next pump, exactly as Lambda retries a shard. Returns the responses."""
        from regflow.handlers import mail_sender

        queue = self.pending + [r for r in self.stream.records() if matches_any(FILTER_PATTERNS, r)]
        responses = []
        while queue:
            batch, rest = queue[:batch_size], queue[batch_size:]
            # the policy's quick retries sleep in process: recorded, not slept
            with mock.patch("regflow.aws.mail_sender.time.sleep", self.sleeps.append):
                response = mail_sender.lambda_handler({"Records": batch}, None)
            responses.append(response)
            failures = response["batchItemFailures"]
            if failures:
                failed = failures[0]["itemIdentifier"]
                seqs = [r["dynamodb"]["SequenceNumber"] for r in batch]
                queue = batch[seqs.index(failed) :] + rest
                break
            queue = rest
        self.pending = queue
        return responses

    def item(self, registration_id: str) -> dict[str, Any] | None:
        item = self.dynamodb.get_item(
            TableName=self.table_name,
            Key={"pk": {"S": f"REG#{registration_id}"}},
            ConsistentRead=True,
        ).get("Item")
        return dict(item) if item else None

    def items(self, prefix: str = "") -> list[dict[str, Any]]:
        out = self.dynamodb.scan(TableName=self.table_name, ConsistentRead=True)["Items"]
        return [i for i in out if i["pk"]["S"].startswith(prefix)]

    def mail(self) -> list[SentMail]:
        return sent_mail()


@contextlib.contextmanager
def aws_stack(**env: str) -> Iterator[Stack]:
    """moto, the table from template.yaml, the token secret in Secrets Manager, verified SES
    identities and the handlers' environment; caches of `regflow.aws` reset around it."""
    from regflow import aws

    with mock_aws_serialized():
        dynamodb = client("dynamodb")
        table = create_table_from_template(dynamodb)
        secrets = client("secretsmanager")
        arn = secrets.create_secret(Name="regflow-token-secret", SecretString="s3cr3t-" + "k" * 57)[
            "ARN"
        ]
        verify_identities("regflow.example")
        others = {
            f"{variable}_ARN": secrets.create_secret(Name=f"regflow-{variable}", SecretString=v)[
                "ARN"
            ]
            for variable, v in (
                ("ORIGIN_VERIFY_SECRET", ORIGIN_VALUE),
                ("CHALLENGE_SECRET", CHALLENGE_VALUE),
                ("WEBHOOK_SECRET", WEBHOOK_VALUE),
            )
        }
        full = {**STACK_ENV, "TABLE_NAME": table, "TOKEN_SECRET_ARN": arn, **others, **env}
        with mock.patch.dict(os.environ, full):
            for name in ("TOKEN_SECRET", "ORIGIN_VERIFY_SECRET", "CHALLENGE_SECRET"):
                if name not in env:
                    os.environ.pop(name, None)
            aws.reset()
            try:
                stack = Stack(table, arn)
                stack.secret_arns = {"TOKEN_SECRET_ARN": arn, **others}
                yield stack
            finally:
                aws.reset()


# --- Lambda event filtering (the subset regflow's patterns use) ------------------------------


def matches(pattern: Mapping[str, Any], event: Mapping[str, Any]) -> bool:
    """EventBridge/Lambda filter matching for exact values and `{"prefix": ...}`: every key of
    the pattern must be present; a list matches when any of its values does."""
    for key, want in pattern.items():
        if key not in event:
            return False
        got = event[key]
        if isinstance(want, Mapping):
            if not isinstance(got, Mapping) or not matches(want, got):
                return False
            continue
        if not any(_value_matches(v, got) for v in want):
            return False
    return True


def _value_matches(want: Any, got: Any) -> bool:
    if isinstance(want, Mapping):
        if set(want) == {"prefix"}:
            return isinstance(got, str) and got.startswith(want["prefix"])
        raise NotImplementedError(f"filter operator {sorted(want)}")
    return bool(want == got)


def matches_any(patterns: Iterable[Mapping[str, Any]], event: Mapping[str, Any]) -> bool:
    return any(matches(p, event) for p in patterns)
