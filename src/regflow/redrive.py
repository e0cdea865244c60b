"""`regflow redrive`: send again the mail the AWS mail sender gave up on.

When SES stays down longer than the stream event source mapping's bounded retries, Lambda puts
a *record of the failed batch* on the dead-letter queue (`MailDeadLetterQueue`). That SQS
message holds no mail and no registration, only where the batch lies in the table's stream:

    {"requestContext": {...}, "responseContext": {...}, "version": "1.0", "timestamp": "...",
     "DDBStreamBatchInfo": {"shardId": "...", "startSequenceNumber": "...",
       "endSequenceNumber": "...", "approximateArrivalOfFirstRecord": "...",
       "approximateArrivalOfLastRecord": "...", "batchSize": 1, "streamArn": "..."}}

The records themselves stay readable in the stream for 24 hours. For each message this module
reads them back (GetShardIterator AT_SEQUENCE_NUMBER, then GetRecords up to the batch's last
sequence number), runs them through the mail sender's own code (`entry_from_record`,
`deliver_entry`, the service `regflow.aws` builds for the mail-sender role) and deletes the
message only once every mail the batch owes is delivered (or is no longer owed).

At least once, not exactly once: SES has no idempotency key and the table keeps no "sent" mark.
A mail the sender managed to send before it gave up (the function crashed or timed out in the
middle of a batch) can go out a second time. Two cheap guards narrow it: a verification mail is
not re-sent for a registration that is already confirmed (its link evidently arrived) or no
longer in the table, and when a redrive delivers part of a batch and then fails, the message is
replaced by one that starts at the first undelivered record, so the next redrive does not send
the delivered part again.

Records older than the stream's 24 hours are gone for good: the message is kept and reported,
with the registrations registered or confirmed around the batch's arrival times (the message
itself names none) so that the operator can tell the owner by hand.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, TextIO

from regflow.domain import (
    MailDeliveryError,
    MessageKind,
    Message,
    Status,
    mask_email,
)
from regflow.handlers import mail_sender
from regflow.service import RegistrationService

GONE_CODES = frozenset({"TrimmedDataAccessException", "ResourceNotFoundException"})
VISIBILITY_SECONDS = 900  # a message being redriven stays hidden from a second redrive
MAX_EMPTY_READS = 20  # GetRecords pages without records before a read is given up
ARRIVAL_MARGIN = timedelta(minutes=2)  # stream arrival times are approximate


class MessageStatus(StrEnum):
    DELIVERED = "delivered"  # every owed mail went out or is no longer owed: message deleted
    WOULD_SEND = "dry run"  # nothing sent, nothing deleted
    FAILED = "failed"  # a mail could not be sent: message kept (replaced if partly delivered)
    GONE = "records gone"  # the stream no longer holds the batch: the mail is lost
    UNREADABLE = "unreadable"  # not a DynamoDB stream batch record: kept


@dataclass(frozen=True)
class BatchInfo:
    """`DDBStreamBatchInfo` of a Lambda on-failure destination record."""

    stream_arn: str
    shard_id: str
    start: str
    end: str
    batch_size: int | None = None
    first_arrival: str | None = None
    last_arrival: str | None = None

    @classmethod
    def from_body(cls, body: str) -> BatchInfo:
        """Raises ValueError for anything but a DynamoDB stream batch record."""
        try:
            data = json.loads(body)
            info = data["DDBStreamBatchInfo"]
            result = cls(
                stream_arn=str(info["streamArn"]),
                shard_id=str(info["shardId"]),
                start=str(info["startSequenceNumber"]),
                end=str(info["endSequenceNumber"]),
                batch_size=int(info["batchSize"]) if "batchSize" in info else None,
                first_arrival=info.get("approximateArrivalOfFirstRecord"),
                last_arrival=info.get("approximateArrivalOfLastRecord"),
            )
            int(result.start), int(result.end)
        except (ValueError, TypeError, KeyError) as exc:
            raise ValueError("not a DynamoDB stream batch record (DDBStreamBatchInfo)") from exc
        return result

    def arrival_window(self) -> tuple[datetime, datetime] | None:
        try:
            first = _parse_time(self.first_arrival or "")
            last = _parse_time(self.last_arrival or self.first_arrival or "")
        except ValueError:
            return None
        return first - ARRIVAL_MARGIN, last + ARRIVAL_MARGIN


@dataclass
class MailLine:
    registration_id: str
    kind: str
    to: str  # masked
    result: str


@dataclass
class MessageReport:
    message_id: str
    status: MessageStatus
    info: BatchInfo | None = None
    mails: list[MailLine] = field(default_factory=list)
    note: str = ""
    deleted: bool = False
    replaced_by: str | None = None
    candidates: list[str] = field(default_factory=list)


class RecordsGone(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class Incomplete(Exception):
    """The batch's last record was not reached."""


@dataclass
class Redriver:
    """Redrives the messages of one dead-letter queue. `sqs`, `streams` and `dynamodb` are boto3
    clients (SQS, DynamoDB Streams, DynamoDB); `service` is the mail sender's service."""

    sqs: Any
    streams: Any
    service: RegistrationService
    queue_url: str
    dynamodb: Any = None  # for listing possibly lost registrations (optional)
    dry_run: bool = False
    wait_seconds: int = 1
    max_messages: int = 1000
    sleep: Callable[[float], None] = time.sleep

    # --- the queue -------------------------------------------------------------------------

    def run(self) -> list[MessageReport]:
        reports: list[MessageReport] = []
        kept: list[Mapping[str, Any]] = []
        seen: set[str] = set()
        for message in self._messages(seen):
            report = self.redrive(message)
            reports.append(report)
            if report.replaced_by is not None:
                seen.add(report.replaced_by)  # the undelivered rest: for the next redrive
            if not report.deleted:
                kept.append(message)
        for held in kept:  # visible again at once: the next redrive can retry them
            self._release(held)
        return reports

    def _release(self, message: Mapping[str, Any]) -> None:
        self.sqs.change_message_visibility(
            QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
        )

    def _messages(self, seen: set[str]) -> Iterator[dict[str, Any]]:
        count = 0
        while count < self.max_messages:
            response = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=min(10, self.max_messages - count),
                VisibilityTimeout=VISIBILITY_SECONDS,
                WaitTimeSeconds=self.wait_seconds,
            )
            messages = response.get("Messages", [])
            for again in (m for m in messages if m["MessageId"] in seen):
                self._release(again)  # handled in this run already: leave it to the next one
            batch = [m for m in messages if m["MessageId"] not in seen]
            if not batch:
                return
            for message in batch:
                seen.add(message["MessageId"])
                count += 1
                yield message

    # --- one message -----------------------------------------------------------------------

    def redrive(self, message: Mapping[str, Any]) -> MessageReport:
        message_id = str(message["MessageId"])
        try:
            info = BatchInfo.from_body(str(message.get("Body", "")))
        except ValueError as exc:
            return MessageReport(message_id, MessageStatus.UNREADABLE, note=str(exc))
        report = MessageReport(message_id, MessageStatus.FAILED, info=info)
        try:
            records = read_batch(self.streams, info)
        except RecordsGone as gone:
            report.status = MessageStatus.GONE
            report.note = (
                f"the stream no longer holds these records ({gone.code}): their mail is lost"
            )
            report.candidates = self._candidates(info)
            return report
        except Incomplete as exc:
            report.note = str(exc)
            return report
        except Exception as exc:  # e.g. AccessDenied: this message fails, the others go on
            report.note = f"could not read the stream: {_error_name(exc)}"
            return report
        owed = [(r, e) for r in records if (e := mail_sender.entry_from_record(r)) is not None]
        if info.batch_size is not None and len(owed) != info.batch_size:
            report.note = f"{len(owed)} owed mail found, Lambda's batch held {info.batch_size}"
        for index, (record, entry) in enumerate(owed):
            line, ok = self._one(entry)
            report.mails.append(line)
            if not ok:
                if index > 0 and not self.dry_run:
                    report.replaced_by = self._replace(message, record, len(owed) - index)
                    report.deleted = report.replaced_by is not None
                return report
        if self.dry_run:
            report.status = MessageStatus.WOULD_SEND
            return report
        self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        report.status = MessageStatus.DELIVERED
        report.deleted = True
        return report

    def _one(self, entry: Message) -> tuple[MailLine, bool]:
        """Deliver (or in a dry run, render) one owed mail; (line, still fine)."""
        reg = entry.registration
        to = reg.email if entry.kind is MessageKind.VERIFICATION else self.service.settings.owner_email
        line = MailLine(reg.id, entry.kind.value, mask_email(to), "")
        try:
            current = self.service.store.get(reg.id)
            if current is None:
                line.result = "not sent: the registration is no longer in the table"
                return line, True
            if entry.kind is MessageKind.VERIFICATION and current.status is Status.CONFIRMED:
                line.result = "not sent: already confirmed (the link arrived)"
                return line, True
            if self.dry_run:
                email = self.service.render(entry)
                line.result = "would send" if email is not None else "would not send: not owed"
                return line, True
            delivery = mail_sender.deliver_entry(
                self.service,
                entry,
                attempts=mail_sender.ATTEMPTS,
                backoff=mail_sender.BACKOFF_SECONDS,
                sleep=self.sleep,
            )
        except MailDeliveryError as exc:
            kind = "temporary" if exc.transient else "permanent"
            cause = exc.__cause__ if exc.__cause__ is not None else exc
            line.result = f"FAILED ({kind} mail service error {_error_name(cause)})"
            return line, False
        except Exception as exc:  # a store or secret error: this mail stays owed
            line.result = f"FAILED ({_error_name(exc)})"
            return line, False
        line.result = {
            mail_sender.Delivery.SENT: "sent",
            mail_sender.Delivery.NOT_NEEDED: "not sent: no longer owed (expired)",
            mail_sender.Delivery.REJECTED: "not sent: the address was rejected for good",
        }[delivery]
        return line, True

    def _replace(self, message: Mapping[str, Any], record: Mapping[str, Any], left: int) -> str:
        """Put back a message for the undelivered rest of the batch, then delete this one."""
        body = json.loads(str(message["Body"]))
        info = body["DDBStreamBatchInfo"]
        info["startSequenceNumber"] = str(record["dynamodb"]["SequenceNumber"])
        info["batchSize"] = left
        body["regflowRedrive"] = {
            "replaces": message["MessageId"],
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        sent = self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=json.dumps(body))
        self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        return str(sent["MessageId"])

    def _candidates(self, info: BatchInfo) -> list[str]:
        """Registrations registered or confirmed around the batch's arrival times."""
        window = info.arrival_window()
        if window is None or self.dynamodb is None:
            return []
        from botocore.exceptions import ClientError

        from regflow.adapters.dynamodb import registration_from_item

        low, high = window
        out: list[str] = []
        try:
            pages = self.dynamodb.get_paginator("scan").paginate(
                TableName=self.service.settings.table_name,
                FilterExpression="begins_with(pk, :reg)",
                ExpressionAttributeValues={":reg": {"S": "REG#"}},
            )
            for page in pages:
                for item in page.get("Items", []):
                    reg = registration_from_item(item)
                    if reg.confirmed_at is not None and low <= reg.confirmed_at <= high:
                        out.append(f"{reg.id} confirmed {reg.confirmed_at.isoformat()}")
                    elif low <= reg.timestamp <= high:
                        out.append(f"{reg.id} registered {reg.timestamp.isoformat()}")
        except ClientError as exc:
            return [f"(could not list them: {exc.response.get('Error', {}).get('Code')})"]
        return sorted(out)


def read_batch(streams: Any, info: BatchInfo) -> list[dict[str, Any]]:
    """The stream records from `info.start` to `info.end`, oldest first. Raises `RecordsGone`
    when the stream no longer holds them, `Incomplete` when the end was not reached."""
    from botocore.exceptions import ClientError

    end = int(info.end)
    records: list[dict[str, Any]] = []
    empty = 0
    try:
        iterator: str | None = streams.get_shard_iterator(
            StreamArn=info.stream_arn,
            ShardId=info.shard_id,
            ShardIteratorType="AT_SEQUENCE_NUMBER",
            SequenceNumber=info.start,
        )["ShardIterator"]
        while iterator:
            response = streams.get_records(ShardIterator=iterator, Limit=1000)
            for record in response.get("Records", []):
                sequence = int(record["dynamodb"]["SequenceNumber"])
                if sequence > end:
                    return records
                records.append(record)
                if sequence == end:
                    return records
            empty = 0 if response.get("Records") else empty + 1
            if empty >= MAX_EMPTY_READS:
                break
            iterator = response.get("NextShardIterator")
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in GONE_CODES:
            raise RecordsGone(code) from exc
        raise
    raise Incomplete(f"read {len(records)} records but not the batch's last one ({info.end})")


def _error_name(exc: BaseException) -> str:
    """An AWS error code or the exception's type: never its message (it may hold addresses)."""
    code = getattr(exc, "response", {}).get("Error", {}).get("Code")
    return str(code) if code else type(exc).__name__


def _parse_time(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# --- output -------------------------------------------------------------------------------


def write_report(reports: Sequence[MessageReport], out: TextIO, *, dry_run: bool) -> None:
    if not reports:
        out.write("the dead-letter queue is empty: no mail waits to be redriven\n")
        return
    for r in reports:
        out.write(f"message {r.message_id}: {r.status.value}\n")
        if r.info is not None:
            i = r.info
            out.write(
                f"  batch: shard {i.shard_id}, records {i.start}..{i.end}"
                f" (arrived {i.first_arrival or '?'} .. {i.last_arrival or '?'})\n"
            )
        for m in r.mails:
            out.write(f"  {m.kind:<18} {m.registration_id}  to {m.to}: {m.result}\n")
        if r.note:
            out.write(f"  note: {r.note}\n")
        if r.status is MessageStatus.GONE:
            out.write(
                "  LOST: the message does not name the registrations. Registered or confirmed"
                " around that time (check which owner notifications never arrived):\n"
            )
            for c in r.candidates or ["(none found)"]:
                out.write(f"    {c}\n")
        if r.replaced_by:
            out.write(f"  delivered part removed: the rest is kept as message {r.replaced_by}\n")
        elif r.deleted:
            out.write("  message deleted\n")
        elif not dry_run:
            out.write("  message kept in the queue\n")
    delivered = sum(r.status is MessageStatus.DELIVERED for r in reports)
    kept = sum(not r.deleted or r.replaced_by is not None for r in reports)
    if dry_run:
        out.write(f"dry run: {len(reports)} message(s) read, nothing sent, nothing deleted\n")
    else:
        out.write(f"{len(reports)} message(s): {delivered} delivered, {kept} still in the queue\n")


# --- the command --------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    queue_url: str | None = None
    stack: str | None = None
    region: str | None = None
    function: str = "RegistrationMailSender"
    settings_from_env: bool = False
    dry_run: bool = False
    wait_seconds: int = 1
    max_messages: int = 1000


def main(options: Options, out: TextIO, *, session: Any = None) -> int:
    """`regflow redrive`: 0 when every message was delivered (or the queue was empty), 1 when
    some are still in the queue, 2 when it could not start. `session`: a boto3 Session (tests)."""
    import os

    from botocore.exceptions import BotoCoreError, ClientError

    from regflow import aws
    from regflow.config import Settings
    from regflow.domain import ConfigError

    if session is None:
        import boto3.session

        session = boto3.session.Session(region_name=options.region)
    try:
        queue_url = options.queue_url or _stack_output(session, options.stack)
        if options.settings_from_env:
            env: Mapping[str, str] = os.environ
        else:
            env = _function_environment(session, options.function)
        settings = Settings.from_env(env)
        clients = aws.AwsClients(session_factory=lambda: session)
        service = aws.build_service(settings, clients, aws.Role.MAIL_SENDER)
        redriver = Redriver(
            sqs=session.client("sqs"),
            streams=session.client("dynamodbstreams"),
            dynamodb=clients.dynamodb(),
            service=service,
            queue_url=queue_url,
            dry_run=options.dry_run,
            wait_seconds=options.wait_seconds,
            max_messages=options.max_messages,
        )
        reports = redriver.run()
    except (ConfigError, LookupError) as exc:
        out.write(f"regflow redrive: {exc}\n")
        return 2
    except (ClientError, BotoCoreError) as exc:
        out.write(f"regflow redrive: AWS call failed: {exc}\n")
        return 2
    write_report(reports, out, dry_run=options.dry_run)
    done = all(r.status in (MessageStatus.DELIVERED, MessageStatus.WOULD_SEND) for r in reports)
    return 0 if done else 1


def _stack_output(session: Any, stack: str | None) -> str:
    if not stack:
        raise LookupError("give --queue-url or --stack")
    described = session.client("cloudformation").describe_stacks(StackName=stack)
    for output in described["Stacks"][0].get("Outputs", []):
        if output.get("OutputKey") == "DeadLetterQueueUrl":
            return str(output["OutputValue"])
    raise LookupError(f"stack {stack} has no DeadLetterQueueUrl output")


def _function_environment(session: Any, function: str) -> dict[str, str]:
    """The mail sender's own settings: its Lambda environment (TOKEN_SECRET_ARN names the
    secret; the secret itself is fetched only to sign links, never printed)."""
    config = session.client("lambda").get_function_configuration(FunctionName=function)
    variables = (config.get("Environment") or {}).get("Variables") or {}
    return {str(k): str(v) for k, v in variables.items()}
