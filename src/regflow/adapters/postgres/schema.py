"""Versioned migrations of the PostgreSQL schema: numbered SQL files in `migrations/`
(`0001_initial.sql`, ...), applied in order, each in its own transaction, and recorded in
`schema_migrations`.

A small runner rather than Alembic: regflow has no SQLAlchemy (Alembic's models and engine
would be one heavy dependency tree for a handful of `CREATE TABLE`s), and a migration here is
plain SQL reviewed as such. Replicas that start together do not race: every step takes the
same transaction-level advisory lock (`pg_advisory_xact_lock`) first, so one applies a
migration while the others wait and then find it recorded. A database migrated by newer code
than this is refused (never downgraded).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

import psycopg
from psycopg.rows import tuple_row

# An arbitrary constant: the advisory lock key of "migrating regflow's schema".
MIGRATION_LOCK_KEY = 0x7265_6766  # "regf"

_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


class MigrationError(Exception):
    """The database cannot be brought to this code's schema (newer than the code, say)."""


class SchemaTooNew(MigrationError):
    """A newer regflow migrated the database: never downgraded, never used."""

    def __init__(self, found: int, supported: int) -> None:
        from regflow.adapters.sqlite.schema import too_new_message

        super().__init__(too_new_message(found, supported))
        self.found, self.supported = found, supported


_ROLLING = re.compile(r"^-- rolling: (yes|no)\b", re.M)


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def rolling(self) -> bool:
        """Replicas of the release before it keep working on the migrated schema, beside the
        new ones (a rolling upgrade): the file's `-- rolling: yes` line says so (docs/upgrading.md
        lists each step's)."""
        match = _ROLLING.search(self.sql)
        if match is None:
            raise MigrationError(f"migration {self.version} has no '-- rolling: yes|no' line")
        return match[1] == "yes"


def migrations() -> list[Migration]:
    """Every migration shipped in the package, oldest first."""
    found = []
    for entry in resources.files("regflow.adapters.postgres").joinpath("migrations").iterdir():
        match = _FILE.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise MigrationError(f"migrations are not numbered 1..n: {versions}")
    return found


SCHEMA_VERSION = len(migrations())


def current_version(conn: psycopg.Connection[Any]) -> int:
    """The newest migration recorded in the database (0: none, or no table yet)."""
    cur = conn.cursor(row_factory=tuple_row)
    row = cur.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()
    if row is None or not row[0]:
        return 0
    version = cur.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").fetchone()
    return int(version[0]) if version else 0


def check_current(conn: psycopg.Connection[Any]) -> None:
    """Without migrating (the operator's commands): `SchemaTooNew` for a database a newer
    regflow migrated, `MigrationError` for one that `regflow migrate` has yet to bring up."""
    found = current_version(conn)
    if found > SCHEMA_VERSION:
        raise SchemaTooNew(found, SCHEMA_VERSION)
    if found < SCHEMA_VERSION:
        raise MigrationError("the database schema is not current: run `regflow migrate` first")


def migrate(conn: psycopg.Connection[Any]) -> list[int]:
    """Apply every migration the database lacks, each in its own transaction under the
    advisory lock; returns the versions applied (an autocommit connection)."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_KEY,))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version integer PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
    known = migrations()
    newest = current_version(conn)
    if newest > len(known):
        raise SchemaTooNew(newest, len(known))
    applied = []
    for step in known:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_KEY,))
            done = conn.execute(
                "SELECT 1 FROM schema_migrations WHERE version = %s", (step.version,)
            ).fetchone()
            if done is not None:
                continue
            conn.execute(step.sql.encode())
            conn.execute(
                "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                (step.version, step.name),
            )
            applied.append(step.version)
    return applied
