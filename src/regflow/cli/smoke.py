"""`regflow smoke` (AWS): register, confirm and check a deployed stack end to end through its
public URL, with SES's mailbox simulator addresses (`regflow.ops.smoke`)."""

from __future__ import annotations

import argparse

from regflow.cli._common import Context, Parents, Subparsers


def register(sub: Subparsers, parents: Parents) -> argparse.ArgumentParser:
    smoke = sub.add_parser(
        "smoke",
        help="AWS: prove a deployed stack works (register, confirm, bounce, complaint)",
        description="Register SES mailbox simulator addresses through the stack's public URL, "
        "open the success registration's verification link (made with the stack's token key) "
        "and check the confirmation, the owner notification and the bounce's and the "
        "complaint's suppression: one line per check, exit status 1 on any failure. Uses your "
        "AWS credentials (the usual AWS_* variables).",
    )
    smoke.add_argument("--stack", required=True, help="the deployed stack's name")
    smoke.add_argument("--region", default=None, help="AWS region (default: AWS_REGION etc.)")
    smoke.add_argument(
        "--timeout",
        type=float,
        default=120.0,
        help="seconds each check waits for the table to show it (default 120)",
    )
    return smoke


def run(args: argparse.Namespace, ctx: Context) -> int:
    from regflow.ops import smoke

    return smoke.main(
        smoke.Options(stack=args.stack, region=args.region, timeout=args.timeout), ctx.out
    )
