"""Which store the embedded runtime uses (`DATABASE_URL`): SQLite in the data directory by
default, a SQLite file named by `sqlite:///path`, or PostgreSQL (`postgresql://...`, the
`postgres` extra: `pip install 'regflow[local,postgres]'`). Shared by `regflow serve` and the
operator's commands."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Protocol

from regflow.config import DatabaseUrl
from regflow.ports import OperatorQueries, RegistrationStore, SuppressionList, WorkerOutbox

DB_FILE = "regflow.db"


class EmbeddedStore(RegistrationStore, WorkerOutbox, OperatorQueries, SuppressionList, Protocol):
    """Every port the embedded runtime uses, and `close()`."""

    def close(self) -> None: ...


class StoreOpenError(Exception):
    """The store cannot be opened; the message is safe to print (no password)."""


def describe(url: DatabaseUrl | None, data_dir: Path) -> str:
    """Where the state lives, for messages (a PostgreSQL URL without its password)."""
    if url is None:
        return str(data_dir / DB_FILE)
    if url.kind == "sqlite":
        return str(url.path)
    from urllib.parse import urlsplit

    parts = urlsplit(url.url)
    port = f":{parts.port}" if parts.port else ""
    return f"postgresql://{parts.hostname or ''}{port}{parts.path}"


def sqlite_path(url: DatabaseUrl | None, data_dir: Path) -> Path | None:
    """The SQLite file, or None for PostgreSQL."""
    if url is None:
        return data_dir / DB_FILE
    return url.path if url.kind == "sqlite" else None


def open_store(
    url: DatabaseUrl | None,
    data_dir: Path,
    *,
    migrate: bool = True,
    must_exist: bool = False,
    sqlite_durability: Literal["full", "normal"] = "full",
) -> EmbeddedStore:
    """The store `url` names (None: `<data_dir>/regflow.db`). PostgreSQL's schema is migrated
    first unless `migrate=False` (then it must be current). `must_exist`: a missing SQLite
    file is a `FileNotFoundError` (the operator's commands)."""
    from regflow.domain import StoreUnavailable

    path = sqlite_path(url, data_dir)
    if path is not None:
        from regflow.adapters.sqlite import SQLiteStore
        from regflow.adapters.sqlite.schema import SchemaTooNew, refuse_newer

        if must_exist and not path.is_file():
            raise FileNotFoundError(f"no database at {path} (start `regflow serve` first)")
        try:
            refuse_newer(path)  # a newer regflow wrote it: one clear line, never opened
            return SQLiteStore(path, durability=sqlite_durability)
        except SchemaTooNew as exc:
            raise StoreOpenError(f"{path}: {exc}") from None
        except StoreUnavailable:
            raise StoreOpenError(f"cannot open the database {path}") from None
    assert url is not None
    try:
        from regflow.adapters.postgres import MigrationError, PostgresStore
    except ImportError:
        raise StoreOpenError(
            "DATABASE_URL names PostgreSQL but psycopg is not installed: "
            "pip install 'regflow[local,postgres]'"
        ) from None
    try:
        return PostgresStore(url.url, migrate_schema=migrate)
    except StoreUnavailable:
        raise StoreOpenError(f"cannot reach the database {describe(url, data_dir)}") from None
    except MigrationError as exc:
        raise StoreOpenError(f"{describe(url, data_dir)}: {exc}") from None


def set_event_targets(store: EmbeddedStore, targets: tuple[str, ...]) -> None:
    """Make each confirmation (and erasure) owe one event message per target
    (`regflow.domain.events`), in its own transaction. Every embedded store supports it; a
    store that did not would be a start-up error, never silently without events."""
    if not hasattr(store, "event_targets"):
        raise StoreOpenError("this store cannot publish events (WEBHOOK_URL)")
    store.event_targets = targets
