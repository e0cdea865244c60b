"""The SQLite store of the embedded mode: one database file, WAL, one write transaction per
state change, and the outbox in the same transaction as the change that owes the message.

`SQLiteStore` is the shared SQL store (`adapters.sql`: every port, reference
`adapters.memory`) over this package's `Database`:

- `schema`: the DDL and the versioned migrations (`SCHEMA_VERSION`);
- `database`: connections, durability (`synchronous = FULL`) and group commit: the concurrent
  requests share one `BEGIN IMMEDIATE` transaction and one fsync, each in its own savepoint;
  error translation.
"""

from __future__ import annotations

from regflow.adapters.sql import CLAIM_LEASE_SECONDS, SQLStore
from regflow.adapters.sqlite.database import (
    BUSY_TIMEOUT_MS,
    DURABILITIES,
    MAX_BATCH,
    Database,
    Durability,
)
from regflow.adapters.sqlite.schema import SCHEMA_VERSION


class SQLiteStore(Database, SQLStore):
    """Every port over one SQLite file: `SQLiteStore(path)` (`durability="normal"`: the old,
    power-loss-unsafe setting); `close()` when done."""


__all__ = [
    "BUSY_TIMEOUT_MS",
    "CLAIM_LEASE_SECONDS",
    "DURABILITIES",
    "MAX_BATCH",
    "SCHEMA_VERSION",
    "Durability",
    "SQLiteStore",
]
