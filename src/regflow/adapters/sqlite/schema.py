"""The database layout and its versions: the DDL of a fresh file, and the migrations that bring
an older file up to date (each step frozen as it was released; all of them, and the version
bump, in the caller's one transaction)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

from regflow.domain import LimitState, SendLog, StoreUnavailable

# 1: first release. 2: the per-address limit became a sliding log (`send_logs`); version 1's
# fixed-window `address:` counters are converted. 3: registrations carry `language` and
# `delivery_failure`; the outbox parks messages (`parked`, `parked_at`, `first_failed_at`,
# a nullable `next_attempt_at`) instead of marking them `dead`, and names their `channel`.
# 4 (deliverability): registrations may be BOUNCED or COMPLAINED; the suppression list
# (`suppressions`) and the soft-bounce counts (`soft_bounces`).
# 5 (operator export): the partial index `registrations_confirmed` serves `export --since`.
# 6 (events): the outbox names each event message's `target` (a webhook, EventBridge) and
# keeps the `snapshot` of an erased registration its erasure messages are sent from;
# `digests` remembers the days whose owner digest was owed (OWNER_DIGEST=daily).
# 7 (signup): registrations count wrong confirmation codes (`code_tries`, CONFIRM_CODE) and
# keep the proof of consent of the sign-up and the confirmation (`signup_consent`,
# `confirm_consent`: JSON, `domain.Consent`); used proof-of-work solutions (`spent_challenges`).
SCHEMA_VERSION = 7

# each version's name, as `regflow migrate` prints the steps it applied ("3 outbox_parking")
STEPS: dict[int, str] = {
    1: "initial",
    2: "sliding_address_limit",
    3: "outbox_parking",
    4: "deliverability",
    5: "operator_export",
    6: "events",
    7: "signup",
}


class SchemaTooNew(StoreUnavailable):
    """The file was written by a newer regflow (its schema version is above this code's):
    never downgraded, never used. The message is one line."""

    def __init__(self, found: int, supported: int) -> None:
        super().__init__()
        self.found, self.supported = found, supported
        self.args = (too_new_message(found, supported),)

    def __str__(self) -> str:
        return str(self.args[0])


def too_new_message(found: int, supported: int) -> str:
    from regflow import __version__

    return (
        f"the database is at schema version {found}, newer than this regflow {__version__} "
        f"knows ({supported}): a newer regflow wrote it; upgrade regflow, or restore the "
        "backup taken before the upgrade"
    )


SCHEMA = """
CREATE TABLE IF NOT EXISTS registrations (
    id               TEXT PRIMARY KEY,
    addr_key         TEXT NOT NULL,
    name             TEXT NOT NULL,
    email            TEXT NOT NULL,
    status           TEXT NOT NULL
                     CHECK (status IN ('PENDING', 'CONFIRMED', 'BOUNCED', 'COMPLAINED')),
    timestamp        TEXT NOT NULL,        -- ISO-8601 UTC, microseconds
    ttl              INTEGER,              -- epoch seconds; NULL once confirmed
    confirmed_at     TEXT,                 -- ISO-8601 UTC, microseconds
    language         TEXT NOT NULL DEFAULT 'en',
    delivery_failure TEXT,                 -- an error code, never message text
    code_tries       INTEGER NOT NULL DEFAULT 0, -- wrong confirmation codes entered
    signup_consent   TEXT,                 -- JSON: ip, user_agent, text_version
    confirm_consent  TEXT                  -- JSON: ip, user_agent, text_version
);
CREATE INDEX IF NOT EXISTS registrations_addr ON registrations (addr_key);
CREATE INDEX IF NOT EXISTS registrations_ttl ON registrations (ttl) WHERE status = 'PENDING';
CREATE INDEX IF NOT EXISTS registrations_time ON registrations (timestamp, id);
CREATE INDEX IF NOT EXISTS registrations_confirmed ON registrations (confirmed_at, id)
    WHERE status = 'CONFIRMED';
CREATE TABLE IF NOT EXISTS confirmed_addresses (
    addr_key        TEXT PRIMARY KEY,
    registration_id TEXT NOT NULL UNIQUE REFERENCES registrations (id)
);
CREATE TABLE IF NOT EXISTS limit_counters (  -- the per-client limit (fixed window)
    key          TEXT PRIMARY KEY,
    window_start INTEGER NOT NULL,
    count        INTEGER NOT NULL,
    last_at      INTEGER NOT NULL,
    expires      INTEGER NOT NULL          -- epoch seconds after which the counter is moot
);
CREATE TABLE IF NOT EXISTS send_logs (       -- the per-address limit (sliding log)
    key          TEXT PRIMARY KEY,         -- "address:<mailbox_key>"
    times        TEXT NOT NULL,            -- JSON array of epoch seconds, oldest first
    expires      INTEGER NOT NULL          -- epoch seconds after which the log is moot
);
CREATE TABLE IF NOT EXISTS spent_challenges ( -- used proof-of-work solutions (CHALLENGE=pow)
    id           TEXT PRIMARY KEY,         -- the challenge (hex SHA-256)
    expires      INTEGER NOT NULL          -- epoch seconds after which it is refused anyway
);
CREATE TABLE IF NOT EXISTS outbox (          -- one row per message owed (kind, registration)
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    kind            TEXT NOT NULL,
    channel         TEXT NOT NULL DEFAULT 'email',
    registration_id TEXT NOT NULL,
    created         TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL,                  -- epoch seconds; NULL: parked until an operator asks
    claimed_at      REAL,                  -- set while a sender is delivering it
    last_error      TEXT,                  -- an error code, never message text
    parked          INTEGER NOT NULL DEFAULT 0,
    parked_at       REAL,                  -- epoch seconds it was first parked
    first_failed_at REAL,                  -- epoch seconds of its first failed attempt
    target          TEXT NOT NULL DEFAULT '', -- an event's target (regflow.domain.events)
    snapshot        TEXT                   -- JSON: the erased registration (erasure messages)
);
CREATE TABLE IF NOT EXISTS digests (        -- OWNER_DIGEST=daily: the days whose digest was owed
    day TEXT PRIMARY KEY                   -- "digest-YYYY-MM-DD"
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (next_attempt_at);
CREATE INDEX IF NOT EXISTS outbox_message ON outbox (registration_id, kind);
CREATE TABLE IF NOT EXISTS suppressions (    -- inboxes that get no mail (deliverability)
    key          TEXT PRIMARY KEY,         -- mailbox_key
    email        TEXT NOT NULL,            -- the address as reported
    reason       TEXT NOT NULL,
    diagnostic   TEXT NOT NULL,
    since        TEXT NOT NULL             -- ISO-8601 UTC, microseconds
);
CREATE TABLE IF NOT EXISTS soft_bounces (    -- recent soft bounces per inbox
    key          TEXT PRIMARY KEY,         -- mailbox_key
    times        TEXT NOT NULL,            -- JSON array of epoch seconds, oldest first
    expires      INTEGER NOT NULL          -- epoch seconds after which none of them counts
);
CREATE INDEX IF NOT EXISTS soft_bounces_expires ON soft_bounces (expires);
CREATE INDEX IF NOT EXISTS registrations_undeliverable ON registrations (ttl)
    WHERE status IN ('BOUNCED', 'COMPLAINED');
"""


def ensure_schema(db: sqlite3.Connection, now: float) -> list[int]:
    """Create or migrate the schema on `db`, inside the caller's write transaction: a fresh
    file gets `SCHEMA` (every step at once), an older one every migration step from its
    version on. Returns the versions applied (none: it was current). A file newer than this
    code is `SchemaTooNew` (never downgraded)."""
    version = int(db.execute("PRAGMA user_version").fetchone()[0])
    if version > SCHEMA_VERSION:
        raise SchemaTooNew(version, SCHEMA_VERSION)
    if version == SCHEMA_VERSION:
        return []
    if version == 0:
        # statement by statement, so that the schema and the version bump are one transaction
        # (executescript would commit first)
        for statement in statements(SCHEMA):
            db.execute(statement)
    else:
        for step in range(version, SCHEMA_VERSION):
            _MIGRATIONS[step](db, now)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    return list(range(version + 1, SCHEMA_VERSION + 1))


def file_version(path: Path) -> int:
    """The schema version of the SQLite file at `path` (0: none yet), read without writing."""
    if not path.is_file() or path.stat().st_size == 0:
        return 0
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=5)
    try:
        return int(db.execute("PRAGMA user_version").fetchone()[0])
    except sqlite3.DatabaseError as exc:
        raise StoreUnavailable() from exc
    finally:
        db.close()


def refuse_newer(path: Path) -> None:
    """`SchemaTooNew` when a newer regflow wrote the file at `path`."""
    found = file_version(path)
    if found > SCHEMA_VERSION:
        raise SchemaTooNew(found, SCHEMA_VERSION)


def migrate_file(path: Path, now: float) -> list[int]:
    """Bring the SQLite file at `path` (created if missing) to `SCHEMA_VERSION` in one
    transaction; the versions applied, oldest first (`regflow migrate`)."""
    refuse_newer(path)
    if not path.exists():  # private from the start, as `regflow serve` makes it
        import os

        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    db = sqlite3.connect(path, isolation_level=None, timeout=30)
    try:
        db.execute("PRAGMA foreign_keys = ON")
        db.execute("BEGIN IMMEDIATE")
        try:
            applied = ensure_schema(db, now)
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        return applied
    finally:
        db.close()


def statements(script: str) -> Iterator[str]:
    """The complete SQL statements of `script` (semicolons inside comments are no end)."""
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            yield buffer.strip()
            buffer = ""
    if buffer.strip():
        raise ValueError("incomplete SQL statement at the end of the schema")


# --- migrations: version N -> N + 1 ----------------------------------------------------------


def _v1_to_v2(db: sqlite3.Connection, now: float) -> None:
    """The per-address limit becomes a sliding log: each fixed-window `address:` counter
    becomes a send log that limits at least as much (`SendLog.from_window_counter`); it
    expires as late as it can matter."""
    db.execute(
        "CREATE TABLE IF NOT EXISTS send_logs (key TEXT PRIMARY KEY, times TEXT NOT NULL,"
        " expires INTEGER NOT NULL)"
    )
    rows = db.execute(
        "SELECT key, window_start, count, last_at, expires FROM limit_counters"
        " WHERE key LIKE 'address:%'"
    ).fetchall()
    for key, window_start, count, last_at, expires in rows:
        state = LimitState(window_start=window_start, count=count, last_at=last_at)
        log = SendLog.from_window_counter(state, keep=count)
        db.execute(
            "INSERT INTO send_logs (key, times, expires) VALUES (?, ?, ?) ON CONFLICT (key)"
            " DO UPDATE SET times = excluded.times, expires = excluded.expires",
            (key, json.dumps(list(log.times)), expires + max(last_at - window_start, 0)),
        )
    db.execute("DELETE FROM limit_counters WHERE key LIKE 'address:%'")


def _v2_to_v3(db: sqlite3.Connection, now: float) -> None:
    """Registrations get `language` ('en' for the old ones) and `delivery_failure`. The outbox
    is rebuilt (SQLite cannot relax a NOT NULL column in place): `dead` rows become parked
    ones that wait for an operator (`next_attempt_at` NULL, parked and first failed at `now`,
    the migration: the real times were not recorded); the AUTOINCREMENT sequence is kept, so
    no id is ever handed out twice."""
    db.execute("ALTER TABLE registrations ADD COLUMN language TEXT NOT NULL DEFAULT 'en'")
    db.execute("ALTER TABLE registrations ADD COLUMN delivery_failure TEXT")
    db.execute("CREATE INDEX IF NOT EXISTS registrations_time ON registrations (timestamp, id)")
    sequence = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").fetchone()
    db.execute(
        "CREATE TABLE outbox_v3 ("
        " id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " kind TEXT NOT NULL,"
        " channel TEXT NOT NULL DEFAULT 'email',"
        " registration_id TEXT NOT NULL,"
        " created TEXT NOT NULL,"
        " attempts INTEGER NOT NULL DEFAULT 0,"
        " next_attempt_at REAL,"
        " claimed_at REAL,"
        " last_error TEXT,"
        " parked INTEGER NOT NULL DEFAULT 0,"
        " parked_at REAL,"
        " first_failed_at REAL)"
    )
    db.execute(
        "INSERT INTO outbox_v3 (id, kind, channel, registration_id, created, attempts,"
        " next_attempt_at, claimed_at, last_error, parked, parked_at, first_failed_at)"
        " SELECT id, kind, 'email', registration_id, created, attempts,"
        " CASE WHEN dead THEN NULL ELSE next_attempt_at END,"
        " CASE WHEN dead THEN NULL ELSE claimed_at END,"
        " last_error, dead <> 0,"
        " CASE WHEN dead THEN :now END, CASE WHEN dead THEN :now END"
        " FROM outbox ORDER BY id",
        {"now": now},
    )
    db.execute("DROP TABLE outbox")
    db.execute("ALTER TABLE outbox_v3 RENAME TO outbox")
    db.execute("CREATE INDEX outbox_due ON outbox (next_attempt_at)")
    db.execute("CREATE INDEX outbox_message ON outbox (registration_id, kind)")
    if sequence is not None:
        db.execute(
            "UPDATE sqlite_sequence SET seq = MAX(seq, ?) WHERE name = 'outbox'", (sequence[0],)
        )
        if db.execute("SELECT 1 FROM sqlite_sequence WHERE name = 'outbox'").fetchone() is None:
            db.execute(
                "INSERT INTO sqlite_sequence (name, seq) VALUES ('outbox', ?)", (sequence[0],)
            )


def _v3_to_v4_deliverability(db: sqlite3.Connection, now: float) -> None:
    """Deliverability: `registrations.status` may also be BOUNCED or COMPLAINED (SQLite cannot
    change a CHECK in place: the table is rebuilt, rows and indexes kept, and with it
    `confirmed_addresses`, whose foreign key points at it); the `suppressions` and
    `soft_bounces` tables."""
    db.execute(
        "CREATE TABLE registrations_v4 ("
        " id TEXT PRIMARY KEY,"
        " addr_key TEXT NOT NULL,"
        " name TEXT NOT NULL,"
        " email TEXT NOT NULL,"
        " status TEXT NOT NULL"
        " CHECK (status IN ('PENDING', 'CONFIRMED', 'BOUNCED', 'COMPLAINED')),"
        " timestamp TEXT NOT NULL,"
        " ttl INTEGER,"
        " confirmed_at TEXT,"
        " language TEXT NOT NULL DEFAULT 'en',"
        " delivery_failure TEXT)"
    )
    db.execute(
        "INSERT INTO registrations_v4 (id, addr_key, name, email, status, timestamp, ttl,"
        " confirmed_at, language, delivery_failure) SELECT id, addr_key, name, email, status,"
        " timestamp, ttl, confirmed_at, language, delivery_failure FROM registrations"
    )
    # confirmed_addresses references registrations (foreign keys are on): it is set aside,
    # dropped first and recreated, so that no reference dangles at any point
    db.execute("CREATE TEMP TABLE confirmed_v3 AS SELECT * FROM confirmed_addresses")
    db.execute("DROP TABLE confirmed_addresses")
    db.execute("DROP TABLE registrations")
    db.execute("ALTER TABLE registrations_v4 RENAME TO registrations")
    db.execute(
        "CREATE TABLE confirmed_addresses (addr_key TEXT PRIMARY KEY,"
        " registration_id TEXT NOT NULL UNIQUE REFERENCES registrations (id))"
    )
    db.execute(
        "INSERT INTO confirmed_addresses (addr_key, registration_id)"
        " SELECT addr_key, registration_id FROM confirmed_v3"
    )
    db.execute("DROP TABLE temp.confirmed_v3")
    db.execute("CREATE INDEX registrations_addr ON registrations (addr_key)")
    db.execute("CREATE INDEX registrations_ttl ON registrations (ttl) WHERE status = 'PENDING'")
    db.execute("CREATE INDEX registrations_time ON registrations (timestamp, id)")
    db.execute(
        "CREATE TABLE IF NOT EXISTS suppressions (key TEXT PRIMARY KEY, email TEXT NOT NULL,"
        " reason TEXT NOT NULL, diagnostic TEXT NOT NULL, since TEXT NOT NULL)"
    )
    db.execute(
        "CREATE TABLE IF NOT EXISTS soft_bounces (key TEXT PRIMARY KEY, times TEXT NOT NULL,"
        " expires INTEGER NOT NULL)"
    )
    db.execute("CREATE INDEX IF NOT EXISTS soft_bounces_expires ON soft_bounces (expires)")
    db.execute(
        "CREATE INDEX IF NOT EXISTS registrations_undeliverable ON registrations (ttl)"
        " WHERE status IN ('BOUNCED', 'COMPLAINED')"
    )


def _v4_to_v5_operator_export(db: sqlite3.Connection, now: float) -> None:
    """`regflow export --since` reads confirmed registrations by confirmation time."""
    db.execute(
        "CREATE INDEX IF NOT EXISTS registrations_confirmed ON registrations (confirmed_at, id)"
        " WHERE status = 'CONFIRMED'"
    )


def _v5_to_v6_events(db: sqlite3.Connection, now: float) -> None:
    """Outbox rows name an event's target (webhook, EventBridge; mail rows have none) and
    carry the snapshot of an erased registration (erasure messages only)."""
    db.execute("ALTER TABLE outbox ADD COLUMN target TEXT NOT NULL DEFAULT ''")
    db.execute("ALTER TABLE outbox ADD COLUMN snapshot TEXT")
    db.execute("CREATE TABLE IF NOT EXISTS digests (day TEXT PRIMARY KEY)")


def _v6_to_v7_signup(db: sqlite3.Connection, now: float) -> None:
    """Registrations count the wrong confirmation codes entered for them (CONFIRM_CODE) and
    keep the proof of consent (JSON; NULL for the registrations before it)."""
    db.execute("ALTER TABLE registrations ADD COLUMN code_tries INTEGER NOT NULL DEFAULT 0")
    db.execute("ALTER TABLE registrations ADD COLUMN signup_consent TEXT")
    db.execute("ALTER TABLE registrations ADD COLUMN confirm_consent TEXT")
    db.execute(
        "CREATE TABLE IF NOT EXISTS spent_challenges (id TEXT PRIMARY KEY,"
        " expires INTEGER NOT NULL)"
    )


_MIGRATIONS: dict[int, Callable[[sqlite3.Connection, float], None]] = {
    1: _v1_to_v2,
    2: _v2_to_v3,
    3: _v3_to_v4_deliverability,
    4: _v4_to_v5_operator_export,
    5: _v5_to_v6_events,
    6: _v6_to_v7_signup,
}
