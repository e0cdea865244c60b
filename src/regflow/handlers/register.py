"""RegistrationHandler: its routes in `regflow.routes` (POST /register, GET /challenge), as
API Gateway HTTP API (payload format 2.0) events.

Its path needs only DynamoDB: no SES client, no Secrets Manager client, no token secret."""

from __future__ import annotations

from typing import Any

from regflow import aws, routes
from regflow.aws import edge

aws.init_on_lambda(aws.Role.REGISTER)


def lambda_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    refused = edge.gate(aws.Role.REGISTER, event)  # only through CloudFront
    if refused is not None:
        return refused
    return aws.http_api(aws.Role.REGISTER).handle(event, routes.REGISTRATION)
