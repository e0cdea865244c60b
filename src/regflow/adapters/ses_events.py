"""SES's event notifications (a configuration set's event destination) as `MailEvent`s.

Two transports carry the same JSON document (`eventType`, `mail`, and `bounce` /
`complaint` / `delivery` / `reject`), and both are accepted:

- an SNS topic (what template.yaml uses): a Lambda event of `Records[].Sns.Message`, the
  document as a JSON string;
- EventBridge (`source` `aws.ses`): the document is the event's `detail`.

Identity notifications (`notificationType` instead of `eventType`, the older feedback
forwarding) have the same shape and are read too. Anything else (a delivery delay, an open, a
click, SNS's subscription confirmation) is no `MailEvent` and is skipped.

`bounce.feedbackId` / `complaint.feedbackId` identify the report across SNS's redeliveries
(`MailEvent.feedback_id`: counted once); the report's own `timestamp` is its time.

`mail.tags` carries the tags regflow put on the message (`regflow.feedback.TAG_KIND`,
`TAG_REGISTRATION`): which message, which registration.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from regflow.domain import MailEvent, MailEventType
from regflow.feedback import TAG_KIND, TAG_REGISTRATION

_TYPES = {
    "Bounce": MailEventType.BOUNCE,
    "Complaint": MailEventType.COMPLAINT,
    "Delivery": MailEventType.DELIVERY,
    "Reject": MailEventType.REJECT,
}


def _time(text: object) -> datetime:
    if isinstance(text, str) and text:
        try:
            return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
        except ValueError:
            pass
    return datetime.now(UTC)


def _tag(mail: Mapping[str, Any], name: str) -> str | None:
    values = (mail.get("tags") or {}).get(name) or []
    return str(values[0]) if values else None


def event_from_document(doc: Mapping[str, Any]) -> MailEvent | None:
    """One SES event document (the SNS message, or EventBridge's `detail`)."""
    kind = _TYPES.get(str(doc.get("eventType") or doc.get("notificationType") or ""))
    if kind is None:
        return None
    mail = doc.get("mail") or {}

    def made(
        recipients: tuple[str, ...],
        at: datetime,
        *,
        permanent: bool = False,
        diagnostic: str = "",
        feedback_id: object = "",
    ) -> MailEvent:
        return MailEvent(
            type=kind,
            recipients=recipients,
            at=at,
            permanent=permanent,
            diagnostic=diagnostic,
            registration_id=_tag(mail, TAG_REGISTRATION),
            message_kind=_tag(mail, TAG_KIND),
            message_id=str(mail.get("messageId") or ""),
            feedback_id=str(feedback_id or ""),
        )

    if kind is MailEventType.BOUNCE:
        bounce = doc.get("bounce") or {}
        recipients = bounce.get("bouncedRecipients") or []
        diagnostic = next(
            (str(r["diagnosticCode"]) for r in recipients if r.get("diagnosticCode")),
            f"{bounce.get('bounceType', '')}/{bounce.get('bounceSubType', '')}",
        )
        return made(
            tuple(str(r["emailAddress"]) for r in recipients if r.get("emailAddress")),
            _time(bounce.get("timestamp")),
            permanent=bounce.get("bounceType") == "Permanent",
            diagnostic=diagnostic,
            feedback_id=bounce.get("feedbackId"),
        )
    if kind is MailEventType.COMPLAINT:
        complaint = doc.get("complaint") or {}
        recipients = complaint.get("complainedRecipients") or []
        return made(
            tuple(str(r["emailAddress"]) for r in recipients if r.get("emailAddress")),
            _time(complaint.get("timestamp")),
            diagnostic=f"complaint: {complaint.get('complaintFeedbackType') or 'unspecified'}",
            feedback_id=complaint.get("feedbackId"),
        )
    if kind is MailEventType.DELIVERY:
        delivery = doc.get("delivery") or {}
        return made(
            tuple(str(r) for r in delivery.get("recipients") or []),
            _time(delivery.get("timestamp")),
        )
    reject = doc.get("reject") or {}
    return made(
        tuple(str(r) for r in mail.get("destination") or []),
        _time(mail.get("timestamp")),
        diagnostic=str(reject.get("reason") or ""),
    )


def events_from_lambda(event: Mapping[str, Any]) -> Iterator[MailEvent]:
    """The `MailEvent`s of one Lambda invocation: an SNS batch or one EventBridge event."""
    if event.get("source") == "aws.ses" and isinstance(event.get("detail"), Mapping):
        parsed = event_from_document(event["detail"])
        if parsed is not None:
            yield parsed
        return
    for record in event.get("Records") or []:
        sns = record.get("Sns") or {}
        if sns.get("Type", "Notification") != "Notification":
            continue
        try:
            doc = json.loads(sns.get("Message") or "")
        except ValueError:
            continue
        if isinstance(doc, Mapping):
            parsed = event_from_document(doc)
            if parsed is not None:
                yield parsed
