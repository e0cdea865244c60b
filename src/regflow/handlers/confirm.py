"""ConfirmationHandler: its routes in `regflow.routes` (GET and POST /confirm, POST
/confirm-code, POST /resend).

Its path needs DynamoDB and the token secret (Secrets Manager, fetched on the first token
check); it sends no mail: the owner notification is owed through the stream (outbox)."""

from __future__ import annotations

from typing import Any

from regflow import aws, routes
from regflow.aws import edge

aws.init_on_lambda(aws.Role.CONFIRM)


def lambda_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    refused = edge.gate(aws.Role.CONFIRM, event)  # only through CloudFront
    if refused is not None:
        return refused
    return aws.http_api(aws.Role.CONFIRM).handle(event, routes.CONFIRMATION)
