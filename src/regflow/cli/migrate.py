"""`regflow migrate`: the database schema created or upgraded (`serve` does it at start-up)."""

from __future__ import annotations

import argparse
import os
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
    from regflow.setup.paths import data_dir

    migrate.add_argument("--data-dir", type=Path, default=data_dir(env))
    return migrate


def run(args: argparse.Namespace, ctx: Context) -> int:
    from regflow.setup import migrate

    return migrate.main(database_url(args.database_url), args.data_dir, ctx.out)
