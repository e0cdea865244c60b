"""`regflow redrive`: send now what the AWS mail sender could not deliver yet.

Two places hold such messages:

- **Parked messages** (`OUTBOX#` items in the table): the mail sender parks a message it could
  not deliver (SES down or throttled past the quick retries, the sender identity unverified,
  sending paused). They are whole, and the scheduled recovery (`regflow.aws.recovery`) retries
  them with backoff; `redrive` makes them all due and sends them now (`queue.drain_parked`).
- **The dead-letter queue** (`MailDeadLetterQueue`), for the rare batch the mail sender could
  not handle at all (the table refused to park, the function crashed). When Lambda gives up on
  such a batch it puts a *record of the failed batch* on the queue. That SQS message holds no
  mail and no registration, only where the batch lies in the table's stream:

    {"requestContext": {...}, "responseContext": {...}, "version": "1.0", "timestamp": "...",
     "DDBStreamBatchInfo": {"shardId": "...", "startSequenceNumber": "...",
       "endSequenceNumber": "...", "approximateArrivalOfFirstRecord": "...",
       "approximateArrivalOfLastRecord": "...", "batchSize": 1, "streamArn": "..."}}

The records themselves stay readable in the stream for 24 hours. For each message this module
reads them back (GetShardIterator AT_SEQUENCE_NUMBER, then GetRecords up to the batch's last
sequence number), runs them through the mail sender's own code (`message_from_record`, and
`DeliveryService.deliver_fresh` of the delivery service `regflow.aws` builds for the mail
sender, one attempt each: what fails again is parked in the table) and deletes the message
only once every message the batch owes is delivered, parked or no longer owed.

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

from regflow.ops.redrive.command import Options, main
from regflow.ops.redrive.queue import Redriver
from regflow.ops.redrive.report import MessageReport, MessageStatus, write_report
from regflow.ops.redrive.stream import BatchInfo, read_batch

__all__ = [
    "BatchInfo",
    "MessageReport",
    "MessageStatus",
    "Options",
    "Redriver",
    "main",
    "read_batch",
    "write_report",
]
