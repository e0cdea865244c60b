"""`regflow stats`: counts by status and by day, the confirmation rate, the mail backlog, the
suppression count and the last 24 hours' bounce and complaint rates, and on a terminal the
days as a text bar chart (issue 12)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from regflow.domain import Registration, Status

BAR_WIDTH = 40


@dataclass(frozen=True, slots=True)
class Day:
    day: date
    registered: int  # registrations made that day (UTC) still held (pending or confirmed)
    confirmed: int  # registrations confirmed that day (UTC)


@dataclass(frozen=True, slots=True)
class Daily:
    days: list[Day]  # the window, oldest first, every day (zeros included)
    registered: int  # registrations made in the window still held
    confirmed_of_registered: int  # ... of which are confirmed

    @property
    def rate(self) -> float | None:
        """The confirmation rate of the window's registrations (None: none)."""
        return self.confirmed_of_registered / self.registered if self.registered else None


def daily(registrations: Iterable[Registration], *, today: date, days: int) -> Daily:
    """One pass over `registrations` (streamed: only one counter per day is kept)."""
    first = today - timedelta(days=days - 1)
    registered = dict.fromkeys((first + timedelta(days=i) for i in range(days)), 0)
    confirmed = dict(registered)
    made = made_confirmed = 0
    for r in registrations:
        day = _day(r.timestamp)
        if day in registered:
            registered[day] += 1
            made += 1
            made_confirmed += r.status is Status.CONFIRMED
        if r.confirmed_at is not None and _day(r.confirmed_at) in confirmed:
            confirmed[_day(r.confirmed_at)] += 1
    return Daily(
        days=[Day(d, registered[d], confirmed[d]) for d in registered],
        registered=made,
        confirmed_of_registered=made_confirmed,
    )


def _day(moment: datetime) -> date:
    from datetime import UTC

    return moment.astimezone(UTC).date()


def render(report: Daily, *, chart: bool) -> str:
    """The window as lines: numbers always; bars (registered `#`, confirmed `=`) when
    `chart`."""
    rate = "n/a" if report.rate is None else f"{report.rate:.1%}"
    lines = [
        f"confirmation_rate: {rate} ({report.confirmed_of_registered} of {report.registered}"
        f" registered in the last {len(report.days)} days are confirmed)",
        "by day (UTC)  registered  confirmed",
    ]
    top = max((max(d.registered, d.confirmed) for d in report.days), default=0)
    for d in report.days:
        line = f"{d.day.isoformat():<12}  {d.registered:>10}  {d.confirmed:>9}"
        if chart and top:
            indent = " " * (len(line) + 2)  # the confirmed bar under the registered one
            line += f"  {_bar(d.registered, top, '#')}\n{indent}{_bar(d.confirmed, top, '=')}"
        lines.append(line.rstrip())
    return "\n".join(lines) + "\n"


def _bar(value: int, top: int, mark: str) -> str:
    width = round(value * BAR_WIDTH / top)
    return mark * (width or (1 if value else 0))


@dataclass(slots=True)
class Census:
    """Counts every status, and the last 24 hours' registrations, bounced and complained,
    as the registrations stream past (`watch`: one pass shared with `daily`)."""

    now: datetime
    by_status: Counter[Status] = field(default_factory=Counter)
    recent: int = 0  # registrations made in the last 24 hours (still held)
    recent_bounced: int = 0
    recent_complained: int = 0

    def watch(self, registrations: Iterable[Registration]) -> Iterator[Registration]:
        since = self.now - timedelta(hours=24)
        for r in registrations:
            self.by_status[r.status] += 1
            if r.timestamp >= since:
                self.recent += 1
                self.recent_bounced += r.status is Status.BOUNCED
                self.recent_complained += r.status is Status.COMPLAINED
            yield r

    def lines(self, suppressed: int) -> str:
        """`bounced: N`, `complained: N`, `suppressed: N` and the two rates (the statuses
        `Stats` already shows, pending and confirmed, are not repeated)."""
        out = [
            f"{status.value.lower()}: {self.by_status[status]}"
            for status in Status
            if status not in (Status.PENDING, Status.CONFIRMED)
        ]
        out.append(f"suppressed: {suppressed}")
        for name, count in (
            ("bounce", self.recent_bounced),
            ("complaint", self.recent_complained),
        ):
            rate = f"{count / self.recent:.1%}" if self.recent else "n/a"
            out.append(f"{name}_rate_24h: {rate} ({count} of {self.recent} registered in 24 h)")
        return "\n".join(out) + "\n"
