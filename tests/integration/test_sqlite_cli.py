"""`regflow list | export | stats | delete` over a real SQLite database, via main(argv)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from regflow.adapters.sqlite import SQLiteStore
from regflow.cli import main
from regflow.domain import Limit, Registration, Status
from regflow.tokens import new_registration_id

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
OFF = Limit(max_count=0, window_seconds=60)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    store = SQLiteStore(tmp_path / "regflow.db")
    for i, (name, email) in enumerate(
        [
            ("Zoë Ünïcode", "zoe@example.com"),
            ("=HYPERLINK(1)", "eve@example.com"),
            ("Pat Pending", "pat@example.com"),
        ]
    ):
        at = T0 + timedelta(minutes=i)
        r = Registration(
            id=new_registration_id(),
            name=name,
            email=email,
            status=Status.PENDING,
            timestamp=at,
            ttl=int((at + timedelta(hours=24)).timestamp()),
        )
        store.create_pending(r, address_limit=OFF, client_key=None, client_limit=OFF)
        if email != "pat@example.com":
            store.confirm(r.id, r.addr_key, at + timedelta(seconds=30))
    store.close()
    return tmp_path


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


def test_list_masks_unless_full(data_dir: Path) -> None:
    code, out = run("list", "--data-dir", str(data_dir))
    assert code == 0
    assert "z***@example.com" in out and "zoe@example.com" not in out
    assert out.strip().endswith("3 registrations")
    _, full = run("list", "--data-dir", str(data_dir), "--full", "--status", "PENDING")
    assert "pat@example.com" in full and "zoe@example.com" not in full


def test_export_confirmed_as_csv_and_json(data_dir: Path) -> None:
    code, out = run("export", "--data-dir", str(data_dir))
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["email"] for r in rows] == ["zoe@example.com", "eve@example.com"]
    assert rows[0]["name"] == "Zoë Ünïcode"
    assert rows[1]["name"] == "'=HYPERLINK(1)"  # no formula injection into spreadsheets
    _, out = run("export", "--data-dir", str(data_dir), "--format", "json")
    data = json.loads(out)
    assert [d["email"] for d in data] == ["zoe@example.com", "eve@example.com"]
    assert data[0]["confirmed_at"] == "2026-11-26T12:00:30+00:00"


def test_stats_and_gdpr_delete(data_dir: Path) -> None:
    _, out = run("stats", "--data-dir", str(data_dir))
    assert "pending: 1\nconfirmed: 2\n" in out
    assert "outbox_due: 5" in out  # 3 verifications + 2 owner notifications
    code, out = run("delete", "--data-dir", str(data_dir), "--email", "ZOE@example.com")
    assert (code, out) == (0, "deleted 1 registration of Z***@example.com\n")
    _, out = run("stats", "--data-dir", str(data_dir))
    assert "confirmed: 1\n" in out and "outbox_due: 3" in out


def test_missing_database_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("stats", "--data-dir", str(tmp_path / "nowhere"))[0] == 2
    assert "no database at" in capsys.readouterr().err


def test_retry_dead_makes_parked_messages_due_again(data_dir: Path) -> None:
    store = SQLiteStore(data_dir / "regflow.db")
    [first, second, *_] = store.claim_due(now=1e12, limit=10)
    for claimed in (first, second):
        store.park(claimed.message, attempts=1, error="SMTP554", at=None, now=1e12, claimed=claimed)
    assert store.stats().outbox_parked == 2
    store.close()

    code, out = run("stats", "--data-dir", str(data_dir))
    assert "outbox_parked: 2" in out and "waits for `regflow retry-dead`" in out
    code, out = run("retry-dead", "--data-dir", str(data_dir))
    assert code == 0
    assert out.startswith("2 parked messages queued again")

    store = SQLiteStore(data_dir / "regflow.db")
    try:
        due = {c.claim for c in store.claim_due(now=1e12, limit=10)}
        assert {first.claim, second.claim} <= due
    finally:
        store.close()


def test_delete_normalizes_the_address_as_registration_did(tmp_path: Path) -> None:
    from regflow.validation import normalize_email

    store = SQLiteStore(tmp_path / "regflow.db")
    stored = normalize_email("zoe@EXÄMPLE.com")  # what registration stores: zoe@exämple.com
    r = Registration(
        id=new_registration_id(),
        name="Zoë",
        email=stored,
        status=Status.PENDING,
        timestamp=T0,
        ttl=int((T0 + timedelta(hours=24)).timestamp()),
    )
    store.create_pending(r, address_limit=OFF, client_key=None, client_limit=OFF)
    store.close()
    code, out = run("delete", "--data-dir", str(tmp_path), "--email", "ZOE@xn--exmple-cua.com")
    assert code == 0
    assert out.startswith("deleted 1 registration of ")


@pytest.mark.parametrize("command", [["list", "--full"], ["export", "--status", "pending"]])
def test_a_reader_that_stops_early_ends_the_command_quietly(
    tmp_path: Path, command: list[str]
) -> None:
    """`regflow list | head -1`: a closed pipe is an ordinary end (exit 0, nothing on stderr),
    for every command (`list` once ended in a BrokenPipeError traceback; `export` did not)."""
    import subprocess

    from tests.support.server import regflow_command, server_env

    store = SQLiteStore(tmp_path / "regflow.db")
    try:
        for i in range(2000):  # far more output than a pipe's buffer holds
            at = T0 + timedelta(seconds=i)
            r = Registration(
                id=new_registration_id(),
                name=f"Person {i:04d} " + "x" * 40,
                email=f"p{i}@example.com",
                status=Status.PENDING,
                timestamp=at,
                ttl=int((at + timedelta(days=3650)).timestamp()),
            )
            store.create_pending(r, address_limit=OFF, client_key=None, client_limit=OFF)
    finally:
        store.close()
    proc = subprocess.Popen(
        [*regflow_command(), *command, "--data-dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=server_env(),
    )
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline()  # the reader takes one line, then goes away
    proc.stdout.close()
    assert proc.wait(timeout=60) == 0
    assert proc.stderr.read() == b""
