"""Reading a failed batch back from the table's stream (the dead-letter queue holds only where
the batch lies in the stream, and the stream keeps records for 24 hours)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

GONE_CODES = frozenset({"TrimmedDataAccessException", "ResourceNotFoundException"})
MAX_EMPTY_READS = 20  # GetRecords pages without records before a read is given up
ARRIVAL_MARGIN = timedelta(minutes=2)  # stream arrival times are approximate


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


class RecordsGone(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class Incomplete(Exception):
    """The batch's last record was not reached."""


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


def _parse_time(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
