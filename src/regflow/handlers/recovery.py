"""ParkedMessageRecovery: retries the parked messages on a schedule (`regflow.aws.recovery`)."""

from __future__ import annotations

from typing import Any

from regflow import aws
from regflow.aws.recovery import handle

aws.init_on_lambda(aws.Role.RECOVERY)


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    return handle(event, context)
