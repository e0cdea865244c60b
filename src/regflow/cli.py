"""The `regflow` command: `serve` the embedded pipeline, and look after its database
(`list`, `export`, `stats`, `delete`, `resend`, `suppression`; the same on a deployed stack with
`--stack`); on AWS, `redrive` the mail the sender gave up on."""

from __future__ import annotations

import argparse
import dataclasses
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
    from regflow import __version__
    from regflow.setup.paths import data_dir

    env = os.environ
    parser = argparse.ArgumentParser(
        prog="regflow", description="Email-verified two-step registration, embedded."
    )
    parser.add_argument("--version", action="version", version=f"regflow {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    data = argparse.ArgumentParser(add_help=False)
    data.add_argument(
        "--data-dir",
        type=Path,
        default=data_dir(env),
        help="where the database, secret key and mailbox live (env REGFLOW_DATA_DIR; default "
        "$XDG_DATA_HOME/regflow or ~/.local/share/regflow, a checkout's own .regflow)",
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
        help="the static pages (env REGFLOW_WEB_DIR, default the pages the package carries)",
    )

    # issue 12: the operator's commands also work on a deployed stack
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

    listing = sub.add_parser("list", parents=[data, stack], help="list registrations (masked)")
    listing.add_argument("--full", action="store_true", help="show full addresses and names")
    listing.add_argument("--status", choices=[s.value for s in Status])

    export = sub.add_parser(
        "export", parents=[data, stack], help="registrations (default: confirmed) as a file"
    )
    export.add_argument("--format", choices=["csv", "json", "ndjson"], default="csv")
    export.add_argument(
        "--status",
        type=str.upper,
        choices=[s.value for s in Status],
        default=Status.CONFIRMED.value,
        help="default CONFIRMED",
    )
    export.add_argument(
        "--since",
        default=None,
        metavar="TIMESTAMP",
        help="only those confirmed (pending: registered) at or after this ISO-8601 time "
        "(UTC unless it names an offset)",
    )
    export.add_argument(
        "--output", type=Path, default=None, metavar="FILE", help="default: standard output"
    )

    stats = sub.add_parser(
        "stats", parents=[data, stack], help="counts, by day, confirmation rate, mail backlog"
    )
    stats.add_argument("--days", type=int, default=14, help="days shown by day (default 14)")
    stats.add_argument(
        "--chart",
        choices=["auto", "always", "never"],
        default="auto",
        help="bars next to the days (auto: on a terminal)",
    )

    sub.add_parser(
        "retry-dead",
        parents=[data],
        help="send the dead letters again (mail the mail server refused for good)",
    )

    delete = sub.add_parser(
        "delete", parents=[data, stack], help="erase every record of an address"
    )
    delete.add_argument("--email", required=True)

    resend = sub.add_parser(
        "resend",
        parents=[data, stack],
        help="send a pending registration a fresh verification link (within the limits)",
    )
    resend.add_argument("--email", required=True)

    reindex = sub.add_parser(
        "reindex",
        help="AWS: put registrations confirmed before upgrading into the index "
        "`export --since` reads (once, after the upgrade)",
    )
    reindex.add_argument("--stack", required=True, help="the deployed stack")
    reindex.add_argument("--region", default=None, help="the stack's AWS region")

    migrate = sub.add_parser(
        "migrate", help="create or upgrade the database schema (serve does this at start-up)"
    )
    migrate.add_argument(
        "--database-url",
        default=env.get("DATABASE_URL") or None,
        help="postgresql://... or sqlite:///path (env DATABASE_URL)",
    )
    migrate.add_argument("--data-dir", type=Path, default=data_dir(env))

    migrate_data = sub.add_parser(
        "migrate-data",
        help="copy an embedded installation's SQLite state to PostgreSQL (resumable)",
    )
    migrate_data.add_argument("--from", dest="source", required=True, help="sqlite:///path")
    migrate_data.add_argument("--to", dest="target", required=True, help="postgresql://...")

    from regflow.ops import suppression as suppression_command

    suppression_command.add_parser(sub, data)

    init = sub.add_parser(
        "init",
        help="write a starter configuration for one box (environment file with a fresh key, "
        "systemd unit); never overwrites a file",
    )
    init.add_argument("directory", type=Path, metavar="DIR", help="where to write them")

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
    from regflow.setup import migrate

    return migrate.main(_database_url(args.database_url), args.data_dir, out)


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
    }


def _open(args: argparse.Namespace) -> Any:
    """The store the command works on: a deployed stack's table (`--stack`) or the embedded
    database (`DATABASE_URL`, default the SQLite file in `--data-dir`)."""
    if getattr(args, "stack", None):
        from regflow.ops.registrations import open_stack_store

        return open_stack_store(args.stack, args.region)
    return _open_store(args.data_dir)


def _cmd_list(args: argparse.Namespace, out: TextIO) -> int:
    store = _open(args)
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


def _cmd_export(args: argparse.Namespace, out: TextIO) -> int:
    from regflow.ops import export

    try:
        since = export.parse_since(args.since) if args.since else None
    except ValueError as exc:
        print(f"regflow export: --since: {exc}", file=sys.stderr)
        return 2
    store = _open(args)
    # progress on a terminal, unless the export itself is being written to that terminal
    progress = export.Progress()
    progress.on = progress.on and (args.output is not None or not _isatty(out))
    try:
        rows = store.registrations_since(Status(args.status), since)
        export.export(rows, fmt=args.format, out=out, output=args.output, progress=progress)
    except BrokenPipeError:  # `regflow export | head`: the reader has what it wanted
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # no second error when Python flushes stdout
        return 0
    finally:
        store.close()
    return 0


def _cmd_stats(args: argparse.Namespace, out: TextIO) -> int:
    from regflow.ops import stats as by_day

    store = _open(args)
    try:
        stats = store.stats()
        parked = store.parked()
        report = by_day.daily(store.registrations(), today=_now().date(), days=max(1, args.days))
    finally:
        store.close()
    on_aws = bool(args.stack)
    for key, value in dataclasses.asdict(stats).items():
        if key == "outbox_due" and on_aws:  # fresh mail waits in the table's stream
            out.write(f"{key}: in the stream (MailSender's iterator age shows its delay)\n")
            continue
        out.write(f"{key}: {value}\n")
    owed = "in the stream" if on_aws else str(stats.outbox_due)
    out.write(f"mail_backlog: {owed} owed, {stats.outbox_parked} parked\n")
    chart = args.chart == "always" or (args.chart == "auto" and _isatty(out))
    out.write(by_day.render(report, chart=chart))
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
    store = _open(args)
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

    mails = 0 if args.stack else MailboxMailer(args.data_dir / MAILBOX_DIR).erase(address)
    out.write(
        f"deleted {deleted} registration{'s' if deleted != 1 else ''} of "
        f"{mask_email(args.email.strip())}"
        + (f" and {mails} message{'s' if mails != 1 else ''} in the local mailbox" if mails else "")
        + "\n"
    )
    return 0


def _normalized(email: str) -> str:
    from regflow.validation import EmailSyntaxError, normalize_email

    try:
        return normalize_email(email.strip())
    except EmailSyntaxError:
        return email.strip()


def _cmd_resend(args: argparse.Namespace, out: TextIO) -> int:
    from regflow.ops.registrations import ResendResult, resend, rules_from, stack_rules

    rules = stack_rules(args.stack, args.region) if args.stack else rules_from(os.environ)
    address = _normalized(args.email)
    store = _open(args)
    try:
        done = resend(store, rules, address)
    finally:
        store.close()
    masked = mask_email(address)
    answers = {
        ResendResult.SENT: f"sent: a fresh verification link to {masked} (valid "
        f"{rules.token_ttl_hours} hours; earlier links stay valid until they expire)",
        ResendResult.LIMITED: f"limited: {masked} had as many links as the per-address limit "
        f"allows (one a {rules.address_min_interval_seconds} s, "
        f"{rules.address_limit_per_day} a day); nothing sent, try later",
        ResendResult.CONFIRMED: f"confirmed: {masked} is confirmed already; nothing sent",
        ResendResult.UNKNOWN: f"unknown: no pending registration of {masked}; nothing sent",
        ResendResult.REFUSED: f"refused: the rules no longer accept {masked} (a blocked "
        "domain?); nothing sent",
    }
    out.write(answers[done.result] + "\n")
    if done.result is ResendResult.SENT and not args.stack:
        out.write("a running `regflow serve` sends it now, or the next one on start\n")
    return 0 if done.result is ResendResult.SENT else 1


def _cmd_reindex(args: argparse.Namespace, out: TextIO) -> int:
    store = _open(args)
    added = store.index_confirmed()
    out.write(
        f"{added} confirmed registration{'s' if added != 1 else ''} added to the "
        "ConfirmedRegistrations index\n"
    )
    return 0


def _now() -> Any:
    from regflow.domain import utcnow

    return utcnow()


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


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
    if args.command == "init":
        from regflow.setup import init

        return init.main(args.directory, out)
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
    if args.command == "suppression":
        from regflow.ops import suppression as suppression_command
        from regflow.ops.stack import StackError

        try:
            return suppression_command.main(args, out)
        except StackError as exc:
            print(f"regflow: {exc}", file=sys.stderr)
            return 2
        except FileNotFoundError as exc:
            print(f"regflow: {exc}", file=sys.stderr)
            return 2
    commands = {
        "list": _cmd_list,
        "export": _cmd_export,
        "stats": _cmd_stats,
        "retry-dead": _cmd_retry_dead,
        "delete": _cmd_delete,
        "resend": _cmd_resend,
        "reindex": _cmd_reindex,
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
    except LookupError as exc:  # a stack without the output a command needs
        print(f"regflow: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # AWS (--stack): no credentials, no such stack, access denied
        from regflow.ops.registrations import aws_error

        message = aws_error(exc)
        if message is None:
            raise
        print(f"regflow: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
