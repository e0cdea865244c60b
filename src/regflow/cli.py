"""The `regflow` command: `serve` the embedded pipeline, and look after its database
(`list`, `export`, `stats`, `delete`); on AWS, `redrive` the mail the sender gave up on."""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, TextIO

from regflow.domain import Registration, Status, address_key, mailbox_key, mask_email
from regflow.ports import OperatorQueries, Outbox


def _port(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {value!r}") from None
    if not 0 < port < 65536:
        raise argparse.ArgumentTypeError(f"port must be 1-65535, got {port}")
    return port


def build_parser() -> argparse.ArgumentParser:
    env = os.environ
    parser = argparse.ArgumentParser(
        prog="regflow", description="Email-verified two-step registration, embedded."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    data = argparse.ArgumentParser(add_help=False)
    data.add_argument(
        "--data-dir",
        type=Path,
        default=Path(env.get("REGFLOW_DATA_DIR") or ".regflow"),
        help="where the database, secret key and mailbox live "
        "(env REGFLOW_DATA_DIR, default ./.regflow)",
    )

    serve = sub.add_parser("serve", parents=[data], help="serve the pages, API and mailbox")
    serve.add_argument(
        "--host", default=env.get("HOST") or "127.0.0.1", help="env HOST, default 127.0.0.1"
    )
    serve.add_argument("--port", type=_port, default=None, help="env PORT, default 8000")
    serve.add_argument(
        "--web-dir",
        type=Path,
        default=env.get("REGFLOW_WEB_DIR") or None,
        help="the static pages (env REGFLOW_WEB_DIR, default the repository's web/)",
    )

    listing = sub.add_parser("list", parents=[data], help="list registrations (masked)")
    listing.add_argument("--full", action="store_true", help="show full addresses and names")
    listing.add_argument("--status", choices=[s.value for s in Status])

    export = sub.add_parser("export", parents=[data], help="confirmed registrations to stdout")
    export.add_argument("--format", choices=["csv", "json"], default="csv")

    sub.add_parser("stats", parents=[data], help="counts, outbox backlog and dead letters")

    sub.add_parser(
        "retry-dead",
        parents=[data],
        help="send the dead letters again (mail the mail server refused for good)",
    )

    delete = sub.add_parser("delete", parents=[data], help="erase every record of an address")
    delete.add_argument("--email", required=True)

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

    migrate_data = sub.add_parser(
        "migrate-data",
        help="copy an embedded installation's SQLite state to PostgreSQL (resumable)",
    )
    migrate_data.add_argument("--from", dest="source", required=True, help="sqlite:///path")
    migrate_data.add_argument("--to", dest="target", required=True, help="postgresql://...")

    redrive = sub.add_parser(
        "redrive",
        help="AWS: send the mail in the mail sender's dead-letter queue again",
        description="Read the mail sender's dead-letter queue, read each failed batch back from "
        "the table's stream (kept 24 hours) and deliver its mail; a message is deleted once "
        "all of its mail is delivered. Uses your AWS credentials (the usual AWS_* variables).",
    )
    where = redrive.add_mutually_exclusive_group(required=True)
    where.add_argument("--queue-url", help="the dead-letter queue's URL")
    where.add_argument("--stack", help="read the queue URL from this stack's DeadLetterQueueUrl")
    redrive.add_argument("--region", default=None, help="AWS region (default: AWS_REGION etc.)")
    redrive.add_argument(
        "--function",
        default=None,
        help="the mail sender function whose settings are used (default: the stack's "
        "MailSenderFunction output)",
    )
    redrive.add_argument(
        "--settings-from-env",
        action="store_true",
        help="take TABLE_NAME, SENDER_EMAIL, ... from this environment, not from --function",
    )
    redrive.add_argument("--dry-run", action="store_true", help="list what would be sent")
    redrive.add_argument("--max-messages", type=int, default=1000, help="default 1000")
    redrive.add_argument(
        "--wait-seconds", type=int, default=1, help="SQS long-poll wait per receive (default 1)"
    )
    return parser


class _OperatorStore(OperatorQueries, Outbox, Protocol):
    """What the operator's commands use of a store: its queries and its outbox."""

    def close(self) -> None: ...


def _database_url(raw: str | None) -> Any:
    from regflow.config import parse_database_url

    return parse_database_url(raw) if raw and raw.strip() else None


def _open_store(data_dir: Path) -> _OperatorStore:
    """The store `DATABASE_URL` names (default: the SQLite file in `data_dir`)."""
    from regflow.local.stores import open_store

    url = _database_url(os.environ.get("DATABASE_URL"))
    return open_store(url, data_dir, migrate=False, must_exist=True)


def _cmd_migrate(args: argparse.Namespace, out: TextIO) -> int:
    from regflow.local.stores import describe, open_store

    url = _database_url(args.database_url)
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
        out.write(f"{describe(url, args.data_dir)}: migrations applied: {done}\n")
        return 0
    open_store(url, args.data_dir).close()  # SQLite migrates on open
    out.write(f"{describe(url, args.data_dir)}: schema up to date\n")
    return 0


def _cmd_migrate_data(args: argparse.Namespace, out: TextIO) -> int:
    from regflow.domain import ConfigError

    source, target = _database_url(args.source), _database_url(args.target)
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
        return transfer.main(source.path, target.url, out)
    except psycopg.OperationalError:
        print(f"regflow: cannot reach {describe(target, Path())}", file=sys.stderr)
        return 2


def _row(r: Registration, full: bool) -> dict[str, Any]:
    return {
        "id": r.id,
        "name": r.name if full else (r.name[:1] + "***"),
        "email": r.email if full else mask_email(r.email),
        "status": r.status.value,
        "language": r.language,
        "timestamp": r.timestamp.isoformat(),
        "confirmed_at": r.confirmed_at.isoformat() if r.confirmed_at else "",
        **_consent_columns(r),
    }


# The proof of consent (issue 14): sign-up at `timestamp`, confirmation at `confirmed_at`.
CONSENT_FIELDS = [
    "signup_ip",
    "signup_user_agent",
    "signup_consent_version",
    "confirm_ip",
    "confirm_user_agent",
    "confirm_consent_version",
]


def _consent_columns(r: Registration) -> dict[str, str]:
    out: dict[str, str] = {}
    for when, consent in (("signup", r.signup_consent), ("confirm", r.confirm_consent)):
        out[f"{when}_ip"] = (consent.ip if consent else None) or ""
        out[f"{when}_user_agent"] = (consent.user_agent if consent else None) or ""
        out[f"{when}_consent_version"] = (consent.text_version if consent else None) or ""
    return out


def _cmd_list(args: argparse.Namespace, out: TextIO) -> int:
    store = _open_store(args.data_dir)
    count = 0
    try:
        status = Status(args.status) if args.status else None
        for r in store.registrations(status=status):
            row = _row(r, args.full)
            out.write(
                f"{row['timestamp']}  {row['status']:<9}  {row['email']:<40}  {row['name']}\n"
            )
            count += 1
    finally:
        store.close()
    out.write(f"{count} registration{'s' if count != 1 else ''}\n")
    return 0


# typed by visitors (a user agent is whatever the client sent)
_FREE_TEXT = frozenset({"name", "email", "signup_user_agent", "confirm_user_agent"})
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _cmd_export(args: argparse.Namespace, out: TextIO) -> int:
    store = _open_store(args.data_dir)
    fields = ["id", "name", "email", "language", "timestamp", "confirmed_at", *CONSENT_FIELDS]
    try:
        rows = (_row(r, True) for r in store.registrations(status=Status.CONFIRMED))
        if args.format == "json":  # streamed: one registration in memory at a time
            out.write("[")
            for i, r in enumerate(rows):
                out.write(("," if i else "") + "\n  ")
                out.write(json.dumps({k: r[k] for k in fields}, ensure_ascii=False))
            out.write("\n]\n")
        else:
            writer = csv.DictWriter(
                out, fieldnames=fields, extrasaction="ignore", lineterminator="\n"
            )
            writer.writeheader()
            for r in rows:
                # keep spreadsheet formulas out of the free-text cells; ids (about 1 in 64
                # starts with "-") and timestamps stay exact
                writer.writerow(
                    {
                        k: (
                            "'" + v
                            if k in _FREE_TEXT and isinstance(v, str) and v[:1] in _FORMULA
                            else v
                        )
                        for k, v in r.items()
                    }
                )
    finally:
        store.close()
    return 0


def _cmd_stats(args: argparse.Namespace, out: TextIO) -> int:
    store = _open_store(args.data_dir)
    try:
        stats = store.stats()
        parked = store.parked()
    finally:
        store.close()
    for key, value in dataclasses.asdict(stats).items():
        out.write(f"{key}: {value}\n")
    for p in parked:
        when = (
            "retried automatically"
            if p.next_attempt_at is not None
            else "waits for `regflow retry-dead`"
        )
        out.write(
            f"parked: {p.message.kind.value} for {p.message.registration.id} after "
            f"{p.attempts} attempts ({p.last_error}); {when}\n"
        )
    return 0


def _cmd_retry_dead(args: argparse.Namespace, out: TextIO) -> int:
    store = _open_store(args.data_dir)
    try:
        count = store.requeue_parked(time.time())
    finally:
        store.close()
    out.write(
        f"{count} parked message{'s' if count != 1 else ''} queued again; a running "
        "`regflow serve` sends them now, or the next one on start\n"
    )
    return 0


def _cmd_delete(args: argparse.Namespace, out: TextIO) -> int:
    store = _open_store(args.data_dir)
    try:
        # the same normalization as at registration (case, IDN, Unicode forms)
        from regflow.validation import EmailSyntaxError, normalize_email

        try:
            address = normalize_email(args.email.strip())
        except EmailSyntaxError:
            address = args.email.strip()
        deleted = store.delete_address(address_key(address), mailbox_key(address))
    finally:
        store.close()
    # the local mailbox keeps copies of what was sent: they name the address too
    from regflow.adapters.mailbox import MailboxMailer
    from regflow.local.server import MAILBOX_DIR

    mails = MailboxMailer(args.data_dir / MAILBOX_DIR).erase(address)
    out.write(
        f"deleted {deleted} registration{'s' if deleted != 1 else ''} of "
        f"{mask_email(args.email.strip())}"
        + (f" and {mails} message{'s' if mails != 1 else ''} in the local mailbox" if mails else "")
        + "\n"
    )
    return 0


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    args = build_parser().parse_args(argv)
    out = out or sys.stdout
    if args.command == "serve":
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
    if args.command == "redrive":
        from regflow.ops import redrive

        return redrive.main(
            redrive.Options(
                queue_url=args.queue_url,
                stack=args.stack,
                region=args.region,
                function=args.function,
                settings_from_env=args.settings_from_env,
                dry_run=args.dry_run,
                wait_seconds=args.wait_seconds,
                max_messages=args.max_messages,
            ),
            out,
        )
    commands = {
        "list": _cmd_list,
        "export": _cmd_export,
        "stats": _cmd_stats,
        "retry-dead": _cmd_retry_dead,
        "delete": _cmd_delete,
        "migrate": _cmd_migrate,
        "migrate-data": _cmd_migrate_data,
    }
    from regflow.domain import ConfigError, StoreUnavailable
    from regflow.local.stores import StoreOpenError

    try:
        return commands[args.command](args, out)
    except (FileNotFoundError, ConfigError, StoreOpenError) as exc:
        print(f"regflow: {exc}", file=sys.stderr)
        return 2
    except StoreUnavailable:
        print("regflow: the database is unavailable; try again", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
