"""`regflow reindex` (AWS): registrations confirmed before the upgrade put into the index
`export --since` reads."""

from __future__ import annotations

import argparse

from regflow.cli._common import Context, Parents, Subparsers, open_store, plural


def register(sub: Subparsers, parents: Parents) -> argparse.ArgumentParser:
    reindex = sub.add_parser(
        "reindex",
        help="AWS: put registrations confirmed before upgrading into the index "
        "`export --since` reads (once, after the upgrade)",
    )
    reindex.add_argument("--stack", required=True, help="the deployed stack")
    reindex.add_argument("--region", default=None, help="the stack's AWS region")
    return reindex


def run(args: argparse.Namespace, ctx: Context) -> int:
    store = open_store(args)
    added = store.index_confirmed()
    ctx.out.write(
        f"{plural(added, 'confirmed registration')} added to the ConfirmedRegistrations index\n"
    )
    return 0
