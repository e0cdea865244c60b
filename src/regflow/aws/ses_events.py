"""The SES events function: SES publishes the configuration set's bounce, complaint, delivery
and reject events to an SNS topic (template.yaml: `SesEventsTopic`), which invokes this
function; each event is applied by `FeedbackService` (the suppression list, the marking of
the registration, the counts and the owner-address alarm).

An event that cannot be applied (the table throttling, say) fails the invocation: Lambda
retries the asynchronous invocation twice, then sends it to the function's dead-letter queue
(`SesEventsDeadLetterQueue`). Applying an event twice changes nothing but the soft-bounce
count (suppressing and marking are idempotent).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from regflow.adapters.ses_events import events_from_lambda
from regflow.feedback import FeedbackService

log = logging.getLogger("regflow.ses_events")


def process(event: Mapping[str, Any], feedback: FeedbackService) -> dict[str, int]:
    """Apply every SES event in one invocation; how many events and new suppressions."""
    events = suppressed = 0
    for mail_event in events_from_lambda(event):
        events += 1
        suppressed += len(feedback.handle(mail_event))
    log.info("ses events applied", extra={"events": events, "suppressed": suppressed})
    return {"events": events, "suppressed": suppressed}


def handle(event: Mapping[str, Any], context: Any) -> dict[str, int]:
    """The Lambda entry point's body (`regflow.handlers.ses_events`)."""
    from regflow.aws import wiring

    return process(event, wiring.feedback())
