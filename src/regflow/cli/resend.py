"""`regflow resend`: a pending registration's fresh verification link, within the per-address
limits (`regflow.ops.registrations.resend`)."""

from __future__ import annotations

import argparse
import os

from regflow.cli._common import Context, Parents, Subparsers, normalized, open_store
from regflow.domain import mask_email


def register(sub: Subparsers, parents: Parents) -> argparse.ArgumentParser:
    resend = sub.add_parser(
        "resend",
        parents=[parents.data, parents.stack],
        help="send a pending registration a fresh verification link (within the limits)",
    )
    resend.add_argument("--email", required=True)
    return resend


def run(args: argparse.Namespace, ctx: Context) -> int:
    from regflow.ops.registrations import ResendResult, resend, rules_from, stack_rules

    rules = stack_rules(args.stack, args.region) if args.stack else rules_from(os.environ)
    address = normalized(args.email)
    store = open_store(args)
    try:
        done = resend(store, rules, address, clock=ctx.clock)
    finally:
        store.close()
    masked = mask_email(address)
    answers = {
        ResendResult.SENT: f"sent: a fresh verification link to {masked} (valid "
        f"{rules.token_ttl_hours} hours; earlier links stay valid until they expire)",
        ResendResult.LIMITED: f"limited: {masked} had as many links as the per-address limit "
        f"allows (one a {rules.address_min_interval_seconds} s, "
        f"{rules.address_limit_per_day} a day); nothing sent, try later",
        ResendResult.CONFIRMED: f"confirmed: {masked} is confirmed already; nothing sent",
        ResendResult.UNKNOWN: f"unknown: no pending registration of {masked}; nothing sent",
        ResendResult.REFUSED: f"refused: the rules no longer accept {masked} (a blocked "
        "domain?); nothing sent",
    }
    ctx.out.write(answers[done.result] + "\n")
    if done.result is ResendResult.SENT and not args.stack:
        ctx.out.write("a running `regflow serve` sends it now, or the next one on start\n")
    return 0 if done.result is ResendResult.SENT else 1
