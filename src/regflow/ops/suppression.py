"""`regflow suppression list|add|remove`: the suppression list (`docs/deliverability.md`) of
the embedded database (`--data-dir`, `DATABASE_URL`) or of an AWS stack's table
(`--stack NAME [--region R]`, the table from the stack's outputs).

An address is listed masked (`j***@example.com`) unless `--full`; `add` and `remove` take the
address as typed and act on its inbox (sub-address and dot variants are one inbox)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from regflow.domain import Suppression, SuppressionReason, mailbox_key, mask_email, utcnow
from regflow.ops.registrations import AwsClientFactory, open_operator_store
from regflow.ports import Clock, SuppressionList


def _normalized(email: str) -> str:
    from regflow.validation import EmailSyntaxError, normalize_email

    try:
        return normalize_email(email.strip())
    except EmailSyntaxError:
        return email.strip()


def open_list(
    args: argparse.Namespace, *, clients: AwsClientFactory | None = None
) -> tuple[SuppressionList, Callable[[], None]]:
    """The list `args` names (`--stack`, else the embedded database) and how to close it.
    `clients(service, region)` makes the AWS clients (`--stack`; default the operator's)."""
    extra = {"clients": clients} if clients is not None else {}
    store = open_operator_store(args.stack, args.region, Path(args.data_dir), **extra)
    return store, store.close


def run(
    args: argparse.Namespace, out: TextIO, store: SuppressionList, *, clock: Clock = utcnow
) -> int:
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
        added = store.suppress(
            Suppression(
                key=mailbox_key(address),
                email=address,
                reason=SuppressionReason.OPERATOR,
                diagnostic=args.note,
                since=clock(),
            )
        )
        out.write(f"{mask_email(address)}: {'suppressed' if added else 'already suppressed'}\n")
        return 0
    lifted = store.lift(mailbox_key(address))
    out.write(f"{mask_email(address)}: {'lifted' if lifted else 'was not suppressed'}\n")
    return 0 if lifted else 1
