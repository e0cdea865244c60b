"""What the commands share: the context they run in (output, clock), the options several take
(`--data-dir`, `--stack`/`--region`), and opening the store they work on."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO, TypeAlias

from regflow.ports import Clock


@dataclass(frozen=True)
class Context:
    """What a command gets besides its arguments: where it writes and what time it is (the one
    place a command reads "now", so tests can fix it)."""

    out: TextIO
    clock: Clock

    def now(self) -> datetime:
        return self.clock()


@dataclass(frozen=True)
class Parents:
    """The option groups several commands share (argparse parents)."""

    data: argparse.ArgumentParser  # --data-dir
    stack: argparse.ArgumentParser  # --stack, --region


Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"  # add_subparsers()
Run = Callable[[argparse.Namespace, Context], int]


def parents() -> Parents:
    data = argparse.ArgumentParser(add_help=False)
    from regflow.setup.paths import data_dir

    data.add_argument(
        "--data-dir",
        type=Path,
        default=data_dir(os.environ),
        help="where the database, secret key and mailbox live (env REGFLOW_DATA_DIR; default "
        "$XDG_DATA_HOME/regflow or ~/.local/share/regflow, a checkout's own .regflow)",
    )
    # the operator's commands also work on a deployed stack
    stack = argparse.ArgumentParser(add_help=False)
    stack.add_argument(
        "--stack",
        default=None,
        help="work on this deployed AWS stack's table (your AWS credentials) instead of the "
        "embedded database",
    )
    stack.add_argument(
        "--region", default=None, help="the stack's AWS region (default: AWS_REGION etc.)"
    )
    return Parents(data=data, stack=stack)


def database_url(raw: str | None) -> Any:
    """`DATABASE_URL` (or a flag's value) parsed; None when empty."""
    from regflow.config import parse_database_url

    return parse_database_url(raw) if raw and raw.strip() else None


def open_store(args: argparse.Namespace) -> Any:
    """The store the command works on: a deployed stack's table (`--stack`) or the embedded
    database (`DATABASE_URL`, default the SQLite file in `--data-dir`)."""
    from regflow.ops.registrations import open_operator_store

    stack = getattr(args, "stack", None)
    return open_operator_store(
        stack, getattr(args, "region", None), getattr(args, "data_dir", None) or Path()
    )


def normalized(email: str) -> str:
    """An address as registration normalizes it (case, IDN, Unicode forms), else as typed."""
    from regflow.validation import EmailSyntaxError, normalize_email

    try:
        return normalize_email(email.strip())
    except EmailSyntaxError:
        return email.strip()


def isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'s' if count != 1 else ''}"
