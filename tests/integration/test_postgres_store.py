"""The PostgreSQL store beyond the contract suite: migrations, several stores (replicas) at once
on one database, errors as the domain sees them, the operator's commands on `DATABASE_URL`,
and `regflow migrate-data` from SQLite (resumable, counted)."""

from __future__ import annotations

import io
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from regflow.adapters.postgres import SCHEMA_VERSION, PostgresStore, migrate, transfer
from regflow.adapters.sqlite import SQLiteStore
from regflow.cli import main
from regflow.config import parse_database_url
from regflow.domain import (
    ClaimedMessage,
    ClientRateLimited,
    ConfigError,
    CreateResult,
    Limit,
    Message,
    MessageKind,
    Outcome,
    Registration,
    Status,
    StoreUnavailable,
)
from regflow.tokens import new_registration_id
from tests.support.postgres import fresh_database, wait_until
from tests.support.server import free_port

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
OFF = Limit(max_count=0, window_seconds=60)


def reg(email: str, at: datetime = T0) -> Registration:
    return Registration(
        id=new_registration_id(),
        name="Pat",
        email=email,
        status=Status.PENDING,
        timestamp=at,
        ttl=int((at + timedelta(hours=24)).timestamp()),
    )


@pytest.fixture
def url(pg_admin_url: str, request: pytest.FixtureRequest) -> str:
    return fresh_database(pg_admin_url, "store_" + request.node.name[:40].lower())


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return main(list(argv), out=out), out.getvalue()


def test_migrations_are_versioned_idempotent_and_safe_to_race(url: str) -> None:
    def one() -> list[int]:
        with psycopg.connect(url, autocommit=True) as conn:
            return migrate(conn)

    with ThreadPoolExecutor(4) as pool:
        applied = list(pool.map(lambda _: one(), range(4)))
    # each step once, by whichever runner got the lock first, and each runner in order
    assert sorted(v for a in applied for v in a) == list(range(1, SCHEMA_VERSION + 1))
    assert all(a == sorted(a) for a in applied)
    code, out = run("migrate", "--database-url", url)
    assert code == 0
    assert out == (
        f"{describe_pg(url)}: already up to date (schema version {SCHEMA_VERSION}); "
        "nothing applied\n"
    )
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT max(version) FROM schema_migrations").fetchone() == (
            SCHEMA_VERSION,
        )


def describe_pg(url: str) -> str:
    from regflow.local.stores import describe

    return describe(parse_database_url(url), Path())


def test_migrate_names_every_step_it_applied(url: str) -> None:
    code, out = run("migrate", "--database-url", url)
    assert code == 0
    steps = "1 initial, 2 deliverability, 3 operator_export, 4 events, 5 signup"
    assert out == (
        f"{describe_pg(url)}: applied {SCHEMA_VERSION} migration steps: {steps}; "
        f"now at schema version {SCHEMA_VERSION}\n"
    )
    with psycopg.connect(url, autocommit=True) as conn:  # as if the last step were still owed
        conn.execute("DELETE FROM schema_migrations WHERE version = %s", (SCHEMA_VERSION,))
        conn.execute("DROP TABLE spent_challenges")
        for column in ("code_tries", "signup_consent", "confirm_consent"):
            conn.execute(f"ALTER TABLE registrations DROP COLUMN {column}")
    code, out = run("migrate", "--database-url", url)
    assert (code, out) == (
        0,
        f"{describe_pg(url)}: applied 1 migration step: 5 signup; now at schema version 5\n",
    )


def test_a_newer_database_is_refused(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    PostgresStore(url).close()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("INSERT INTO schema_migrations (version, name) VALUES (999, 'future')")
    code, _ = run("migrate", "--database-url", url)
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "schema version 999, newer than this regflow" in err
    with pytest.raises(Exception, match="newer than this regflow"):
        PostgresStore(url)
    with pytest.raises(Exception, match="newer than this regflow"):
        PostgresStore(url, migrate_schema=False)  # the operator's commands


def test_every_migration_says_whether_it_allows_a_rolling_upgrade() -> None:
    """docs/upgrading.md lists each step's `-- rolling:` line (the docs' tests check the page)."""
    from regflow.adapters.postgres.schema import migrations

    assert {m.version: m.rolling for m in migrations()} == {
        1: False,
        2: False,
        3: True,
        4: False,
        5: True,
    }


def test_limits_are_exact_across_stores_on_one_database(url: str) -> None:
    stores = [PostgresStore(url) for _ in range(2)]
    try:
        address = Limit(max_count=5, window_seconds=86400, min_interval_seconds=60)
        client = Limit(max_count=6, window_seconds=3600)
        barrier = threading.Barrier(12)

        def post(i: int) -> str:
            barrier.wait()
            try:
                result = stores[i % 2].create_pending(
                    reg("same@example.com" if i < 6 else f"other{i}@example.com"),
                    address_limit=address,
                    client_key="203.0.113.9",
                    client_limit=client,
                )
            except ClientRateLimited:
                return "client-limited"
            return result.value

        with ThreadPoolExecutor(12) as pool:
            results = Counter(pool.map(post, range(12)))
        assert results["client-limited"] == 6  # exactly the client's quota got through
        # of the same address's posts that got past the client limit, one was created
        created_same = stores[0].stats().pending - sum(
            1 for r in stores[0].registrations() if r.email != "same@example.com"
        )
        assert created_same <= 1
        assert (
            results[CreateResult.CREATED.value] + results[CreateResult.ADDRESS_LIMITED.value] == 6
        )
    finally:
        for s in stores:
            s.close()


def test_two_registrations_of_one_address_confirm_once(url: str) -> None:
    stores = [PostgresStore(url) for _ in range(2)]
    try:
        regs = [reg("twice@example.com"), reg("twice@example.com")]
        for r in regs:
            stores[0].create_pending(r, address_limit=OFF, client_key=None, client_limit=OFF)
        barrier = threading.Barrier(8)

        def click(i: int) -> Outcome:
            barrier.wait()
            r = regs[i % 2]
            return stores[i % 2].confirm(r.id, r.addr_key, T0 + timedelta(minutes=1))

        with ThreadPoolExecutor(8) as pool:
            outcomes = Counter(pool.map(click, range(8)))
        assert outcomes == Counter({Outcome.CONFIRMED: 1, Outcome.ALREADY_CONFIRMED: 7})
        kinds = Counter(c.message.kind for c in stores[1].claim_due(T0.timestamp() + 3600, 100))
        assert kinds[MessageKind.OWNER_NOTIFICATION] == 1
    finally:
        for s in stores:
            s.close()


def test_claims_of_a_closed_store_are_taken_over_at_once(url: str) -> None:
    a, b = PostgresStore(url), PostgresStore(url)
    try:
        a.create_pending(
            reg("lease@example.com"), address_limit=OFF, client_key=None, client_limit=OFF
        )
        now = T0.timestamp() + 10
        [claimed] = a.claim_due(now, 10)
        assert b.claim_due(now + 1, 10) == []  # a is alive: its claim holds
        a.close()  # a process that is gone: its advisory lock is released (its backend exits)
        taken: list[ClaimedMessage] = []

        def take_over() -> bool:
            taken.extend(b.claim_due(now + 2, 10))
            return bool(taken)

        wait_until(take_over, timeout=5)
        [again] = taken
        assert again.message == claimed.message
        assert again.attempts == 2
    finally:
        b.close()


def test_an_unreachable_database_is_store_unavailable() -> None:
    with pytest.raises(StoreUnavailable):
        PostgresStore(f"postgresql://nobody@127.0.0.1:{free_port()}/x", timeout=1)


def test_database_url_is_checked_and_never_quoted() -> None:
    assert parse_database_url("sqlite:///var/lib/r.db").path == Path("var/lib/r.db")
    assert parse_database_url("sqlite:////var/lib/r.db").path == Path("/var/lib/r.db")
    pg = parse_database_url("postgresql://u:hunter2@db:5432/regflow")
    assert pg.kind == "postgresql" and "hunter2" not in repr(pg)
    for bad in ("mysql://u:hunter2@h/db", "postgresql://u:hunter2@h:99999/db", "nonsense"):
        with pytest.raises(ConfigError, match="DATABASE_URL") as err:
            parse_database_url(bad)
        assert "hunter2" not in str(err.value)


def test_operator_commands_work_on_database_url(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = PostgresStore(url)
    r = reg("op@example.com")
    store.create_pending(r, address_limit=OFF, client_key=None, client_limit=OFF)
    store.confirm(r.id, r.addr_key, T0 + timedelta(seconds=5))
    store.close()
    monkeypatch.setenv("DATABASE_URL", url)
    code, out = run("stats", "--data-dir", str(tmp_path))
    assert code == 0 and "confirmed" in out
    code, out = run("export", "--data-dir", str(tmp_path), "--format", "json")
    assert code == 0 and "op@example.com" in out
    code, out = run("delete", "--data-dir", str(tmp_path), "--email", "op@example.com")
    assert code == 0
    code, out = run("list", "--data-dir", str(tmp_path))
    assert code == 0 and "0 registrations" in out


def _sqlite_installation(path: Path, n: int) -> list[Registration]:
    store = SQLiteStore(path)
    made = []
    for i in range(n):
        r = reg(f"m{i}@example.com", T0 + timedelta(seconds=i))
        store.create_pending(
            r,
            address_limit=Limit(max_count=5, window_seconds=86400, min_interval_seconds=60),
            client_key=f"198.51.100.{i % 3}",
            client_limit=Limit(max_count=1000, window_seconds=3600),
        )
        if i % 4 == 0:
            store.confirm(r.id, r.addr_key, T0 + timedelta(minutes=1))
        made.append(r)
    # one message parked for an operator, with its history
    store.park(
        Message(MessageKind.VERIFICATION, made[1]),
        attempts=4,
        error="SMTPAuth",
        at=None,
        now=T0.timestamp() + 100,
    )
    # deliverability: a suppressed inbox, a soft bounce, a bounced registration
    from regflow.domain import Status, Suppression, SuppressionReason, mailbox_key

    store.suppress(
        Suppression(
            mailbox_key("m2@example.com"),
            "m2@example.com",
            SuppressionReason.BOUNCE,
            "smtp; 550",
            T0,
        )
    )
    store.count_soft_bounce(mailbox_key("m5@example.com"), int(T0.timestamp()), 86400)
    store.mark_undeliverable(made[2].id, Status.BOUNCED, "smtp; 550")
    store.close()
    return made


def test_migrate_data_copies_everything_and_resumes(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "regflow.db"
    made = _sqlite_installation(source, 25)
    monkeypatch.setattr(transfer, "BATCH", 4)
    with pytest.raises(InterruptedError):  # interrupted part-way
        transfer.copy(source, url, stop_after_batches=5)
    code, out = run("migrate-data", "--from", f"sqlite:///{source}", "--to", url)
    assert code == 0, out
    assert "registrations" in out and "MISMATCH" not in out
    code, again = run("migrate-data", "--from", f"sqlite:///{source}", "--to", url)
    assert code == 0 and again == out  # re-running changes nothing

    pg, lite = PostgresStore(url), SQLiteStore(source)
    try:
        assert list(pg.registrations()) == list(lite.registrations())
        assert pg.stats() == lite.stats()
        assert pg.parked() == lite.parked()
        assert pg.suppressions() == lite.suppressions() != []
        from regflow.domain import mailbox_key

        soft = mailbox_key("m5@example.com")
        assert pg.count_soft_bounce(soft, int(T0.timestamp()) + 60, 86400) == 2
        assert pg.confirmed_registration_id(made[0].addr_key) == made[0].id
        # the limits carried over: the same address is still limited, a new one is not
        later = T0 + timedelta(seconds=30)
        assert (
            pg.create_pending(
                reg("m3@example.com", later),
                address_limit=Limit(max_count=5, window_seconds=86400, min_interval_seconds=60),
                client_key=None,
                client_limit=OFF,
            )
            is CreateResult.ADDRESS_LIMITED
        )
        # new outbox rows get ids after the copied ones
        pg.create_pending(
            reg("new@example.com", later), address_limit=OFF, client_key=None, client_limit=OFF
        )
        claims = pg.claim_due(T0.timestamp() + 3600, 100)
        assert len({c.claim for c in claims}) == len(claims)
    finally:
        pg.close()
        lite.close()


def test_migrate_data_refuses_wrong_urls(tmp_path: Path) -> None:
    code, _ = run("migrate-data", "--from", "postgresql://h/db", "--to", "postgresql://h/db")
    assert code == 2
    code, _ = run(
        "migrate-data", "--from", f"sqlite:///{tmp_path}/none.db", "--to", "postgresql://h/db"
    )
    assert code == 2


def test_a_mailed_link_works_after_migrate_data_on_another_server(url: str, tmp_path: Path) -> None:
    """Keys survive a move: a link mailed by the SQLite installation, then `migrate-data` to
    PostgreSQL, then a server elsewhere (its own data directory, no secret.key) given the old
    key in the key file's form, `TOKEN_SECRET=hex:...`: the link confirms. The same hex given
    as plain text (what an operator copying secret.key did before) is another key."""
    from regflow.http import HttpApi
    from regflow.local.server import EmbeddedApp, ServeOptions
    from tests.support import events
    from tests.support.sqlite import confirm_link

    env = {
        "SENDER_EMAIL": "no-reply@example.org",
        "OWNER_EMAIL": "owner@example.org",
        "ADDRESS_MIN_INTERVAL_SECONDS": "0",
    }
    old = tmp_path / "old"
    app = EmbeddedApp(ServeOptions(data_dir=old), env=env)
    try:
        app.intake.register("Zoe", "zoe@example.com")
        assert app.worker.run_once() == 1
        [stored] = app.mailbox.messages()
        mailed = app.mailbox.message(stored.id)
        assert mailed is not None
        token = confirm_link(mailed).split("token=", 1)[1]
    finally:
        app.close()
    code, out = run("migrate-data", "--from", f"sqlite:///{old / 'regflow.db'}", "--to", url)
    assert code == 0, out
    key_file = old / "secret.key"
    assert f"TOKEN_SECRET=hex:$(cat {key_file})" in out
    key_hex = key_file.read_text().strip()
    assert key_hex not in out  # the key itself is never printed

    def confirm_on_a_new_server(secret: str, name: str) -> str:
        moved = EmbeddedApp(
            ServeOptions(data_dir=tmp_path / name),
            env={**env, "DATABASE_URL": url, "TOKEN_SECRET": secret},
        )
        try:
            api = HttpApi(moved.intake, moved.settings.http)
            answer = api.handle(events.http_event("GET", "/confirm", query={"token": token}))
            return str(answer["headers"]["Location"]).rsplit("status=", 1)[1]
        finally:
            moved.close()

    assert confirm_on_a_new_server(key_hex, "as-text") == "invalid"  # the old trap
    assert confirm_on_a_new_server(f"hex:{key_hex}", "as-key") == "confirmed"
    assert not (tmp_path / "as-key" / "secret.key").exists()  # no key of its own was made


def test_token_secret_in_the_key_files_form_is_checked() -> None:
    from regflow.config import token_secret_of

    assert token_secret_of("hex:" + "ab" * 32) == bytes([0xAB]) * 32
    assert token_secret_of("x" * 32) == b"x" * 32
    for bad in ("hex:zz" + "a" * 62, "hex:" + "ab" * 8, "short"):
        with pytest.raises(ConfigError, match="TOKEN_SECRET"):
            token_secret_of(bad)
