"""The `regflow` command's shape: one module per command, each with its own parser and one way
to run; the clock a command reads "now" from is `main(clock=...)`, so tests fix the time."""

from __future__ import annotations

import argparse
import io
import pkgutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import regflow.cli
from regflow.adapters.sqlite import SQLiteStore
from regflow.cli import COMMANDS, build_parser, main
from regflow.domain import Limit, Registration, Status

# between 00:00 and 03:00 UTC: the hours a "3 hours ago" seed falls on the day before
FIXED = datetime(2031, 3, 4, 1, 30, tzinfo=UTC)
OFF = Limit(max_count=0, window_seconds=60)


def test_every_module_of_the_package_is_a_registered_command() -> None:
    modules = {
        m.name for m in pkgutil.iter_modules(regflow.cli.__path__) if not m.name.startswith("_")
    }
    assert modules == set(COMMANDS)
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    for name in COMMANDS:
        module = __import__(f"regflow.cli.{name}", fromlist=["run"])
        parser = sub.choices[name.replace("_", "-")]
        assert parser.get_default("run") is module.run, name  # one dispatch: the module's run


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    store = SQLiteStore(tmp_path / "regflow.db")
    try:
        for i, at in enumerate([FIXED - timedelta(hours=1), FIXED - timedelta(days=2)]):
            r = Registration(
                id=f"{i:04d}" + "c" * 18,
                name=f"Person {i}",
                email=f"p{i}@example.com",
                status=Status.PENDING,
                timestamp=at,
                ttl=int((at + timedelta(hours=24)).timestamp()),
            )
            store.create_pending(r, address_limit=OFF, client_key=None, client_limit=OFF)
    finally:
        store.close()
    return tmp_path


def run(*argv: str, data_dir: Path) -> str:
    out = io.StringIO()
    assert main([*argv, "--data-dir", str(data_dir)], out=out, clock=lambda: FIXED) == 0
    return out.getvalue()


def test_stats_counts_the_days_up_to_the_clocks_day(data_dir: Path) -> None:
    days = [
        line.split()
        for line in run("stats", "--days", "1", data_dir=data_dir).splitlines()
        if line[:2] == "20"
    ]
    assert days == [["2031-03-04", "1", "0"]]  # the clock's day, not the wall clock's
    out = run("stats", "--days", "3", data_dir=data_dir)
    assert [line.split()[0] for line in out.splitlines() if line[:2] == "20"] == [
        "2031-03-02",
        "2031-03-03",
        "2031-03-04",
    ]
    assert "(0 of 2 registered in the last 3 days" in out  # both in the window


def test_a_suppression_added_by_hand_is_dated_by_the_clock(data_dir: Path) -> None:
    run("suppression", "add", "p0@example.com", data_dir=data_dir)
    listed = run("suppression", "list", data_dir=data_dir)
    assert listed.startswith("2031-03-04T01:30:00+00:00  operator")
