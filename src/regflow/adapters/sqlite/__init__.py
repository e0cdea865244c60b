"""The SQLite store of the embedded mode: one database file, WAL, one write transaction per
state change, and the outbox in the same transaction as the change that owes the message.

`SQLiteStore` implements `ports.RegistrationStore`, `ports.Outbox` with the embedded worker's
extras (`ports.WorkerOutbox`) and `ports.OperatorQueries` (reference: `adapters.memory`); it
passes the same contract suites as the other adapters. The modules, one job each:

- `schema`: the DDL and the versioned migrations (`SCHEMA_VERSION`);
- `database`: connections, durability (`synchronous = FULL`) and group commit: the concurrent
  requests share one `BEGIN IMMEDIATE` transaction and one fsync, each in its own savepoint;
  error translation;
- `rows`: rows <-> domain values;
- `store`: `RegistrationStore`;
- `outbox`: `Outbox` and the worker's extras;
- `queries`: `OperatorQueries` and `purge_expired`;
- `suppression`: `SuppressionList` (deliverability).
"""

from __future__ import annotations

from regflow.adapters.sqlite.database import BUSY_TIMEOUT_MS, DURABILITIES, MAX_BATCH, Durability
from regflow.adapters.sqlite.export import SQLiteExport
from regflow.adapters.sqlite.outbox import CLAIM_LEASE_SECONDS, SQLiteOutbox
from regflow.adapters.sqlite.queries import SQLiteQueries
from regflow.adapters.sqlite.schema import SCHEMA_VERSION
from regflow.adapters.sqlite.store import SQLiteRegistrations
from regflow.adapters.sqlite.suppression import SQLiteSuppressions


class SQLiteStore(
    SQLiteRegistrations, SQLiteOutbox, SQLiteQueries, SQLiteExport, SQLiteSuppressions
):
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
