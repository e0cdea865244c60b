"""`regflow suppression list|add|remove|lift`: the suppression list (`docs/deliverability.md`)
of the embedded database (`--data-dir`, `DATABASE_URL`) or of an AWS stack's table
(`--stack NAME [--region R]`, the table from the stack's outputs).

An address is listed masked (`j***@example.com`) unless `--full`; `add` and `remove` take the
address as typed and act on its inbox (sub-address and dot variants are one inbox). `lift
--since TIME` undoes a mistake in one command: every entry suppressed since then (of the
reasons and codes named) comes off the list, its bounced registrations are PENDING again and
their verification mail is owed again (`SuppressionList.restore`)."""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol, TextIO, cast

from regflow.domain import (
    Status,
    Suppression,
    SuppressionReason,
    address_key,
    mailbox_key,
    mask_email,
    utcnow,
)
from regflow.ops.registrations import AwsClientFactory, open_operator_store
from regflow.ports import Clock, ExportQueries, SuppressionList


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


# What `lift` undoes without --reason: the automatic ones (a complaint is a person's word).
LIFTED_BY_DEFAULT = frozenset(
    {
        SuppressionReason.REFUSED,
        SuppressionReason.NO_MAIL_DOMAIN,
        SuppressionReason.BOUNCE,
        SuppressionReason.SOFT_BOUNCES,
    }
)

_AGE = re.compile(r"^(\d+)([mhd])$")


def since_of(text: str) -> datetime:
    """`--since`: an ISO 8601 date or time (naive: UTC), or an age (`90m`, `6h`, `3d`)."""
    text = text.strip()
    age = _AGE.match(text.lower())
    if age is not None:
        seconds = int(age.group(1)) * {"m": 60, "h": 3600, "d": 86400}[age.group(2)]
        return utcnow() - timedelta(seconds=seconds)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a time: {text!r} (say 2026-12-08T09:30, 2026-12-08, 6h or 3d)"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Lifted:
    entry: Suppression
    registrations: int  # bounced registrations PENDING again
    owed: int  # ... whose verification mail is owed again (the unexpired ones)


class LiftStore(SuppressionList, ExportQueries, Protocol):
    pass


def lift_since(
    store: LiftStore,
    since: datetime,
    *,
    reasons: Iterable[SuppressionReason] | None = None,
    code: str | None = None,
    now: datetime | None = None,
    dry_run: bool = False,
) -> list[Lifted]:
    """Undo every suppression since `since` of `reasons` (default `LIFTED_BY_DEFAULT`) whose
    diagnostic starts with `code`: each inbox in one atomic step (`restore`) with the bounced
    registrations of the address it was suppressed for."""
    wanted = frozenset(reasons) if reasons else LIFTED_BY_DEFAULT
    now = now or utcnow()
    done = []
    for entry in store.suppressions():
        if entry.since < since or entry.reason not in wanted:
            continue
        if code is not None and not entry.diagnostic.startswith(code):
            continue
        bounced = [
            r.id
            for r in store.registrations_of(address_key(entry.email))
            if r.status is Status.BOUNCED
        ]
        if dry_run:
            done.append(Lifted(entry, len(bounced), 0))
            continue
        owed = store.restore(entry.key, bounced, now)
        done.append(Lifted(entry, len(bounced), len(owed)))
    return done


def run(
    args: argparse.Namespace, out: TextIO, store: SuppressionList, *, clock: Clock = utcnow
) -> int:
    if args.action == "lift":
        return _lift(args, out, cast(LiftStore, store), clock())
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


def _lift(args: argparse.Namespace, out: TextIO, store: LiftStore, now: datetime) -> int:
    reasons = [SuppressionReason(r) for r in args.reason or ()]
    lifted = lift_since(
        store, args.since, reasons=reasons, code=args.code, now=now, dry_run=args.dry_run
    )
    for item in lifted:
        entry = item.entry
        since = entry.since.isoformat(timespec="seconds")
        shown = entry.email if getattr(args, "full", False) else mask_email(entry.email)
        out.write(f"{since}  {entry.reason.value:<14}  {shown}  {entry.diagnostic}\n")
    registrations = sum(i.registrations for i in lifted)
    if args.dry_run:
        out.write(
            f"{len(lifted)} would be lifted; {registrations} bounced registrations would be"
            " PENDING again"
        )
    else:
        where = (
            "the stack's recovery function sends it within minutes"
            if args.stack
            else "a running server sends it at its next poll"
        )
        out.write(
            f"{len(lifted)} lifted; {registrations} bounced registrations PENDING again,"
            f" {sum(i.owed for i in lifted)} verification mails owed again ({where})"
        )
    out.write("\n")
    return 0
