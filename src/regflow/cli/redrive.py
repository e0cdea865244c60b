"""`regflow redrive` (AWS): the mail in the mail sender's dead-letter queue sent again
(`regflow.ops.redrive`)."""

from __future__ import annotations

import argparse

from regflow.cli._common import Context, Parents, Subparsers


def register(sub: Subparsers, parents: Parents) -> argparse.ArgumentParser:
    redrive = sub.add_parser(
        "redrive",
        help="AWS: send the mail in the mail sender's dead-letter queue again",
        description="Read the mail sender's dead-letter queue, read each failed batch back from "
        "the table's stream (kept 24 hours) and deliver its mail; a message is deleted once "
        "all of its mail is delivered. Uses your AWS credentials (the usual AWS_* variables).",
    )
    where = redrive.add_mutually_exclusive_group(required=True)
    where.add_argument("--queue-url", help="the dead-letter queue's URL")
    where.add_argument("--stack", help="read the queue URL from this stack's DeadLetterQueueUrl")
    redrive.add_argument("--region", default=None, help="AWS region (default: AWS_REGION etc.)")
    redrive.add_argument(
        "--function",
        default=None,
        help="the mail sender function whose settings are used (default: the stack's "
        "MailSenderFunction output)",
    )
    redrive.add_argument(
        "--settings-from-env",
        action="store_true",
        help="take TABLE_NAME, SENDER_EMAIL, ... from this environment, not from --function",
    )
    redrive.add_argument("--dry-run", action="store_true", help="list what would be sent")
    redrive.add_argument("--max-messages", type=int, default=1000, help="default 1000")
    redrive.add_argument(
        "--wait-seconds", type=int, default=1, help="SQS long-poll wait per receive (default 1)"
    )
    return redrive


def run(args: argparse.Namespace, ctx: Context) -> int:
    from regflow.ops import redrive

    return redrive.main(
        redrive.Options(
            queue_url=args.queue_url,
            stack=args.stack,
            region=args.region,
            function=args.function,
            settings_from_env=args.settings_from_env,
            dry_run=args.dry_run,
            wait_seconds=args.wait_seconds,
            max_messages=args.max_messages,
        ),
        ctx.out,
        clock=ctx.clock,
    )
