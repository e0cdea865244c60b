"""The `regflow` command: `serve` the embedded pipeline, and look after its database
(`list`, `export`, `stats`, `delete`, `resend`, `suppression`; the same on a deployed stack with
`--stack`); on AWS, `redrive` the mail the sender gave up on and `smoke`-test a deployed stack.

Each command is one module of this package with `register(subparsers, parents)` (its parser)
and `run(args, ctx) -> int` (its work); `COMMANDS` lists them, in the order `--help` shows."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import TextIO

from regflow.cli._common import Context, Run, parents
from regflow.ports import Clock

COMMANDS = (
    "serve",
    "list",
    "export",
    "stats",
    "retry_dead",
    "delete",
    "resend",
    "reindex",
    "migrate",
    "migrate_data",
    "init",
    "suppression",
    "redrive",
    "smoke",
)
"""The command modules (`regflow.cli.<name>`): a new command is one module and one line here."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="regflow", description="Email-verified two-step registration, embedded."
    )
    from regflow import __version__

    parser.add_argument("--version", action="version", version=f"regflow {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    shared = parents()
    for name in COMMANDS:
        module = importlib.import_module(f"{__name__}.{name}")
        command = module.register(sub, shared)
        run: Run = module.run
        command.set_defaults(run=run)
    return parser


def main(
    argv: Sequence[str] | None = None, out: TextIO | None = None, *, clock: Clock | None = None
) -> int:
    """Run one command; its exit status. `clock`: what time it is for the command (default the
    system's, UTC)."""
    args = build_parser().parse_args(argv)
    if clock is None:
        from regflow.domain import utcnow

        clock = utcnow
    ctx = Context(out=out or sys.stdout, clock=clock)
    run: Run = args.run
    return _guarded(run, args, ctx)


def _guarded(run: Run, args: argparse.Namespace, ctx: Context) -> int:
    """`run`, with the errors an operator can fix told as one line (exit status 2), and a reader
    that stopped reading (a closed pipe) an ordinary end, for every command."""
    from regflow.domain import ConfigError, StoreUnavailable
    from regflow.local.stores import StoreOpenError

    try:
        return run(args, ctx)
    except BrokenPipeError:  # `regflow list | head`: the reader has what it wanted
        if ctx.out is sys.stdout:  # no second error when Python flushes stdout at exit
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return 0
    except (FileNotFoundError, ConfigError, StoreOpenError) as exc:
        print(f"regflow: {exc}", file=sys.stderr)
        return 2
    except StoreUnavailable:
        print("regflow: the database is unavailable; try again", file=sys.stderr)
        return 2
    except LookupError as exc:  # a stack without the output a command needs (StackError)
        print(f"regflow: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # AWS (--stack): no credentials, no such stack, access denied
        from regflow.ops.registrations import aws_error

        message = aws_error(exc)
        if message is None:
            raise
        print(f"regflow: {message}", file=sys.stderr)
        return 2
