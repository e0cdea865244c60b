"""`regflow redrive` under moto: an owner notification whose batch Lambda gave up on (SES down
past the retries) is read back from the real stream and delivered from the dead-letter queue.

Lambda's on-failure record is built as Lambda builds it (DDBStreamBatchInfo: the real moto
stream's ARN, shard id and the failed batch's sequence numbers); everything else is the real
code: the CLI, the mail sender's record handling, the service `regflow.aws` builds, SES."""

from __future__ import annotations

import io
import json
import os
import re
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse

from regflow import cli
from regflow.adapters.dynamodb import message_from_record
from regflow.ops import redrive
from tests.support.aws import (
    REGION,
    STACK_ENV,
    TOKEN_RE,
    Faults,
    Stack,
    aws_stack,
    client,
    error_response,
)
from tests.support.events import http_event, json_post

OWNER = ["owner@regflow.example"]


@pytest.fixture
def stack() -> Iterator[Stack]:
    with aws_stack() as s:
        yield s


@pytest.fixture
def queue(stack: Stack) -> str:
    url: str = client("sqs").create_queue(QueueName="MailDeadLetterQueue")["QueueUrl"]
    return url


def owner_mail(stack: Stack) -> list[Any]:
    return [m for m in stack.mail() if m.to == OWNER]


def confirm_while_ses_is_down(stack: Stack, *emails: str) -> list[dict[str, Any]]:
    """Register and verify `emails`, then confirm them all while SES is down and the table
    refuses to park them too (the one case the mail sender hands a record back to Lambda):
    the mail sender reports the owner notifications failed and Lambda keeps them
    (stack.pending)."""
    for i, address in enumerate(emails):
        stack.register(
            json_post("/register", {"name": f"User {i}", "email": address}, source_ip=f"1.2.3.{i}")
        )
    stack.pump()
    tokens = [m.group(1) for mail in stack.mail() if (m := re.search(TOKEN_RE, mail.text))]
    assert len(tokens) == len(emails)
    ses = Faults(stack.clients.sesv2(), "SendEmail").down("ServiceUnavailable")
    table = Faults(stack.clients.dynamodb(), "UpdateItem").down("InternalServerError")
    for token in tokens:
        response = stack.confirm(http_event("GET", "/confirm", query={"token": token}))
        assert response["headers"]["Location"].endswith("?status=confirmed")
    assert stack.pump()[0]["batchItemFailures"]
    ses.up()
    table.up()
    failed = stack.pending
    stack.pending = []  # Lambda gave up on them: they are past its checkpoint now
    assert not owner_mail(stack)
    return failed


def give_up(stack: Stack, queue: str, records: list[dict[str, Any]]) -> dict[str, Any]:
    """Send the on-failure record Lambda sends after the last retry of `records`' batch."""
    arn = stack.stream.arn
    shards = client("dynamodbstreams").describe_stream(StreamArn=arn)["StreamDescription"]
    arrivals = [
        datetime.fromtimestamp(int(r["dynamodb"]["ApproximateCreationDateTime"]), UTC).strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        )
        for r in records
    ]
    body = {
        "requestContext": {
            "requestId": "316aa6d0-8154-4b2a-9af7-85d5f4a6bc81",
            "functionArn": f"arn:aws:lambda:{REGION}:123456789012:function:RegistrationMailSender",
            "condition": "RetryAttemptsExhausted",
            "approximateInvokeCount": 11,
        },
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST"},
        "version": "1.0",
        "timestamp": arrivals[-1],
        "DDBStreamBatchInfo": {
            "shardId": shards["Shards"][0]["ShardId"],
            "startSequenceNumber": records[0]["dynamodb"]["SequenceNumber"],
            "endSequenceNumber": records[-1]["dynamodb"]["SequenceNumber"],
            "approximateArrivalOfFirstRecord": arrivals[0],
            "approximateArrivalOfLastRecord": arrivals[-1],
            "batchSize": len(records),
            "streamArn": arn,
        },
    }
    client("sqs").send_message(QueueUrl=queue, MessageBody=json.dumps(body))
    return body


def run(queue: str, *extra: str, session: Any = None) -> tuple[int, str]:
    out = io.StringIO()
    if session is None:
        argv = ["redrive", "--queue-url", queue, "--settings-from-env", "--wait-seconds", "0"]
        code = cli.main([*argv, *extra], out=out)
    else:
        options = redrive.Options(
            queue_url=queue, settings_from_env=True, wait_seconds=0, dry_run="--dry-run" in extra
        )
        code = redrive.main(options, out, session=session)
    return code, out.getvalue()


def in_queue(queue: str) -> list[dict[str, Any]]:
    """The queue's messages (hidden again at once, so the next redrive still sees them)."""
    sqs = client("sqs")
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
    for m in messages:
        sqs.change_message_visibility(
            QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0
        )
    return [json.loads(m["Body"]) for m in messages]


def session_with(operation: str, fail: Any) -> Any:
    """A boto3 session whose clients answer `operation` with `fail()` (an error response or
    None to pass through), as injected faults do."""
    session = boto3.session.Session(region_name=REGION)
    service, name = operation.split(".")
    session.events.register(f"before-call.{service}.{name}", lambda **_: fail())
    return session


def test_redrive_delivers_the_owner_notification_once_and_deletes_the_message(
    stack: Stack, queue: str
) -> None:
    failed = confirm_while_ses_is_down(stack, "jane@example.com")
    give_up(stack, queue, failed)

    code, out = run(queue)

    assert code == 0, out
    [mail] = owner_mail(stack)
    assert "User 0" in mail.text and "jane@example.com" in mail.text
    assert "owner-notification" in out and ": sent" in out and "message deleted" in out
    assert "owner@regflow.example" not in out and "jane@example.com" not in out
    assert in_queue(queue) == []

    code, out = run(queue)  # nothing left: nothing sent again
    assert code == 0 and "queue is empty" in out
    assert len(owner_mail(stack)) == 1


def test_dry_run_sends_nothing_and_keeps_the_message(stack: Stack, queue: str) -> None:
    failed = confirm_while_ses_is_down(stack, "jane@example.com")
    body = give_up(stack, queue, failed)
    mail_before = len(stack.mail())

    code, out = run(queue, "--dry-run")

    assert code == 0, out
    assert "would send" in out and "o***@regflow.example" in out
    assert "/confirm?token=" not in out and "owner@regflow.example" not in out
    assert len(stack.mail()) == mail_before
    assert in_queue(queue) == [body]  # kept, and visible again for the real run
    code, out = run(queue)
    assert code == 0 and len(owner_mail(stack)) == 1


@pytest.mark.parametrize("code", ["TrimmedDataAccessException", "ResourceNotFoundException"])
def test_records_gone_from_the_stream_are_reported_and_the_message_kept(
    stack: Stack, queue: str, code: str
) -> None:
    failed = confirm_while_ses_is_down(stack, "jane@example.com")
    body = give_up(stack, queue, failed)
    registration_id = failed[0]["dynamodb"]["NewImage"]["id"]["S"]
    session = session_with("dynamodb-streams.GetShardIterator", lambda: error_response(code, 400))

    exit_code, out = run(queue, session=session)

    assert exit_code == 1
    assert "records gone" in out and code in out and "LOST" in out
    assert registration_id in out  # the operator learns whom to tell by hand
    assert "message kept in the queue" in out
    assert not owner_mail(stack)
    assert in_queue(queue) == [body]


def test_ses_still_down_parks_the_mail_in_the_table(stack: Stack, queue: str) -> None:
    failed = confirm_while_ses_is_down(stack, "jane@example.com")
    give_up(stack, queue, failed)
    session = session_with("sesv2.SendEmail", lambda: error_response("ServiceUnavailable", 503))

    code, out = run(queue, session=session)

    # the message is safe in the table, whole (the queue only pointed at the stream)...
    assert code == 1 and "parked in the table" in out and "message deleted" in out
    assert in_queue(queue) == []
    [parked] = stack.parked()
    assert parked.message.kind.value == "owner-notification"
    # ...and the next redrive (or the scheduled recovery) sends it, once
    code, out = run(queue)
    assert code == 0, out
    assert "parked owner-notification" in out and ": sent" in out
    assert len(owner_mail(stack)) == 1
    assert stack.parked() == []


def test_a_batch_whose_mail_cannot_even_be_parked_keeps_the_rest(stack: Stack, queue: str) -> None:
    failed = confirm_while_ses_is_down(stack, "jane@example.com", "joe@example.com")
    assert len(failed) == 2
    give_up(stack, queue, failed)
    calls = {"n": 0}

    def second_send_fails() -> Any:
        calls["n"] += 1
        return error_response("ServiceUnavailable", 503) if calls["n"] > 1 else None

    def no_parking() -> Any:
        return error_response("InternalServerError", 500)

    session = session_with("sesv2.SendEmail", second_send_fails)
    session.events.register("before-call.dynamodb.UpdateItem", lambda **_: no_parking())
    code, out = run(queue, session=session)

    assert code == 1, out
    assert len(owner_mail(stack)) == 1
    [rest] = in_queue(queue)
    info = rest["DDBStreamBatchInfo"]
    assert info["startSequenceNumber"] == failed[1]["dynamodb"]["SequenceNumber"]
    assert info["endSequenceNumber"] == failed[1]["dynamodb"]["SequenceNumber"]
    assert info["batchSize"] == 1

    assert run(queue)[0] == 0
    texts = [m.text for m in owner_mail(stack)]
    assert len(texts) == 2  # each owner notification exactly once
    assert sum("User 0" in t for t in texts) == 1 and sum("User 1" in t for t in texts) == 1
    assert in_queue(queue) == []


def test_verification_of_a_confirmed_registration_is_not_sent_again(
    stack: Stack, queue: str
) -> None:
    """A batch that also holds an INSERT whose mail did go out (the link was clicked)."""
    stack.register(json_post("/register", {"name": "Jane", "email": "jane@example.com"}))
    [insert] = [r for r in stack.stream.records() if message_from_record(r)]
    failed = confirm_while_ses_is_down_after(stack, insert)
    give_up(stack, queue, [insert, *failed])
    verification_mails = len(stack.mail())

    code, out = run(queue)

    assert code == 0, out
    assert "already confirmed" in out
    assert len(stack.mail()) == verification_mails + 1  # only the owner notification
    assert len(owner_mail(stack)) == 1


def confirm_while_ses_is_down_after(stack: Stack, insert: dict[str, Any]) -> list[dict[str, Any]]:
    stack.pending = [insert]  # the verification mail goes out on the normal path
    stack.pump()
    [token] = [m.group(1) for mail in stack.mail() if (m := re.search(TOKEN_RE, mail.text))]
    ses = Faults(stack.clients.sesv2(), "SendEmail").down("ServiceUnavailable")
    table = Faults(stack.clients.dynamodb(), "UpdateItem").down("InternalServerError")
    stack.confirm(http_event("GET", "/confirm", query={"token": token}))
    assert stack.pump()[0]["batchItemFailures"]
    ses.up()
    table.up()
    failed = stack.pending
    stack.pending = []
    return failed


def test_settings_from_the_mail_sender_function_and_the_queue_from_the_stack(
    stack: Stack, queue: str
) -> None:
    """Without --settings-from-env the mail sender's own Lambda environment is used (here it
    names another owner than this process's environment), and --stack finds the queue."""
    failed = confirm_while_ses_is_down(stack, "jane@example.com")
    give_up(stack, queue, failed)
    role = client("iam").create_role(RoleName="mail-sender", AssumeRolePolicyDocument="{}")
    package = io.BytesIO()
    with zipfile.ZipFile(package, "w") as z:
        z.writestr("handler.py", "def lambda_handler(event, context):\n    return None\n")
    function_env = {k: os.environ[k] for k in STACK_ENV} | {
        "TABLE_NAME": stack.table_name,
        "TOKEN_SECRET_ARN": stack.secret_arn,
        "OWNER_EMAIL": "boss@regflow.example",
    }
    client("lambda").create_function(
        FunctionName="staging-mail-sender",
        Runtime="python3.13",
        Role=role["Role"]["Arn"],
        Handler="handler.lambda_handler",
        Code={"ZipFile": package.getvalue()},
        Environment={"Variables": function_env},
    )
    # names derive from the stack's name: redrive reads them from the stack's outputs
    outputs = [
        {"OutputKey": "DeadLetterQueueUrl", "OutputValue": queue},
        {"OutputKey": "MailSenderFunction", "OutputValue": "staging-mail-sender"},
    ]
    described = {
        "Stacks": [{"StackName": "staging", "StackStatus": "CREATE_COMPLETE", "Outputs": outputs}]
    }
    session = session_with(
        "cloudformation.DescribeStacks",
        lambda: (AWSResponse("https://cfn.invalid/", 200, {}, None), described),  # type: ignore[arg-type]
    )

    out = io.StringIO()
    code = redrive.main(redrive.Options(stack="staging", wait_seconds=0), out, session=session)

    assert code == 0, out.getvalue()
    assert [m.to for m in stack.mail()][-1] == ["boss@regflow.example"]
    assert "b***@regflow.example" in out.getvalue()
    assert in_queue(queue) == []
