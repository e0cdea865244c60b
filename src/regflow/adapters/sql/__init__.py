"""One SQL store for SQLite and PostgreSQL: every port over one database, through a small
hand-written dialect (`dialect`: placeholders, row locks, value encodings, the transaction
runner). The modules, one job each:

- `dialect`: what differs between the databases, and what the store needs of one;
- `rows`: rows <-> domain values;
- `store`: `RegistrationStore` (the decisions are the domain's: `domain.transitions`);
- `outbox`: `Outbox` and the worker's extras;
- `queries`: `OperatorQueries`, `ExportQueries` and `purge_expired`;
- `suppression`: `SuppressionList` (deliverability).

A database is `sqlite.SQLiteStore` (group commit) or `postgres.PostgresStore` (a pool, row
locks, `SKIP LOCKED` claims), each `SQLStore` over its own `Database`.
"""

from __future__ import annotations

from regflow.adapters.sql.outbox import CLAIM_LEASE_SECONDS, SQLOutbox
from regflow.adapters.sql.queries import SQLQueries
from regflow.adapters.sql.store import SQLRegistrations
from regflow.adapters.sql.suppression import SQLSuppressions


class SQLStore(SQLRegistrations, SQLOutbox, SQLQueries, SQLSuppressions):
    """Every port over one SQL database (its `Database` comes first in the subclass)."""


__all__ = ["CLAIM_LEASE_SECONDS", "SQLStore"]
