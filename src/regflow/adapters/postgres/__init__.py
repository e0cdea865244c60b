"""The PostgreSQL store of the embedded mode for self-hosters (`DATABASE_URL=postgresql://...`):
several `regflow serve` replicas on one database keep every guarantee one process gives.

`PostgresStore` implements `ports.RegistrationStore`, `ports.Outbox` with the embedded worker's
extras (`ports.WorkerOutbox`) and `ports.OperatorQueries` (reference: `adapters.memory`); it
passes the same contract suites as the other adapters. The modules, one job each:

- `schema`: the versioned migrations (`migrations/NNNN_*.sql`, `regflow migrate`);
- `database`: the psycopg pool, transactions with a bounded retry, error translation;
- `rows`: rows <-> domain values;
- `store`: `RegistrationStore` (limits exact across replicas: row locks);
- `outbox`: `Outbox` and the worker's extras (`FOR UPDATE SKIP LOCKED` claims with leases);
- `queries`: `OperatorQueries` and `purge_expired`;
- `suppression`: `SuppressionList` (deliverability);
- `transfer`: `regflow migrate-data` (SQLite -> PostgreSQL).
"""

from __future__ import annotations

from regflow.adapters.postgres.database import redact
from regflow.adapters.postgres.export import PostgresExport
from regflow.adapters.postgres.outbox import CLAIM_LEASE_SECONDS, PostgresOutbox
from regflow.adapters.postgres.queries import PostgresQueries
from regflow.adapters.postgres.schema import SCHEMA_VERSION, MigrationError, migrate
from regflow.adapters.postgres.store import PostgresRegistrations
from regflow.adapters.postgres.suppression import PostgresSuppressions


class PostgresStore(
    PostgresRegistrations, PostgresOutbox, PostgresQueries, PostgresExport, PostgresSuppressions
):
    """Every port over one PostgreSQL database: `PostgresStore(url)`; `close()` when done."""

    HOLDS_FRESH = True


__all__ = [
    "CLAIM_LEASE_SECONDS",
    "SCHEMA_VERSION",
    "MigrationError",
    "PostgresStore",
    "migrate",
    "redact",
]
