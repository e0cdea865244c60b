"""The DynamoDB adapter: one table (template.yaml), every port of the store.

- `keys`: the key scheme and item layout (the only module that knows it),
- `expressions`: a builder of update / condition expressions,
- `table`: the client, the name and how DynamoDB's errors are read,
- `store`: `RegistrationStore` (one `TransactWriteItems` per request),
- `outbox`: `Outbox` (parked messages; fresh ones travel on the stream),
- `queries`: `OperatorQueries`,
- `suppression`: `SuppressionList` (deliverability),
- `erasure`: `ErasureStore` (self-service erasure, docs/erasure.md),
- `stream`: what the table's stream says is owed (`message_from_record`, `FILTER_PATTERNS`).

Uses the low-level client only (`boto3.resource` costs cold-start time).
"""

from __future__ import annotations

from regflow.adapters.dynamodb.erasure import ErasureMixin
from regflow.adapters.dynamodb.export import ExportMixin
from regflow.adapters.dynamodb.keys import registration_from_item, registration_item
from regflow.adapters.dynamodb.outbox import OutboxMixin
from regflow.adapters.dynamodb.queries import QueriesMixin
from regflow.adapters.dynamodb.store import StoreMixin
from regflow.adapters.dynamodb.stream import (
    FILTER_PATTERNS,
    message_from_record,
    messages_from_record,
)
from regflow.adapters.dynamodb.suppression import SuppressionMixin
from regflow.adapters.dynamodb.table import THROTTLING_CODES


class DynamoDBStore(
    StoreMixin, OutboxMixin, QueriesMixin, ExportMixin, SuppressionMixin, ErasureMixin
):
    """`RegistrationStore`, `Outbox` and `OperatorQueries` on one DynamoDB table:
    `DynamoDBStore(client, table_name, *, max_attempts=3, sleep=time.sleep)`."""


__all__ = [
    "FILTER_PATTERNS",
    "THROTTLING_CODES",
    "DynamoDBStore",
    "message_from_record",
    "messages_from_record",
    "registration_from_item",
    "registration_item",
]
