"""Deliverability on the AWS path, under moto, through the real Lambda handlers: SES's events
(as recorded SNS notifications) reach the SES events function; a hard bounce suppresses the
inbox in the table; after it, further posts answer exactly like any other post and the mail
sender sends nothing; soft bounces suppress at the third; a bounce of the owner's address is
an EMF metric (the alarm's), not a suppression. Every send names the configuration set and
carries the feedback tags."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

from regflow.domain import SOFT_BOUNCE_LIMIT
from tests.support import events
from tests.support.aws import Stack, aws_stack

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ses_events"
FIXTURE_TO = "jane.doe+news@example.com"


def ses_event(name: str, registration_id: str, to: str) -> dict[str, Any]:
    text = (FIXTURES / f"{name}.json").read_text(encoding="utf-8")
    loaded: dict[str, Any] = json.loads(
        text.replace("REGISTRATION_ID", registration_id).replace(FIXTURE_TO, to)
    )
    return loaded


def deliver(stack: Stack, event: dict[str, Any]) -> dict[str, int]:
    from regflow.handlers import ses_events

    return ses_events.lambda_handler(event, None)


def registration_id(stack: Stack, email: str) -> str:
    ids = [str(i["id"]["S"]) for i in stack.items("REG#") if i["email"]["S"] == email]
    return ids[-1]


def post(stack: Stack, email: str, ip: str = "198.51.100.7") -> dict[str, Any]:
    event = events.json_post("/register", {"name": "Jane", "email": email}, source_ip=ip)
    return stack.register(event)


def test_hard_bounce_then_identical_answers_and_no_mail() -> None:
    env = {"ADDRESS_MIN_INTERVAL_SECONDS": "0", "SES_CONFIGURATION_SET": "regflow-mail"}
    with aws_stack(**env) as stack:
        jane = "jane.doe@example.com"
        assert post(stack, jane)["statusCode"] == 202
        stack.pump()
        assert len(stack.mail()) == 1
        rid = registration_id(stack, jane)
        assert deliver(stack, ses_event("sns_bounce_permanent", rid, jane)) == {
            "events": 1,
            "suppressed": 1,
        }
        assert stack.item(rid)["status"]["S"] == "BOUNCED"  # type: ignore[index]
        assert stack.items("SUPPRESS#")[0]["reason"]["S"] == "bounce"

        for n, variant in enumerate([jane, "Jane.Doe+a@example.com", "jane.doe+b@example.com"]):
            got = post(stack, variant, ip=f"198.51.100.{10 + n}")
            other = post(stack, f"someone{n}@example.org", ip=f"198.51.100.{10 + n}")
            assert (got["statusCode"], got["body"], got["headers"]) == (
                other["statusCode"],
                other["body"],
                other["headers"],
            )
        stack.pump()
        sent_to = [m.to for m in stack.mail()]
        assert sent_to[1:] == [
            ["someone0@example.org"],
            ["someone1@example.org"],
            ["someone2@example.org"],
        ]


def test_soft_bounces_suppress_at_the_limit_and_owner_bounce_is_a_metric() -> None:
    env = {"SES_CONFIGURATION_SET": "regflow-mail", "METRICS": "emf", "METRICS_STACK": "t"}
    with aws_stack(**env) as stack:
        zoe = "zoe@example.com"
        post(stack, zoe)
        stack.pump()
        rid = registration_id(stack, zoe)
        for n in range(SOFT_BOUNCE_LIMIT):
            assert stack.items("SUPPRESS#") == [], n
            deliver(stack, ses_event("sns_bounce_transient", rid, zoe))
        assert stack.items("SUPPRESS#")[0]["reason"]["S"] == "soft-bounces"
        assert stack.items("SOFTBOUNCE#")[0].get("ttl") is not None

        out = io.StringIO()
        with redirect_stdout(out):
            result = deliver(stack, ses_event("sns_bounce_owner", rid, "owner@regflow.example"))
        assert result == {"events": 1, "suppressed": 0}
        lines = [json.loads(line) for line in out.getvalue().splitlines() if line.startswith("{")]
        assert any(line.get("OwnerAddressBounced") == 1 for line in lines)
        assert len(stack.items("SUPPRESS#")) == 1  # the owner is not on the list


def test_ses_events_function_starts_on_lambda_and_the_mx_check_follows_the_setting() -> None:
    """The SES events handler builds its service at init (a DynamoDB client only: no SES, no
    secret, no DNS code; no AWS call is made: no network here); the mail sender gets the MX
    check only with MX_CHECK=on."""
    import os
    import subprocess
    import sys

    from tests.support.aws import STACK_ENV

    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TOKEN_"))}
    env = {
        **clean,
        **STACK_ENV,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_LAMBDA_FUNCTION_NAME": "SesEventsHandler",
        "TABLE_NAME": "t",
    }
    code = (
        "import sys, regflow.handlers.ses_events as h\n"
        "from regflow import aws\n"
        "assert aws.Role.SES_EVENTS in aws.wiring._built\n"
        "assert aws.clients().created == {'dynamodb'}, aws.clients().created\n"
        "assert 'dns.resolver' not in sys.modules\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr

    from regflow import compose
    from regflow.config import Settings
    from regflow.mail_domains import MailDomainCheck

    for setting, expected in (("on", MailDomainCheck), ("off", type(None))):
        settings = Settings.from_env(
            {**STACK_ENV, "MX_CHECK": setting, "TOKEN_SECRET": "k" * 32, "TABLE_NAME": "t"}
        )
        assert isinstance(compose.mail_domains(settings), expected)
