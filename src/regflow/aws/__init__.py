"""The AWS runtime: wiring (settings, clients, each function's objects) and the mail sender.

The Lambda handlers (`regflow.handlers`) are one line each over this package."""

from regflow.aws.wiring import (
    AwsClients,
    Role,
    build_api,
    build_delivery,
    build_feedback,
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
    "build_api",
    "build_delivery",
    "build_feedback",
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
