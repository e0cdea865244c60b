"""`regflow retry-dead`: the parked messages of the embedded outbox, queued again."""

from __future__ import annotations

import argparse

from regflow.cli._common import Context, Parents, Subparsers, open_store, plural


def register(sub: Subparsers, parents: Parents) -> argparse.ArgumentParser:
    return sub.add_parser(
        "retry-dead",
        parents=[parents.data],
        help="send the dead letters again (mail the mail server refused for good)",
    )


def run(args: argparse.Namespace, ctx: Context) -> int:
    store = open_store(args)  # embedded (no --stack)
    try:
        count = store.requeue_parked(ctx.now().timestamp())
    finally:
        store.close()
    ctx.out.write(
        f"{plural(count, 'parked message')} queued again; a running "
        "`regflow serve` sends them now, or the next one on start\n"
    )
    return 0
