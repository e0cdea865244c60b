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
import email
import email.policy
import os
import threading
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

from regflow.adapters.dynamodb import DynamoDBStore

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


class _CfnLoader(yaml.SafeLoader):
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


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=_CfnLoader)
    assert isinstance(data, dict)
    return data


def table_properties(path: Path = TEMPLATE) -> dict[str, Any]:
    props = load_template(path)["Resources"]["UserRegistrations"]["Properties"]
    assert isinstance(props, dict)
    return props


def create_table_from_template(client: Any, path: Path = TEMPLATE) -> str:
    """Create the UserRegistrations table exactly as template.yaml declares it (key schema,
    billing, stream) and enable TTL as its TimeToLiveSpecification says. Returns its name."""
    props = table_properties(path)
    name = props["TableName"]
    kwargs: dict[str, Any] = {
        "TableName": name,
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "BillingMode": props.get("BillingMode", "PROVISIONED"),
    }
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
def dynamodb_store(**kwargs: Any) -> Iterator[DynamoDBStore]:
    """A DynamoDBStore on a fresh moto table built from template.yaml."""
    with mock_aws_serialized():
        client = boto3.client("dynamodb", region_name=REGION)
        name = create_table_from_template(client)
        yield DynamoDBStore(client, name, **kwargs)


# --- the stream -----------------------------------------------------------------------------


class StreamReader:
    """Reads what moto wrote to the table's stream, as Lambda DynamoDB stream events."""

    def __init__(self, dynamodb: Any, table_name: str) -> None:
        self._streams = boto3.client("dynamodbstreams", region_name=REGION)
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
                text=text.get_content() if text is not None else "",  # type: ignore[attr-defined]
                html=html.get_content() if html is not None else "",  # type: ignore[attr-defined]
                message=msg,
            )
        )
    return out


def verify_identities(*identities: str) -> None:
    """Verify sender / recipient identities in moto's SES (sandbox rules)."""
    ses = boto3.client("sesv2", region_name=REGION)
    for identity in identities:
        ses.create_email_identity(EmailIdentity=identity)


# --- fault injection ------------------------------------------------------------------------


def error_response(code: str, status: int = 400, message: str = "injected") -> tuple[Any, dict]:
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

    def _handle(self, **_: Any) -> tuple[Any, dict] | None:
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
