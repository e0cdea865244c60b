"""What `regflow redrive` did, message by message, as the operator reads it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TextIO

from regflow.ops.redrive.stream import BatchInfo


class MessageStatus(StrEnum):
    DELIVERED = "delivered"  # every owed mail went out or is no longer owed: message deleted
    WOULD_SEND = "dry run"  # nothing sent, nothing deleted
    FAILED = "failed"  # a mail could not be sent: message kept (replaced if partly delivered)
    GONE = "records gone"  # the stream no longer holds the batch: the mail is lost
    UNREADABLE = "unreadable"  # not a DynamoDB stream batch record: kept


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


def error_name(exc: BaseException) -> str:
    """An AWS error code or the exception's type: never its message (it may hold addresses)."""
    code = getattr(exc, "response", {}).get("Error", {}).get("Code")
    return str(code) if code else type(exc).__name__


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
