"""ConfirmationHandler: GET /confirm?token=... (and the POST of CONFIRM_MODE=button).

Its path needs DynamoDB and the token secret (Secrets Manager, fetched on the first token
check); it sends no mail: the owner notification is owed through the stream (outbox)."""

from __future__ import annotations

from typing import Any

from regflow import aws
from regflow.aws import edge

aws.init_on_lambda(aws.Role.CONFIRM)


def lambda_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    refused = edge.gate(aws.Role.CONFIRM, event)  # only through CloudFront
    if refused is not None:
        return refused
    if event.get("routeKey") == "POST /confirm-code":  # CONFIRM_CODE: the code beside the link
        return aws.http_api(aws.Role.CONFIRM).confirm_code(event)
    if event.get("routeKey") == "POST /resend":  # the expired page's "send me a new link"
        return aws.http_api(aws.Role.CONFIRM).resend(event)
    return aws.http_api(aws.Role.CONFIRM).confirm(event)
