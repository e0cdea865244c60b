"""`regflow migrate` on SQLite says exactly which steps it applied (a fresh file: all of them);
a database a newer regflow wrote is refused in one line by `migrate`, `serve` (and so its
outbox worker, which runs only in a started server) and the operator's commands."""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path

import pytest

from regflow.adapters.sqlite.schema import SCHEMA_VERSION
from regflow.cli import main
from regflow.local.server import EmbeddedApp, ServeOptions, StartupError
from tests.integration.test_sqlite_store import old_database

ALL = (
    "1 initial, 2 sliding_address_limit, 3 outbox_parking, 4 deliverability, "
    "5 operator_export, 6 events, 7 signup"
)


def migrate(data: Path) -> tuple[int, str]:
    out = io.StringIO()
    return main(["migrate", "--data-dir", str(data)], out=out), out.getvalue()


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    (tmp_path / "data").mkdir()
    return tmp_path / "data"


def test_a_fresh_database_gets_every_step_and_says_so(data: Path) -> None:
    db = data / "regflow.db"
    assert migrate(data) == (
        0,
        f"{db}: applied 7 migration steps: {ALL}; now at schema version {SCHEMA_VERSION}\n",
    )
    assert (db.stat().st_mode & 0o777) == 0o600
    assert migrate(data) == (
        0,
        f"{db}: already up to date (schema version {SCHEMA_VERSION}); nothing applied\n",
    )


def test_an_older_database_gets_the_steps_it_lacks(data: Path) -> None:
    db = data / "regflow.db"
    old_database(db, 2, [])
    assert migrate(data) == (
        0,
        f"{db}: applied 5 migration steps: 3 outbox_parking, 4 deliverability, "
        "5 operator_export, 6 events, 7 signup; now at schema version 7\n",
    )


def test_a_missing_data_directory_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert migrate(tmp_path / "nowhere")[0] == 2
    err = capsys.readouterr().err
    assert err.startswith("regflow: no data directory") and err.count("\n") == 1
    assert not (tmp_path / "nowhere").exists()


def newer(data: Path) -> Path:
    db = data / "regflow.db"
    migrate(data)
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    return db


def test_migrate_refuses_a_database_a_newer_regflow_wrote(
    data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = newer(data)
    capsys.readouterr()
    assert migrate(data) == (2, "")
    err = capsys.readouterr().err
    assert err == (
        f"regflow: {db}: the database is at schema version {SCHEMA_VERSION + 1}, newer than "
        f"this regflow {__import__('regflow').__version__} knows ({SCHEMA_VERSION}): a newer "
        "regflow wrote it; upgrade regflow, or restore the backup taken before the upgrade\n"
    )
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION + 1,)  # untouched
    conn.close()


def test_serve_and_the_commands_refuse_it_in_one_line(
    data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = newer(data)
    with pytest.raises(StartupError, match="newer than this regflow") as refused:
        EmbeddedApp(ServeOptions(data_dir=data), env={})
    assert str(refused.value).startswith(f"{db}: the database is at schema version 8")
    assert "\n" not in str(refused.value)
    capsys.readouterr()
    assert main(["list", "--data-dir", str(data)], out=io.StringIO()) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "newer than this regflow" in err
