"""The dead-letter queue: each message redriven through the delivery service."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from regflow.adapters.dynamodb import message_from_record
from regflow.delivery import DeliveryService, Result
from regflow.domain import Message, MessageKind, Status, mask_email
from regflow.ops.redrive.report import MailLine, MessageReport, MessageStatus, error_name
from regflow.ops.redrive.stream import BatchInfo, Incomplete, RecordsGone, read_batch
from regflow.ports import OperatorQueries, Outbox

VISIBILITY_SECONDS = 900  # a message being redriven stays hidden from a second redrive


@dataclass
class Redriver:
    """Redrives the messages of one dead-letter queue. `sqs`, `streams` and `dynamodb` are boto3
    clients (SQS, DynamoDB Streams); `delivery` is the mail sender's delivery service;
    `queries` lists registrations for the report of lost batches (optional)."""

    sqs: Any
    streams: Any
    delivery: DeliveryService
    queue_url: str
    queries: OperatorQueries | None = None  # for listing possibly lost registrations
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
            report.note = f"could not read the stream: {error_name(exc)}"
            return report
        owed = [(r, e) for r in records if (e := message_from_record(r)) is not None]
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
        """Deliver (or in a dry run, render) one owed message; (line, still fine)."""
        reg = entry.registration
        line = MailLine(reg.id, entry.kind.value, mask_email(self.delivery.recipient(entry)), "")
        try:
            current = self.delivery.store.get(reg.id)
            if current is None and not entry.kind.outlives_registration:  # an erasure's: sent
                line.result = "not sent: the registration is no longer in the table"
                return line, True
            if (
                entry.kind is MessageKind.VERIFICATION
                and current is not None
                and current.status is Status.CONFIRMED
            ):
                line.result = "not sent: already confirmed (the link arrived)"
                return line, True
            if self.dry_run:
                email = self.delivery.render(entry)
                line.result = "would send" if email is not None else "would not send: not owed"
                return line, True
            # one attempt: what fails now is parked in the table, where the scheduled
            # recovery retries it with backoff (no waiting at the operator's terminal)
            result = self.delivery.deliver_fresh(entry, sleep=self.sleep, time_left=lambda: 0.0)
        except Exception as exc:  # a store or secret error: this message stays owed
            line.result = f"FAILED ({error_name(exc)})"
            return line, False
        line.result = _RESULT_LINES[result]
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
        if window is None or self.queries is None:
            return []
        low, high = window
        out: list[str] = []
        try:
            for reg in self.queries.registrations():
                if reg.confirmed_at is not None and low <= reg.confirmed_at <= high:
                    out.append(f"{reg.id} confirmed {reg.confirmed_at.isoformat()}")
                elif low <= reg.timestamp <= high:
                    out.append(f"{reg.id} registered {reg.timestamp.isoformat()}")
        except Exception as exc:
            return [f"(could not list them: {error_name(exc)})"]
        return sorted(out)


_RESULT_LINES = {
    Result.SENT: "sent",
    Result.NOT_NEEDED: "not sent: no longer owed (expired)",
    Result.DROPPED: "not sent: the address was rejected for good (recorded on the registration)",
    Result.PARKED: "not sent: parked in the table (fix the cause, then redrive again)",
}


def drain_parked(delivery: DeliveryService, outbox: Outbox, now: float) -> list[MailLine]:
    """Send every parked message now (the impatient operator's `regflow redrive`)."""
    outbox.requeue_parked(now)
    lines: list[MailLine] = []
    while claims := outbox.claim_due(now, 25):
        failed_again = False
        for claimed in claims:
            message = claimed.message
            reg = message.registration
            result = delivery.deliver_claimed(claimed)
            failed_again = failed_again or result in (Result.RETRY, Result.PARKED)
            lines.append(
                MailLine(
                    reg.id,
                    message.kind.value,
                    mask_email(delivery.recipient(message)),
                    _RESULT_LINES.get(result, result.value),
                )
            )
        if failed_again:
            break  # what failed was parked again (due later): don't spin on it now
    return lines
