"""MailSender: delivers what the table's stream says is owed (`regflow.aws.mail_sender`)."""

from __future__ import annotations

from typing import Any

from regflow import aws
from regflow.aws.mail_sender import BatchResponse, handle

aws.init_on_lambda(aws.Role.MAIL_SENDER)


def lambda_handler(event: dict[str, Any], context: Any) -> BatchResponse:
    return handle(event, context)
