"""`regflow stats`: counts (every status, the suppressed inboxes), the 24 h bounce and
complaint rates, by day (with a chart on a terminal), the confirmation rate, the mail backlog
and each parked message (`regflow.ops.stats`)."""

from __future__ import annotations

import argparse
import dataclasses

from regflow.cli._common import Context, Parents, Subparsers, isatty, open_store


def register(sub: Subparsers, parents: Parents) -> argparse.ArgumentParser:
    stats = sub.add_parser(
        "stats",
        parents=[parents.data, parents.stack],
        help="counts, by day, confirmation rate, mail backlog",
    )
    stats.add_argument("--days", type=int, default=14, help="days shown by day (default 14)")
    stats.add_argument(
        "--chart",
        choices=["auto", "always", "never"],
        default="auto",
        help="bars next to the days (auto: on a terminal)",
    )
    return stats


def run(args: argparse.Namespace, ctx: Context) -> int:
    from regflow.ops import stats as by_day

    out = ctx.out
    store = open_store(args)
    census = by_day.Census(ctx.now())
    try:
        stats = store.stats()
        parked = store.parked()
        suppressed = len(store.suppressions())
        report = by_day.daily(
            census.watch(store.registrations()), today=ctx.now().date(), days=max(1, args.days)
        )
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
    out.write(census.lines(suppressed))
    chart = args.chart == "always" or (args.chart == "auto" and isatty(out))
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
