"""`regflow redrive`: the command around the queue and the parked messages."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TextIO

from regflow.domain import utcnow
from regflow.ops.redrive.queue import Redriver, drain_parked
from regflow.ops.redrive.report import MailLine, MessageStatus, write_report
from regflow.ports import Clock


@dataclass(frozen=True)
class Options:
    queue_url: str | None = None
    stack: str | None = None
    region: str | None = None
    function: str | None = None  # default: the stack's MailSenderFunction output
    settings_from_env: bool = False
    dry_run: bool = False
    wait_seconds: int = 1
    max_messages: int = 1000


def main(options: Options, out: TextIO, *, session: Any = None, clock: Clock = utcnow) -> int:
    """`regflow redrive`: 0 when every message was delivered (or the queue was empty), 1 when
    some are still in the queue, 2 when it could not start. `session`: a boto3 Session (tests);
    `clock`: the time parked messages are due by."""
    import os

    from botocore.exceptions import BotoCoreError, ClientError

    from regflow import aws, compose
    from regflow.config import Settings
    from regflow.domain import ConfigError, StoreUnavailable
    from regflow.ops.stack import stack_outputs

    if session is None:
        import boto3.session

        session = boto3.session.Session(region_name=options.region)
    try:
        outputs = (
            stack_outputs(options.stack, options.region, client=session.client("cloudformation"))
            if options.stack
            else {}
        )
        queue_url = options.queue_url or _output(outputs, options.stack, "DeadLetterQueueUrl")
        if options.settings_from_env:
            env: Mapping[str, str] = os.environ
        else:
            function = options.function or _output(outputs, options.stack, "MailSenderFunction")
            env = _function_environment(session, function)
        clients = aws.AwsClients(session_factory=lambda: session)
        # the webhook key is no value of the function's environment but a secret it reads
        # at run time (WEBHOOK_SECRET_ARN): read it the same way
        from regflow.aws import secrets

        fetch = secrets.secrets_manager_fetch(clients.secretsmanager)
        env = secrets.with_secrets(env, secrets.fetch_all(env, fetch, only={"WEBHOOK_SECRET"}))
        settings = Settings.from_env(env)
        store = compose.aws_store(settings, clients)
        delivery = compose.aws_delivery(settings, clients)
        redriver = Redriver(
            sqs=session.client("sqs"),
            streams=session.client("dynamodbstreams"),
            delivery=delivery,
            queries=store,
            queue_url=queue_url,
            dry_run=options.dry_run,
            wait_seconds=options.wait_seconds,
            max_messages=options.max_messages,
        )
        reports = redriver.run()
        if options.dry_run:
            parked_lines = [
                MailLine(p.message.registration.id, p.message.kind.value, "", "parked: would send")
                for p in store.parked()
            ]
        else:
            parked_lines = drain_parked(delivery, store, clock().timestamp())
    except (ConfigError, LookupError) as exc:
        out.write(f"regflow redrive: {exc}\n")
        return 2
    except StoreUnavailable:
        out.write("regflow redrive: Secrets Manager or DynamoDB did not answer; try again\n")
        return 2
    except (ClientError, BotoCoreError) as exc:
        out.write(f"regflow redrive: AWS call failed: {exc}\n")
        return 2
    write_report(reports, out, dry_run=options.dry_run)
    for line in parked_lines:
        out.write(f"parked {line.kind:<18} {line.registration_id}  to {line.to}: {line.result}\n")
    done = all(r.status in (MessageStatus.DELIVERED, MessageStatus.WOULD_SEND) for r in reports)
    done = done and all(line.result in ("sent", "parked: would send") for line in parked_lines)
    return 0 if done else 1


def _output(outputs: Mapping[str, str], stack: str | None, key: str) -> str:
    """A stack output (names are derived from the stack's name, so they are read, not
    guessed): the queue (DeadLetterQueueUrl), the mail sender (MailSenderFunction)."""
    if not stack:
        hint = "--queue-url" if key == "DeadLetterQueueUrl" else "--function"
        raise LookupError(f"give {hint} or --stack")
    if key not in outputs:
        raise LookupError(f"stack {stack} has no {key} output (deploy it again)")
    return outputs[key]


def _function_environment(session: Any, function: str) -> dict[str, str]:
    """The mail sender's own settings: its Lambda environment (TOKEN_SECRET_ARN names the
    secret; the secret itself is fetched only to sign links, never printed)."""
    config = session.client("lambda").get_function_configuration(FunctionName=function)
    variables = (config.get("Environment") or {}).get("Variables") or {}
    # what only means something inside the function: its bundled site templates (a path of the
    # Lambda file system) and EMF metrics (lines that would land in the operator's output)
    local_only = {"TEMPLATES_DIR", "METRICS", "METRICS_STACK"}
    return {str(k): str(v) for k, v in variables.items() if k not in local_only}
