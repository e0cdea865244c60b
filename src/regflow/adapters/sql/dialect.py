"""What differs between SQLite and PostgreSQL, said once: placeholders, row locks, how a
moment and a list of integers are stored, and the transaction runner each database provides
(`SQLDatabase`). Everything else (the statements, the decisions' guards) is one text.

Statements are written with `?` placeholders; PostgreSQL's runner turns them into `%s`.
Booleans are written `true`/`false` and tested as `parked` / `NOT parked` (SQLite stores them
as 1/0 and reads both). Group commit (SQLite), `SKIP LOCKED` claims and the advisory lock of a
live claimer (PostgreSQL) are the databases' own: `sqlite.database`, `postgres.claims`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

T = TypeVar("T")

Row = Any
"""A row read by name (`sqlite3.Row`, psycopg's `dict_row`)."""


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    def fetchall(self) -> Sequence[Row]: ...


class Tx(Protocol):
    """One transaction's statements (`?` placeholders, or `%(name)s` on PostgreSQL)."""

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> Cursor: ...


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True, slots=True)
class Dialect:
    name: str
    for_update: str  # appended to a SELECT that locks the rows it reads
    unclaim: str  # the SET clause that releases an outbox row's claim
    moment: Callable[[datetime], Any]  # a datetime as stored
    from_moment: Callable[[Any], datetime]
    ints: Callable[[Iterable[int]], Any]  # a list of integers as stored (send logs)
    from_ints: Callable[[Any], list[int]]

    def maybe_moment(self, value: Any) -> datetime | None:
        return None if value is None else self.from_moment(value)


SQLITE = Dialect(
    name="sqlite",
    # one writer at a time: the write transaction (`BEGIN IMMEDIATE`) is the lock
    for_update="",
    unclaim="claimed_at = NULL",
    moment=_iso,  # ISO-8601 UTC with microseconds: sorts as it happened
    from_moment=lambda text: datetime.fromisoformat(text).astimezone(UTC),
    ints=lambda values: json.dumps(list(values)),
    from_ints=lambda text: [int(t) for t in json.loads(text)],
)

POSTGRES = Dialect(
    name="postgres",
    for_update=" FOR UPDATE",
    unclaim="claimed_at = NULL, claimed_by = NULL",  # and the claimer (`postgres.claims`)
    moment=lambda moment: moment,  # timestamptz
    from_moment=lambda value: value.astimezone(UTC),
    ints=list,  # bigint[]
    from_ints=lambda values: [int(t) for t in values],
)


class SQLDatabase:
    """What the shared store needs of a database: its dialect, a transaction runner and
    reads. `sqlite.database.Database` and `postgres.database.Database` provide them."""

    dialect: Dialect

    def _transact(self, fn: Callable[[Tx], T]) -> T:
        """`fn` in one transaction, all or nothing (PostgreSQL: retried on a serialization
        failure; SQLite: in the group commit's savepoint)."""
        raise NotImplementedError

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        raise NotImplementedError
