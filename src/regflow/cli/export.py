"""`regflow export`: registrations (default: the confirmed ones) as CSV, JSON or NDJSON,
streamed (`regflow.ops.export`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from regflow.cli._common import Context, Parents, Subparsers, isatty, open_store
from regflow.domain import Status


def register(sub: Subparsers, parents: Parents) -> argparse.ArgumentParser:
    export = sub.add_parser(
        "export",
        parents=[parents.data, parents.stack],
        help="registrations (default: confirmed) as a file",
    )
    export.add_argument("--format", choices=["csv", "json", "ndjson"], default="csv")
    export.add_argument(
        "--status",
        type=str.upper,
        choices=[s.value for s in Status],
        default=Status.CONFIRMED.value,
        help="default CONFIRMED",
    )
    export.add_argument(
        "--since",
        default=None,
        metavar="TIMESTAMP",
        help="only those confirmed (pending: registered) at or after this ISO-8601 time "
        "(UTC unless it names an offset)",
    )
    export.add_argument(
        "--output", type=Path, default=None, metavar="FILE", help="default: standard output"
    )
    return export


def run(args: argparse.Namespace, ctx: Context) -> int:
    from regflow.ops import export

    try:
        since = export.parse_since(args.since) if args.since else None
    except ValueError as exc:
        print(f"regflow export: --since: {exc}", file=sys.stderr)
        return 2
    store = open_store(args)
    # progress on a terminal, unless the export itself is being written to that terminal
    progress = export.Progress()
    progress.on = progress.on and (args.output is not None or not isatty(ctx.out))
    try:
        rows = store.registrations_since(Status(args.status), since)
        export.export(rows, fmt=args.format, out=ctx.out, output=args.output, progress=progress)
    finally:
        store.close()
    return 0
