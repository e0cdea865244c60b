"""`regflow migrate-data`: an embedded installation's SQLite state copied to PostgreSQL
(resumable; `regflow.adapters.postgres.transfer`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from regflow.cli._common import Context, Parents, Subparsers, database_url


def register(sub: Subparsers, parents: Parents) -> argparse.ArgumentParser:
    migrate_data = sub.add_parser(
        "migrate-data",
        help="copy an embedded installation's SQLite state to PostgreSQL (resumable)",
    )
    migrate_data.add_argument("--from", dest="source", required=True, help="sqlite:///path")
    migrate_data.add_argument("--to", dest="target", required=True, help="postgresql://...")
    return migrate_data


def run(args: argparse.Namespace, ctx: Context) -> int:
    from regflow.domain import ConfigError

    source, target = database_url(args.source), database_url(args.target)
    if source is None or source.kind != "sqlite" or source.path is None:
        raise ConfigError("--from must be sqlite:///path")
    if target is None or target.kind != "postgresql":
        raise ConfigError("--to must be postgresql://...")
    if not source.path.is_file():
        raise FileNotFoundError(f"no database at {source.path}")
    import psycopg

    from regflow.adapters.postgres import transfer
    from regflow.local.stores import describe

    try:
        code = transfer.main(source.path, target.url, ctx.out)
    except psycopg.OperationalError:
        print(f"regflow: cannot reach {describe(target, Path())}", file=sys.stderr)
        return 2
    from regflow.local.server import SECRET_FILE

    key = source.path.parent / SECRET_FILE
    if code == 0 and key.is_file():
        # the links already mailed are signed with this key: every server of the new store
        # must have it (never printed: the command names the file)
        ctx.out.write(
            f"mailed links are signed with {key}: keep it in the data directory, or give every"
            f" server TOKEN_SECRET=hex:$(cat {key})\n"
        )
    return code
