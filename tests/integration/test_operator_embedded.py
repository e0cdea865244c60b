"""`regflow export|stats|resend|list|delete` embedded (issue 12), on a real SQLite file and on
the tests' PostgreSQL cluster (`DATABASE_URL`), via main(argv): the same answers as on a stack
(tests/integration/test_operator_stack.py)."""

from __future__ import annotations

import csv
import io
import json
import os
import sqlite3
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from regflow.adapters.sqlite import SQLiteStore
from regflow.cli import main
from regflow.domain import Limit, Registration, Status
from regflow.ops.export import Progress, parse_since
from tests.support.sqlite import version_3_file

NOW = datetime.now(UTC).replace(microsecond=0)
T0 = NOW - timedelta(hours=3)
OFF = Limit(max_count=0, window_seconds=60)


def reg(i: int, at: datetime, email: str | None = None) -> Registration:
    return Registration(
        id=f"{i:04d}" + "e" * 18,
        name=f"=Person {i}" if i == 0 else f"Person {i}",
        email=email or f"p{i}@example.com",
        status=Status.PENDING,
        timestamp=at,
        ttl=int((at + timedelta(hours=24)).timestamp()),
        language="fr" if i % 2 else "en",
    )


@dataclass
class Embedded:
    kind: str
    data_dir: Path
    open: Any  # () -> a store

    def seed(self, *, confirmed: int, pending: int) -> list[Registration]:
        """`confirmed` registrations confirmed a minute apart (in reverse registration order,
        so that confirmation order differs from registration order), then `pending` more."""
        store = self.open()
        made = []
        try:
            for i in range(confirmed + pending):
                r = reg(i, T0 + timedelta(seconds=i))
                store.create_pending(r, address_limit=OFF, client_key=None, client_limit=OFF)
                made.append(r)
            for i in range(confirmed):
                r = made[i]
                store.confirm(r.id, r.addr_key, T0 + timedelta(minutes=confirmed - i))
        finally:
            store.close()
        return made

    def run(self, *argv: str) -> tuple[int, str]:
        out = io.StringIO()
        # the commands' "now" is the seed's: no minute (or midnight) passes between the two
        code = main([*argv, "--data-dir", str(self.data_dir)], out=out, clock=lambda: NOW)
        return code, out.getvalue()


@pytest.fixture(params=["sqlite", "postgresql"])
def embedded(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Embedded]:
    if request.param == "sqlite":
        monkeypatch.delenv("DATABASE_URL", raising=False)
        yield Embedded("sqlite", tmp_path, lambda: SQLiteStore(tmp_path / "regflow.db"))
        return
    from regflow.adapters.postgres import PostgresStore
    from tests.support.postgres import fresh_database

    url = fresh_database(
        request.getfixturevalue("pg_admin_url"), "ops_" + request.node.name[5:40].lower()
    )
    monkeypatch.setenv("DATABASE_URL", url)
    yield Embedded("postgresql", tmp_path, lambda: PostgresStore(url))


def test_export_since_is_inclusive_ordered_by_confirmation_and_exact(
    embedded: Embedded,
) -> None:
    made = embedded.seed(confirmed=6, pending=2)
    # confirmed: made[5] first (T0+1min) ... made[0] last (T0+6min)
    since = T0 + timedelta(minutes=3)
    code, out = embedded.run("export", "--format", "ndjson", "--since", since.isoformat())
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["id"] for r in rows] == [made[i].id for i in (3, 2, 1, 0)]  # exactly the newer
    assert rows[0]["confirmed_at"] == since.isoformat()  # inclusive
    assert rows[-1]["name"] == "=Person 0"  # JSON is exact; only CSV guards formulas
    # a moment just after a confirmation leaves it out; a later one leaves everything out
    code, out = embedded.run(
        "export", "--format", "json", "--since", (since + timedelta(microseconds=1)).isoformat()
    )
    assert [d["id"] for d in json.loads(out)] == [made[i].id for i in (2, 1, 0)]
    code, out = embedded.run("export", "--format", "json", "--since", NOW.isoformat())
    assert (code, json.loads(out)) == (0, [])


def test_export_pending_csv_to_a_file(embedded: Embedded, tmp_path: Path) -> None:
    made = embedded.seed(confirmed=1, pending=3)
    target = tmp_path / "out" / "pending.csv"
    target.parent.mkdir()
    code, out = embedded.run("export", "--status", "pending", "--output", str(target))
    assert (code, out) == (0, "")
    assert not target.with_name("pending.csv.part").exists()
    rows = list(csv.DictReader(target.open(encoding="utf-8")))
    assert [r["id"] for r in rows] == [r.id for r in made[1:]]  # registration order
    assert {r["status"] for r in rows} == {"PENDING"} and rows[0]["confirmed_at"] == ""
    since = (T0 + timedelta(seconds=2)).isoformat()
    code, out = embedded.run("export", "--status", "PENDING", "--since", since)
    assert [line.split(",")[0] for line in out.splitlines()[1:]] == [made[2].id, made[3].id]
    code, out = embedded.run("export")  # the default: confirmed, CSV
    [only] = csv.DictReader(io.StringIO(out))
    assert only["name"] == "'=Person 0"


def test_stats_counts_days_rate_and_backlog(embedded: Embedded) -> None:
    embedded.seed(confirmed=2, pending=1)
    code, out = embedded.run("stats", "--days", "3")
    assert code == 0
    assert "pending: 1\nconfirmed: 2\n" in out
    assert "mail_backlog: 5 owed, 0 parked\n" in out  # 3 verifications, 2 owner notices
    assert "confirmation_rate: 66.7% (2 of 3 registered in the last 3 days" in out
    days = [line.split() for line in out.splitlines() if line[:2] == "20"]
    assert [d[0] for d in days] == [(NOW.date() - timedelta(days=n)).isoformat() for n in (2, 1, 0)]
    assert sum(int(d[1]) for d in days) == 3 and sum(int(d[2]) for d in days) == 2
    assert "#" not in out  # not a terminal: numbers only
    # the window that holds the seeded day: 3 hours back is yesterday between 00:00 and 03:00
    window = (NOW.date() - T0.date()).days + 1
    _, charted = embedded.run("stats", "--days", str(window), "--chart", "always")
    assert "#" * 40 in charted or "=" * 40 in charted  # the busiest bar is full width


def test_resend_sends_within_the_limits_and_says_why_not(
    embedded: Embedded, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = embedded.seed(confirmed=1, pending=1)
    monkeypatch.setenv("ADDRESS_MIN_INTERVAL_SECONDS", "0")
    monkeypatch.setenv("ADDRESS_LIMIT_PER_DAY", "2")
    code, out = embedded.run("resend", "--email", "P1@example.com")
    assert code == 0 and out.startswith("sent: a fresh verification link to P***@example.com")
    store = embedded.open()
    try:
        fresh = [r for r in store.registrations_of(made[1].addr_key) if r.id != made[1].id]
        assert [(r.status, r.name, r.language) for r in fresh] == [
            (Status.PENDING, "Person 1", "fr")
        ]
        owed = [c.message for c in store.claim_due(now=NOW.timestamp() + 60, limit=50)]
        assert any(m.registration.id == fresh[0].id for m in owed)  # its link is owed
    finally:
        store.close()
    assert embedded.run("resend", "--email", "p1@example.com")[1].startswith("sent")
    code, out = embedded.run("resend", "--email", "p1@example.com")  # 2 a day: the third not
    assert (code, out.split(":")[0]) == (1, "limited")
    code, out = embedded.run("resend", "--email", "p0@example.com")
    assert (code, out) == (1, "confirmed: p***@example.com is confirmed already; nothing sent\n")
    assert embedded.run("resend", "--email", "x@example.com")[1].startswith("unknown: no pending")
    monkeypatch.setenv("BLOCKED_EMAIL_DOMAINS", "example.com")  # blocked since they registered
    code, out = embedded.run("resend", "--email", "p1@example.com")
    assert (code, out.split(":")[0]) == (1, "refused")


def test_the_confirmed_since_query_uses_the_partial_index(tmp_path: Path) -> None:
    SQLiteStore(tmp_path / "regflow.db").close()
    from regflow.adapters.sql.queries import SINCE

    db = sqlite3.connect(tmp_path / "regflow.db")
    try:
        plan = " ".join(
            str(row[-1])
            for row in db.execute("EXPLAIN QUERY PLAN " + SINCE[Status.CONFIRMED], ("", "", 9))
        )
    finally:
        db.close()
    assert "registrations_confirmed" in plan and "TEMP B-TREE" not in plan, plan


def test_progress_only_on_a_terminal() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    quiet, tty = io.StringIO(), Terminal()
    for stream in (quiet, tty):
        progress = Progress(stream, every=0)
        progress.update(500)
        progress.done(1000)
    assert quiet.getvalue() == ""
    assert tty.getvalue() == "\rexported 500 registrations\rexported 1000 registrations\n"


def test_since_accepts_dates_times_and_offsets(capsys: pytest.CaptureFixture[str]) -> None:
    assert parse_since("2026-11-29") == datetime(2026, 11, 29, tzinfo=UTC)
    assert parse_since("2026-11-29T09:00:00+01:00") == datetime(2026, 11, 29, 8, tzinfo=UTC)
    assert parse_since("2026-11-29T08:00:00Z") == datetime(2026, 11, 29, 8, tzinfo=UTC)
    assert main(["export", "--since", "yesterday"], out=io.StringIO()) == 2
    assert "--since: not an ISO-8601 date or time" in capsys.readouterr().err


def test_postgresql_serves_confirmed_since_from_the_partial_index(pg_admin_url: str) -> None:
    import psycopg

    from regflow.adapters.postgres import PostgresStore
    from regflow.adapters.sql.queries import SINCE
    from tests.support.postgres import fresh_database

    url = fresh_database(pg_admin_url, "ops_explain")
    PostgresStore(url).close()  # migrated
    with psycopg.connect(url) as conn:
        conn.execute("SET enable_seqscan = off")  # an empty table: ask which index it would use
        plan = " ".join(
            str(row[0])
            for row in conn.execute(
                "EXPLAIN " + SINCE[Status.CONFIRMED].replace("?", "%s"),
                (datetime(2026, 1, 1, tzinfo=UTC), "", 9),
            )
        )
    assert "registrations_confirmed" in plan and "Sort" not in plan, plan


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_export_shows_progress_on_the_terminal_but_never_into_the_export(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    Embedded("sqlite", tmp_path, lambda: SQLiteStore(tmp_path / "regflow.db")).seed(
        confirmed=2, pending=0
    )
    err = Terminal()
    monkeypatch.setattr("sys.stderr", err)
    screen = Terminal()  # the export itself goes to the terminal: no progress over it
    assert main(["export", "--data-dir", str(tmp_path)], out=screen) == 0
    assert err.getvalue() == "" and len(screen.getvalue().splitlines()) == 3
    target = tmp_path / "x.csv"
    assert main(["export", "--data-dir", str(tmp_path), "--output", str(target)], out=screen) == 0
    assert err.getvalue().endswith("\rexported 2 registrations\n")
    quiet = io.StringIO()  # stderr not a terminal (a pipe, cron, CI): nothing
    monkeypatch.setattr("sys.stderr", quiet)
    assert main(["export", "--data-dir", str(tmp_path), "--output", str(target)], out=screen) == 0
    assert quiet.getvalue() == ""


def test_export_output_is_private_and_cannot_be_redirected(
    embedded: Embedded, tmp_path: Path
) -> None:
    """Issue 27: the export (names, addresses, IPs, user agents) was written 0644 through a
    predictable `FILE.part` opened without O_EXCL/O_NOFOLLOW: a link planted there by another
    user made the export overwrite (or feed) a file of theirs or the owner's."""
    embedded.seed(confirmed=2, pending=0)
    folder = tmp_path / "exports"
    folder.mkdir()
    target = folder / "people.csv"
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me", "utf-8")
    (folder / "people.csv.part").symlink_to(victim)  # the old predictable name
    old = os.umask(0)
    try:
        code, out = embedded.run("export", "--output", str(target))
    finally:
        os.umask(old)
    assert (code, out) == (0, "")
    assert victim.read_text("utf-8") == "keep me"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert not target.is_symlink()
    assert len(list(csv.DictReader(target.open(encoding="utf-8")))) == 2
    assert sorted(p.name for p in folder.iterdir()) == ["people.csv", "people.csv.part"]
    # a link planted at the output itself is replaced, never written through
    target.unlink()
    target.symlink_to(victim)
    assert embedded.run("export", "--output", str(target))[0] == 0
    assert victim.read_text("utf-8") == "keep me" and not target.is_symlink()
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_a_version_3_file_gets_the_index_on_open(tmp_path: Path) -> None:
    path = tmp_path / "regflow.db"
    version_3_file(path)  # without the index
    SQLiteStore(path).close()  # migrates, as `regflow serve` and `regflow migrate` do
    db = sqlite3.connect(path)
    try:
        names = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='index'")}
        assert "registrations_confirmed" in names
        assert db.execute("PRAGMA user_version").fetchone()[0] >= 4
    finally:
        db.close()
