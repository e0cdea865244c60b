"""`regflow init DIR`: the starter configuration of one box (regflow.setup.init)."""

from __future__ import annotations

import argparse
from pathlib import Path

from regflow.cli._common import Context, Parents, Subparsers


def register(sub: Subparsers, parents: Parents) -> argparse.ArgumentParser:
    init = sub.add_parser(
        "init",
        help="write a starter configuration for one box (environment file with a fresh key, "
        "systemd unit); never overwrites a file",
    )
    init.add_argument("directory", type=Path, metavar="DIR", help="where to write them")
    return init


def run(args: argparse.Namespace, ctx: Context) -> int:
    from regflow.setup import init

    return init.main(args.directory, ctx.out)
