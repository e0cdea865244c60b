"""ErasureHandler: GET /erase?token=... (a page with a button, no change) and POST /erase (the
button: erases). Its path needs DynamoDB (read the registration, find and delete the address's
items, put the erasure record) and the token secret; it sends no mail and publishes nothing:
the owner's notice and the Registration Erased events are owed through the stream
(docs/erasure.md)."""

from __future__ import annotations

from typing import Any

from regflow import aws, routes
from regflow.aws import edge

aws.init_on_lambda(aws.Role.ERASE)


def lambda_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    refused = edge.gate(aws.Role.ERASE, event)  # only through CloudFront
    if refused is not None:
        return refused
    return aws.http_api(aws.Role.ERASE).handle(event, routes.ERASURE)
