"""`regflow suppression list|add|remove|lift`: the suppression list of the embedded database
or of a stack's table (`regflow.ops.suppression`)."""

from __future__ import annotations

import argparse

from regflow.cli._common import Context, Parents, Subparsers


def register(sub: Subparsers, parents: Parents) -> argparse.ArgumentParser:
    """The `suppression` command and its four subcommands."""
    from regflow.domain import SuppressionReason
    from regflow.ops.suppression import since_of

    where = argparse.ArgumentParser(add_help=False, parents=[parents.data])
    where.add_argument(
        "--stack", default=None, help="AWS: the stack whose table to use (default: embedded)"
    )
    where.add_argument("--region", default=None, help="AWS region (default: AWS_REGION etc.)")
    command = sub.add_parser(
        "suppression",
        help="the addresses that get no mail (bounced, complained, added by hand)",
        description="List, add or remove suppressed addresses; embedded, or an AWS stack's "
        "table with --stack.",
    )
    actions = command.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", parents=[where], help="every suppressed inbox")
    listing.add_argument("--full", action="store_true", help="show full addresses")
    add = actions.add_parser("add", parents=[where], help="suppress an address's inbox")
    add.add_argument("email")
    add.add_argument("--note", default="added by the operator", help="kept as its diagnostic")
    remove = actions.add_parser("remove", parents=[where], help="lift a suppression")
    remove.add_argument("email")
    lift = actions.add_parser(
        "lift",
        parents=[where],
        help="undo the suppressions since a time: registrations PENDING again, mail owed",
        description="Lift every suppression since TIME (of the reasons and codes given); "
        "their bounced registrations become PENDING again and their verification mail is "
        "sent again. Without --reason: refused, no-mail-domain, bounce and soft-bounces "
        "(a complaint or an operator's entry only when named).",
    )
    lift.add_argument(
        "--since",
        required=True,
        type=since_of,
        metavar="TIME",
        help="ISO 8601 time (UTC unless it says), or an age: 90m, 6h, 3d",
    )
    lift.add_argument(
        "--reason",
        action="append",
        choices=[r.value for r in SuppressionReason],
        help="only entries of this reason (repeatable)",
    )
    lift.add_argument(
        "--code",
        default=None,
        help="only entries whose diagnostic starts with this (e.g. SMTP554-5.7.1, SMTP550)",
    )
    lift.add_argument("--dry-run", action="store_true", help="show what would be lifted")
    return command


def run(args: argparse.Namespace, ctx: Context) -> int:
    from regflow.ops import suppression

    store, close = suppression.open_list(args)
    try:
        return suppression.run(args, ctx.out, store, clock=ctx.clock)
    finally:
        close()
