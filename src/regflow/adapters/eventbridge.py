"""EventBridge: each event as one `PutEvents` entry on the owner's bus (`EVENT_BUS_NAME`,
default the account's default bus), `source` `regflow.<stack>` (`EVENT_SOURCE`), `detail-type`
`Registration Confirmed` / `Registration Erased`, `detail` as documented in docs/events.md.

Failures are judged by error codes, never by text: throttling and internal errors are transient;
access denied, a missing bus and the rest are the operator's to fix (parked, never dropped).
PutEvents can answer 200 with a failed entry: that entry's `ErrorCode` is judged the same way.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from regflow.domain import EVENTBRIDGE_TARGET, DeliveryError, Event, FailureClass

if TYPE_CHECKING:
    from mypy_boto3_events.client import EventBridgeClient
else:
    EventBridgeClient = Any

TRANSIENT_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "InternalException",
        "InternalFailure",
        "ServiceUnavailable",
        "ServiceUnavailableException",
    }
)


def classify(code: str, status: int = 0) -> FailureClass:
    if code in TRANSIENT_CODES or status == 429 or status >= 500:
        return FailureClass.TRANSIENT
    return FailureClass.ACCOUNT  # AccessDenied, ResourceNotFound (the bus), ...: kept, parked


def entry_of(event: Event, *, bus: str, source: str) -> dict[str, Any]:
    return {
        "Source": source,
        "DetailType": event.detail_type,
        "Detail": json.dumps(event.detail, ensure_ascii=False, sort_keys=True),
        "EventBusName": bus,
        "Time": datetime.fromisoformat(event.time.replace("Z", "+00:00")),
    }


class EventBridgeChannel:
    """`EventChannel` for the stack's EventBridge bus (the target `eventbridge`)."""

    def __init__(self, client: EventBridgeClient, *, bus: str, source: str) -> None:
        self._client = client
        self._bus = bus
        self._source = source

    @property
    def targets(self) -> tuple[str, ...]:
        return (EVENTBRIDGE_TARGET,)

    def publish(self, event: Event) -> bool:
        if event.target != EVENTBRIDGE_TARGET:
            return False
        try:
            response = self._client.put_events(
                Entries=[entry_of(event, bus=self._bus, source=self._source)]  # type: ignore[list-item]
            )
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
            raise DeliveryError(
                f"EventBridge refused the event ({code or status})",
                failure=classify(code, status),
                code=code or f"HTTP{status}",
            ) from exc
        except BotoCoreError as exc:
            raise DeliveryError(
                f"EventBridge unreachable ({type(exc).__name__})",
                failure=FailureClass.TRANSIENT,
                code=type(exc).__name__,
            ) from exc
        if response.get("FailedEntryCount"):
            entries = response.get("Entries") or [{}]
            code = str(entries[0].get("ErrorCode", "") or "FailedEntry")
            raise DeliveryError(
                f"EventBridge did not take the event ({code})", failure=classify(code), code=code
            )
        return True
