"""`regflow delete`: every record of an address erased (and, embedded, its copies in the local
mailbox)."""

from __future__ import annotations

import argparse

from regflow.cli._common import Context, Parents, Subparsers, normalized, open_store, plural
from regflow.domain import address_key, mailbox_key, mask_email


def register(sub: Subparsers, parents: Parents) -> argparse.ArgumentParser:
    delete = sub.add_parser(
        "delete", parents=[parents.data, parents.stack], help="erase every record of an address"
    )
    delete.add_argument("--email", required=True)
    return delete


def run(args: argparse.Namespace, ctx: Context) -> int:
    store = open_store(args)
    try:
        # the same normalization as at registration (case, IDN, Unicode forms)
        address = normalized(args.email)
        deleted = store.delete_address(address_key(address), mailbox_key(address))
    finally:
        store.close()
    # the local mailbox keeps copies of what was sent: they name the address too
    from regflow.adapters.mailbox import MailboxMailer
    from regflow.local.server import MAILBOX_DIR

    mails = 0 if args.stack else MailboxMailer(args.data_dir / MAILBOX_DIR).erase(address)
    ctx.out.write(
        f"deleted {plural(deleted, 'registration')} of {mask_email(args.email.strip())}"
        + (f" and {plural(mails, 'message')} in the local mailbox" if mails else "")
        + "\n"
    )
    return 0
