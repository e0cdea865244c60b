"""RegistrationHandler: POST /register (API Gateway HTTP API, payload format 2.0).

Its path needs only DynamoDB: no SES client, no Secrets Manager client, no token secret."""

from __future__ import annotations

from typing import Any

from regflow import aws
from regflow.aws import edge

aws.init_on_lambda(aws.Role.REGISTER)


def lambda_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    refused = edge.gate(aws.Role.REGISTER, event)  # only through CloudFront
    if refused is not None:
        return refused
    if event.get("routeKey") == "GET /challenge":  # CHALLENGE=pow: a fresh challenge
        return aws.http_api(aws.Role.REGISTER).challenge(event)
    return aws.http_api(aws.Role.REGISTER).register(event)
