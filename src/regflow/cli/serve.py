"""`regflow serve`: the pages, the API and the mailbox on this machine (`regflow.local.server`)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from regflow.cli._common import Context, Parents, Subparsers


def _port(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {value!r}") from None
    if not 0 < port < 65536:
        raise argparse.ArgumentTypeError(f"port must be 1-65535, got {port}")
    return port


def register(sub: Subparsers, parents: Parents) -> argparse.ArgumentParser:
    env = os.environ
    serve = sub.add_parser("serve", parents=[parents.data], help="serve the pages, API and mailbox")
    serve.add_argument(
        "--host", default=env.get("HOST") or "127.0.0.1", help="env HOST, default 127.0.0.1"
    )
    serve.add_argument("--port", type=_port, default=None, help="env PORT, default 8000")
    serve.add_argument(
        "--web-dir",
        type=Path,
        default=env.get("REGFLOW_WEB_DIR") or None,
        help="the static pages (env REGFLOW_WEB_DIR, default the pages the package carries)",
    )
    return serve


def run(args: argparse.Namespace, ctx: Context) -> int:
    from regflow.local.server import ServeOptions, serve

    port = args.port
    if port is None:  # from the environment: a bad value is named as the variable it is
        try:
            port = _port(os.environ.get("PORT") or "8000")
        except argparse.ArgumentTypeError as exc:
            print(f"regflow: PORT: {exc}", file=sys.stderr)
            return 2
    return serve(
        ServeOptions(host=args.host, port=port, data_dir=args.data_dir, web_dir=args.web_dir)
    )
