"""`regflow migrate`: bring the database to this release's schema and say exactly which steps
that took, on either embedded store (SQLite: `PRAGMA user_version`, the steps of
`adapters/sqlite/schema.py`; PostgreSQL: the numbered files of `adapters/postgres/migrations`).
A database a newer regflow wrote is refused in one line (exit 2), never downgraded."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any, TextIO


def report(where: str, applied: list[int], names: dict[int, str], version: int) -> str:
    """The one line `regflow migrate` prints (docs/upgrading.md quotes it)."""
    if not applied:
        return f"{where}: already up to date (schema version {version}); nothing applied"
    steps = ", ".join(f"{v} {names[v]}" for v in applied)
    noun = "step" if len(applied) == 1 else "steps"
    return (
        f"{where}: applied {len(applied)} migration {noun}: {steps}; "
        f"now at schema version {version}"
    )


def main(url: Any, data_dir: Path, out: TextIO) -> int:
    from regflow.local.stores import describe, sqlite_path

    where = describe(url, data_dir)
    path = sqlite_path(url, data_dir)
    if path is not None:
        from regflow.adapters.sqlite.schema import (
            SCHEMA_VERSION,
            STEPS,
            SchemaTooNew,
            migrate_file,
        )
        from regflow.domain import StoreUnavailable

        if not path.parent.is_dir():
            print(
                f"regflow: no data directory {path.parent} (`regflow serve` creates it, or "
                "name it with --data-dir / REGFLOW_DATA_DIR)",
                file=sys.stderr,
            )
            return 2
        try:
            applied = migrate_file(path, time.time())
        except SchemaTooNew as exc:
            print(f"regflow: {where}: {exc}", file=sys.stderr)
            return 2
        except (StoreUnavailable, OSError):
            print(f"regflow: cannot open the database {where}", file=sys.stderr)
            return 2
        out.write(report(where, applied, STEPS, SCHEMA_VERSION) + "\n")
        return 0
    try:
        import psycopg

        from regflow.adapters.postgres.schema import MigrationError, migrate, migrations
    except ImportError:
        print(
            "regflow: DATABASE_URL names PostgreSQL but psycopg is not installed: "
            "pip install 'regflow[local,postgres]'",
            file=sys.stderr,
        )
        return 2
    try:
        with psycopg.connect(url.url, autocommit=True) as conn:
            applied = migrate(conn)
    except psycopg.OperationalError:
        print(f"regflow: cannot reach {where}", file=sys.stderr)
        return 2
    except MigrationError as exc:
        print(f"regflow: {where}: {exc}", file=sys.stderr)
        return 2
    known = migrations()
    out.write(report(where, applied, {m.version: m.name for m in known}, len(known)) + "\n")
    return 0
