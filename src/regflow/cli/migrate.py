"""`regflow migrate`: the database schema created or upgraded (`serve` does it at start-up)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from regflow.cli._common import Context, Parents, Subparsers, database_url


def register(sub: Subparsers, parents: Parents) -> argparse.ArgumentParser:
    env = os.environ
    migrate = sub.add_parser(
        "migrate", help="create or upgrade the database schema (serve does this at start-up)"
    )
    migrate.add_argument(
        "--database-url",
        default=env.get("DATABASE_URL") or None,
        help="postgresql://... or sqlite:///path (env DATABASE_URL)",
    )
    migrate.add_argument(
        "--data-dir", type=Path, default=Path(env.get("REGFLOW_DATA_DIR") or ".regflow")
    )
    return migrate


def run(args: argparse.Namespace, ctx: Context) -> int:
    from regflow.local.stores import describe, open_store

    url = database_url(args.database_url)
    if url is not None and url.kind == "postgresql":
        import psycopg

        from regflow.adapters.postgres import MigrationError, migrate

        try:
            with psycopg.connect(url.url, autocommit=True) as conn:
                applied = migrate(conn)
        except psycopg.OperationalError:
            print(f"regflow: cannot reach {describe(url, args.data_dir)}", file=sys.stderr)
            return 2
        except MigrationError as exc:
            print(f"regflow: {describe(url, args.data_dir)}: {exc}", file=sys.stderr)
            return 2
        done = ", ".join(str(v) for v in applied) or "none (up to date)"
        ctx.out.write(f"{describe(url, args.data_dir)}: migrations applied: {done}\n")
        return 0
    open_store(url, args.data_dir).close()  # SQLite migrates on open
    ctx.out.write(f"{describe(url, args.data_dir)}: schema up to date\n")
    return 0
