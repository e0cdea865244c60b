"""On Lambda, a bad setting fails the function's start-up (module import), once, with one log
line naming the variable; a Secrets Manager outage during a confirmation is a 503, not a 500."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.support.aws import STACK_ENV, Faults, aws_stack
from tests.support.events import http_event


def _import_handler(module: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TOKEN_"))}
    full = {
        **clean,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        **env,
    }
    code = f"import regflow.handlers.{module}"
    return subprocess.run(
        [sys.executable, "-c", code], env=full, capture_output=True, text=True, timeout=60
    )


def test_a_missing_setting_fails_the_start_up_with_one_line_naming_it() -> None:
    env = {k: v for k, v in STACK_ENV.items() if k != "SENDER_EMAIL"}
    result = _import_handler("register", {**env, "AWS_LAMBDA_FUNCTION_NAME": "RegistrationHandler"})
    assert result.returncode != 0
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    errors = [line for line in lines if line.get("level") == "ERROR"]
    assert len(errors) == 1
    assert "SENDER_EMAIL" in errors[0]["message"]
    assert "ConfigError" in result.stderr


def test_good_settings_build_the_service_at_start_up_without_calling_aws() -> None:
    # no network and fake credentials: building the register service makes no AWS call
    result = _import_handler(
        "register", {**STACK_ENV, "AWS_LAMBDA_FUNCTION_NAME": "RegistrationHandler"}
    )
    assert result.returncode == 0, result.stderr


def test_outside_lambda_the_import_stays_lazy() -> None:
    result = _import_handler("confirm", {})  # no settings at all: nothing is built yet
    assert result.returncode == 0, result.stderr


def test_secrets_manager_down_during_a_confirmation_is_a_503() -> None:
    with aws_stack() as stack:
        from regflow import aws

        Faults(aws.clients().secretsmanager(), "GetSecretValue").down("ThrottlingException")
        token = "A" * 64
        response = stack.confirm(http_event("GET", "/confirm", query={"token": token}))
        assert response["statusCode"] == 503
        assert response["headers"]["Retry-After"] == "1"
        assert "Throttling" not in response["body"]
