"""SesEventsHandler: applies SES's bounce and complaint events (`regflow.aws.ses_events`)."""

from __future__ import annotations

from typing import Any

from regflow import aws
from regflow.aws.ses_events import handle

aws.init_on_lambda(aws.Role.SES_EVENTS)


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    return handle(event, context)
