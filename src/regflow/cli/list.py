"""`regflow list`: the registrations, oldest first, masked unless `--full`."""

from __future__ import annotations

import argparse

from regflow.cli._common import Context, Parents, Subparsers, open_store, plural
from regflow.domain import Status, mask_email


def register(sub: Subparsers, parents: Parents) -> argparse.ArgumentParser:
    listing = sub.add_parser(
        "list", parents=[parents.data, parents.stack], help="list registrations (masked)"
    )
    listing.add_argument("--full", action="store_true", help="show full addresses and names")
    listing.add_argument("--status", choices=[s.value for s in Status])
    return listing


def run(args: argparse.Namespace, ctx: Context) -> int:
    store = open_store(args)
    count = 0
    try:
        status = Status(args.status) if args.status else None
        for r in store.registrations(status=status):
            name = r.name if args.full else (r.name[:1] + "***")
            email = r.email if args.full else mask_email(r.email)
            ctx.out.write(f"{r.timestamp.isoformat()}  {r.status.value:<9}  {email:<40}  {name}\n")
            count += 1
    finally:
        store.close()
    ctx.out.write(plural(count, "registration") + "\n")
    return 0
