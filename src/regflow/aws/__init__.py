"""The AWS runtime: wiring (settings, clients, each function's objects, built by
`regflow.compose`) and the mail sender.

The Lambda handlers (`regflow.handlers`) are one line each over this package."""

from regflow.aws.wiring import (
    AwsClients,
    Role,
    clients,
    delivery,
    delivery_for,
    feedback,
    http_api,
    init_on_lambda,
    load_settings,
    reset,
    token_secret_source,
)

__all__ = [
    "AwsClients",
    "Role",
    "clients",
    "delivery",
    "delivery_for",
    "feedback",
    "http_api",
    "init_on_lambda",
    "load_settings",
    "reset",
    "token_secret_source",
]
