"""The PostgreSQL store of the embedded mode for self-hosters (`DATABASE_URL=postgresql://...`):
several `regflow serve` replicas on one database keep every guarantee one process gives.

`PostgresStore` is the shared SQL store (`adapters.sql`: every port, reference
`adapters.memory`; limits exact across replicas through row locks) over this package's
`Database`:

- `schema`: the versioned migrations (`migrations/NNNN_*.sql`, `regflow migrate`);
- `database`: the psycopg pool, transactions with a bounded retry, error translation;
- `claims`: outbox claims with `FOR UPDATE SKIP LOCKED`, leases and an advisory lock per live
  claimer;
- `transfer`: `regflow migrate-data` (SQLite -> PostgreSQL).
"""

from __future__ import annotations

from regflow.adapters.postgres.claims import PostgresClaims
from regflow.adapters.postgres.database import redact
from regflow.adapters.postgres.schema import SCHEMA_VERSION, MigrationError, migrate
from regflow.adapters.sql import CLAIM_LEASE_SECONDS, SQLStore


class PostgresStore(PostgresClaims, SQLStore):
    """Every port over one PostgreSQL database: `PostgresStore(url)`; `close()` when done."""


__all__ = [
    "CLAIM_LEASE_SECONDS",
    "SCHEMA_VERSION",
    "MigrationError",
    "PostgresStore",
    "migrate",
    "redact",
]
