"""docs/upgrading.md promises what `regflow migrate` prints: its example lines are produced
here by the real command (a SQLite file at the version the example starts from, the same file
again, one a newer regflow wrote), and its table of rolling steps is the migration files'
`-- rolling:` lines."""

from __future__ import annotations

import io
import re
import sqlite3
from pathlib import Path

import pytest

from regflow.adapters.postgres.schema import migrations
from regflow.adapters.sqlite.schema import SCHEMA_VERSION
from regflow.cli import main
from tests.docs.support import page, section, table_rows
from tests.integration.test_sqlite_store import old_database

PAGE = page("upgrading.md")
DOC_DIR = "/var/lib/regflow"


def text_lines() -> list[str]:
    blocks = re.findall(r"```text\n(.*?)```", PAGE, flags=re.S)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip()]


def as_documented(text: str, data: Path) -> str:
    return text.replace(str(data), DOC_DIR)


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    (tmp_path / "data").mkdir()
    return tmp_path / "data"


def test_the_migrate_lines_are_what_migrate_prints(
    data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = text_lines()
    applied = next(line for line in lines if ": applied " in line)
    current = next(line for line in lines if "already up to date" in line)
    refused = next(line for line in lines if line.startswith("regflow: "))
    db = data / "regflow.db"
    old_database(db, 2, [])  # a file as version 2 released it: the page's example
    out = io.StringIO()
    assert main(["migrate", "--data-dir", str(data)], out=out) == 0
    assert as_documented(out.getvalue().strip(), data) == applied
    out = io.StringIO()
    assert main(["migrate", "--data-dir", str(data)], out=out) == 0
    assert as_documented(out.getvalue().strip(), data) == current
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    capsys.readouterr()
    assert main(["migrate", "--data-dir", str(data)], out=io.StringIO()) == 2
    assert as_documented(capsys.readouterr().err.strip(), data) == refused


def test_the_rolling_table_is_the_migration_files() -> None:
    rows = table_rows(
        section(PAGE, "### Several replicas on PostgreSQL: rolling, when every step allows it")
    )
    documented = {row[0]: row[1] for row in rows}
    shipped = {f"{m.version} {m.name}": "yes" if m.rolling else "no" for m in migrations()}
    assert documented == shipped
