"""`regflow migrate-data --from sqlite:///... --to postgresql://...`: move an embedded
installation's state from its SQLite file to PostgreSQL.

Table by table, in batches (keyset on the primary key, one transaction per batch), every row
an idempotent upsert: an interrupted run is simply run again and picks up where it got to
(rows already copied are written again, unchanged). Outbox rows keep their ids (the sequence is
moved past them) and lose any claim (the old process is stopped). At the end the rows of every
table are counted on both sides. Stop `regflow serve` on the SQLite file first.
"""

from __future__ import annotations

import json
import sqlite3
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import psycopg

from regflow.adapters.postgres.schema import migrate

BATCH = 1000


def _dt(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text).astimezone(UTC)


@dataclass(frozen=True)
class Table:
    name: str
    key: str  # the primary key column (keyset order)
    columns: tuple[str, ...]
    convert: Callable[[sqlite3.Row], tuple[Any, ...]]
    upsert: str


def _registration(row: sqlite3.Row) -> tuple[Any, ...]:
    return (
        row["id"],
        row["addr_key"],
        row["name"],
        row["email"],
        row["status"],
        _dt(row["timestamp"]),
        row["ttl"],
        _dt(row["confirmed_at"]),
        row["language"],
        row["delivery_failure"],
        row["code_tries"],
        row["signup_consent"],
        row["confirm_consent"],
    )


def _outbox(row: sqlite3.Row) -> tuple[Any, ...]:
    return (
        row["id"],
        row["kind"],
        row["channel"],
        row["registration_id"],
        _dt(row["created"]),
        row["attempts"],
        row["next_attempt_at"],
        row["last_error"],
        bool(row["parked"]),
        row["parked_at"],
        row["first_failed_at"],
    )


def _upsert(table: str, columns: Sequence[str], key: str) -> str:
    cols = ", ".join(columns)
    marks = ", ".join(["%s"] * len(columns))
    sets = ", ".join(f"{c} = excluded.{c}" for c in columns if c != key)
    return (
        f"INSERT INTO {table} ({cols}) VALUES ({marks})"  # noqa: S608 (constant names)
        f" ON CONFLICT ({key}) DO UPDATE SET {sets}"
    )


_REG = (
    "id",
    "addr_key",
    "name",
    "email",
    "status",
    "timestamp",
    "ttl",
    "confirmed_at",
    "language",
    "delivery_failure",
    "code_tries",  # issue 14: CONFIRM_CODE's wrong tries and the proof of consent
    "signup_consent",
    "confirm_consent",
)
_OUT = (
    "id",
    "kind",
    "channel",
    "registration_id",
    "created",
    "attempts",
    "next_attempt_at",
    "last_error",
    "parked",
    "parked_at",
    "first_failed_at",
)

TABLES = (
    Table("registrations", "id", _REG, _registration, _upsert("registrations", _REG, "id")),
    Table(
        "confirmed_addresses",
        "addr_key",
        ("addr_key", "registration_id"),
        lambda r: (r["addr_key"], r["registration_id"]),
        _upsert("confirmed_addresses", ("addr_key", "registration_id"), "addr_key"),
    ),
    Table(
        "limit_counters",
        "key",
        ("key", "window_start", "count", "last_at", "expires"),
        lambda r: (r["key"], r["window_start"], r["count"], r["last_at"], r["expires"]),
        _upsert("limit_counters", ("key", "window_start", "count", "last_at", "expires"), "key"),
    ),
    Table(
        "send_logs",
        "key",
        ("key", "times", "expires"),
        lambda r: (r["key"], [int(t) for t in json.loads(r["times"])], r["expires"]),
        _upsert("send_logs", ("key", "times", "expires"), "key"),
    ),
    Table("outbox", "id", _OUT, _outbox, _upsert("outbox", _OUT, "id")),
    # deliverability: the suppression list and the soft-bounce counts
    Table(
        "suppressions",
        "key",
        ("key", "email", "reason", "diagnostic", "since"),
        lambda r: (r["key"], r["email"], r["reason"], r["diagnostic"], _dt(r["since"])),
        _upsert("suppressions", ("key", "email", "reason", "diagnostic", "since"), "key"),
    ),
    Table(
        "soft_bounces",
        "key",
        ("key", "times", "expires"),
        lambda r: (r["key"], [int(t) for t in json.loads(r["times"])], r["expires"]),
        _upsert("soft_bounces", ("key", "times", "expires"), "key"),
    ),
)


@dataclass(frozen=True)
class Count:
    table: str
    source: int
    target: int

    @property
    def ok(self) -> bool:
        return self.source == self.target


def _batches(db: sqlite3.Connection, table: Table) -> Iterator[list[sqlite3.Row]]:
    after: Any = None
    while True:
        where = "" if after is None else f"WHERE {table.key} > ?"
        cur = db.execute(
            f"SELECT * FROM {table.name} {where} ORDER BY {table.key} LIMIT ?",  # noqa: S608
            (() if after is None else (after,)) + (BATCH,),
        )
        cur.row_factory = sqlite3.Row
        rows = cur.fetchall()
        if not rows:
            return
        yield rows
        after = rows[-1][table.key]


def copy(
    source: Path,
    target_url: str,
    *,
    progress: TextIO | None = None,
    stop_after_batches: int | None = None,
) -> list[Count]:
    """Copy every table of the SQLite file `source` into the PostgreSQL database at
    `target_url` (migrated first), then count both sides. `progress`: a stream for a progress
    line (a terminal). `stop_after_batches`: stop early (tests of resuming)."""
    from regflow.adapters.sqlite import SQLiteStore

    SQLiteStore(source).close()  # brings an older file to the current layout
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    done = 0
    try:
        with psycopg.connect(target_url, autocommit=True) as conn:
            migrate(conn)
            for table in TABLES:
                [(total,)] = src.execute(f"SELECT count(*) FROM {table.name}").fetchall()  # noqa: S608
                copied = 0
                for rows in _batches(src, table):
                    if stop_after_batches is not None and done >= stop_after_batches:
                        raise InterruptedError("stopped early")
                    with conn.transaction(), conn.cursor() as cur:
                        cur.executemany(table.upsert.encode(), [table.convert(r) for r in rows])
                    done += 1
                    copied += len(rows)
                    if progress is not None:
                        progress.write(f"\r{table.name}: {copied}/{total}")
                        progress.flush()
                if progress is not None:
                    progress.write("\n")
            conn.execute(
                "SELECT setval(pg_get_serial_sequence('outbox', 'id'),"
                " GREATEST((SELECT MAX(id) FROM outbox), 1))"
            )
            counts = []
            for table in TABLES:
                [(n,)] = src.execute(f"SELECT count(*) FROM {table.name}").fetchall()  # noqa: S608
                row = conn.execute(f"SELECT count(*) FROM {table.name}".encode()).fetchone()  # noqa: S608
                counts.append(Count(table.name, int(n), int(row[0]) if row else 0))
            return counts
    finally:
        src.close()


def main(source: Path, target_url: str, out: TextIO) -> int:
    """The command: copy, print the counts; 0 when every table matches, 1 when not."""
    progress = sys.stderr if sys.stderr.isatty() else None
    counts = copy(source, target_url, progress=progress)
    width = max(len(c.table) for c in counts)
    out.write(f"{'table':<{width}}  {'sqlite':>8}  {'postgres':>8}\n")
    for c in counts:
        mark = "" if c.ok else "  MISMATCH"
        out.write(f"{c.table:<{width}}  {c.source:>8}  {c.target:>8}{mark}\n")
    if all(c.ok for c in counts):
        out.write("every table copied; point DATABASE_URL at PostgreSQL and start regflow\n")
        return 0
    out.write("counts differ: was the target database empty, and the server stopped?\n")
    return 1
