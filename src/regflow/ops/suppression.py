"""`regflow suppression list|add|remove`: the suppression list (`docs/deliverability.md`) of
the embedded database (`--data-dir`, `DATABASE_URL`) or of an AWS stack's table
(`--stack NAME [--region R]`, the table from the stack's outputs).

An address is listed masked (`j***@example.com`) unless `--full`; `add` and `remove` take the
address as typed and act on its inbox (sub-address and dot variants are one inbox)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from regflow.domain import Suppression, SuppressionReason, mask_email, utcnow
from regflow.domain.suppression import suppression_key
from regflow.feedback import lift_address, suppress_address
from regflow.ports import SuppressionList


def add_parser(sub: Any, data: argparse.ArgumentParser) -> None:
    """The `suppression` command and its three subcommands."""
    where = argparse.ArgumentParser(add_help=False, parents=[data])
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


def _normalized(email: str) -> str:
    from regflow.validation import EmailSyntaxError, normalize_email

    try:
        return normalize_email(email.strip())
    except EmailSyntaxError:
        return email.strip()


def _boto3_client(service: str, region: str | None) -> Any:
    import boto3.session

    session: Any = boto3.session.Session(region_name=region)
    return session.client(service)


def open_list(
    args: argparse.Namespace, *, clients: Callable[[str, str | None], Any] = _boto3_client
) -> tuple[SuppressionList, Callable[[], None]]:
    """The list `args` names and how to close it. `clients(service, region)` makes the AWS
    clients (`--stack`)."""
    if args.stack:
        from regflow.adapters.dynamodb import DynamoDBStore
        from regflow.ops.stack import table_for_stack

        cloudformation = clients("cloudformation", args.region)
        table = table_for_stack(args.stack, args.region, client=cloudformation)
        return DynamoDBStore(clients("dynamodb", args.region), table), lambda: None
    import os

    from regflow.config import parse_database_url
    from regflow.local.stores import open_store

    raw = os.environ.get("DATABASE_URL")
    url = parse_database_url(raw) if raw and raw.strip() else None
    store = open_store(url, Path(args.data_dir), migrate=False, must_exist=True)
    return store, store.close


def run(args: argparse.Namespace, out: TextIO, store: SuppressionList) -> int:
    if args.action == "list":
        entries = store.suppressions()
        for entry in entries:
            shown = entry.email if args.full else mask_email(entry.email)
            since = entry.since.isoformat(timespec="seconds")
            out.write(f"{since}  {entry.reason.value:<14}  {shown}  {entry.diagnostic}\n")
        out.write(f"{len(entries)} suppressed\n")
        return 0
    address = _normalized(args.email)
    if args.action == "add":
        added = suppress_address(
            store,
            Suppression(
                key=suppression_key(address),
                email=address,
                reason=SuppressionReason.OPERATOR,
                diagnostic=args.note,
                since=utcnow(),
            ),
        )
        out.write(f"{mask_email(address)}: {'suppressed' if added else 'already suppressed'}\n")
        return 0
    lifted = lift_address(store, address)
    out.write(f"{mask_email(address)}: {'lifted' if lifted else 'was not suppressed'}\n")
    return 0 if lifted else 1


def main(args: argparse.Namespace, out: TextIO) -> int:
    store, close = open_list(args)
    try:
        return run(args, out, store)
    finally:
        close()
