"""Every released version's stored state, upgraded by this code: the fixtures under
tests/fixtures/releases/<release>/ were written by that release's own code
(tools/make-release-fixtures.py, never edited). Each store (SQLite, PostgreSQL, DynamoDB) is
migrated as an operator would (`regflow migrate`; DynamoDB needs none), then every record is
read back, every owed message is delivered, every parked one too once the operator asks, and
every link mailed (or still owed) confirms, at the moment the fixtures were made plus an hour
(the links are valid for 24 hours from their registration)."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from regflow.cli import main
from regflow.config import Rules, Settings
from regflow.delivery import DeliveryService
from regflow.domain import Channel, Email, Message, MessageKind, Outcome, Registration
from regflow.intake import IntakeService
from regflow.tokens import TokenSigner

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "releases"
RELEASES = sorted(p.name for p in FIXTURES.iterdir() if (p / "manifest.json").is_file())
LINK = re.compile(r"https://\S+/confirm\?token=[A-Za-z0-9_-]+")


def manifest(release: str) -> dict[str, Any]:
    data = json.loads((FIXTURES / release / "manifest.json").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_the_first_release_is_frozen() -> None:
    assert "0.1.0" in RELEASES
    assert manifest("0.1.0")["commit"].startswith("0ca39f6")


class Recorder:
    def __init__(self) -> None:
        self.mails: list[Email] = []

    def send(self, email: Email) -> None:
        self.mails.append(email)


def migrated_output(argv: list[str]) -> str:
    out = io.StringIO()
    assert main(["migrate", *argv], out=out) == 0
    return out.getvalue()


def check_upgraded(store: Any, release: str, kind: str, *, holds_fresh: bool) -> None:
    made = manifest(release)
    facts = made["stores"][kind]
    people: dict[str, dict[str, Any]] = facts["people"]
    now = datetime.fromisoformat(facts["now"]) + timedelta(hours=1)
    signer = TokenSigner(bytes.fromhex(made["token_secret"]))
    settings = Settings.from_env(made["settings"]).mail
    sent = Recorder()
    delivery = DeliveryService(
        store=store,
        outbox=store,
        settings=settings,
        signer=signer,
        channels={Channel.EMAIL: sent},
        clock=lambda: now,
        now=now.timestamp,
    )
    intake = IntakeService(store=store, rules=Rules(), signer=signer, clock=lambda: now)

    # every record, as the release stored it
    stored: dict[str, Registration] = {r.id: r for r in store.registrations()}
    assert set(stored) == {p["id"] for p in people.values()}
    for name, person in people.items():
        r = stored[person["id"]]
        assert (r.email, r.addr_key, r.status.value) == (
            person["email"],
            person["addr_key"],
            person["status"],
        ), name

    # the parked messages, then everything owed (and the parked message due for its retry)
    by_id = {p["id"]: name for name, p in people.items()}
    parked = {(by_id[p.message.registration.id], p.message.kind.value) for p in store.parked()}
    assert parked == {(n, k) for n, p in people.items() for k in p["parked"]}

    def drain() -> list[tuple[str, str]]:
        done = []
        while claims := store.claim_due(now.timestamp(), 100):
            for claimed in claims:
                assert delivery.deliver_claimed(claimed).value == "sent", claimed
                done.append((by_id[claimed.message.registration.id], claimed.message.kind.value))
        return done

    delivered = drain()
    for name, person in people.items():  # AWS: what the stream still held, as it hands it over
        for owed in person.get("in_stream", []):
            message = Message(kind=MessageKind(owed), registration=stored[person["id"]])
            assert delivery.deliver_fresh(message).value == "sent"
            delivered.append((name, owed))
    expected = {(n, k) for n, p in people.items() for k in p["owed"] + p.get("in_stream", [])}
    assert set(delivered) == expected | {("pending-parked-retry", "verification")}
    assert store.requeue_parked(now.timestamp()) == 1  # the operator: `regflow retry-dead`
    assert drain() == [("pending-parked-operator", "verification")]
    assert store.parked() == []

    # the links: those mailed by the release, and those its owed messages carry now
    verification = {
        m.to: LINK.findall(m.text) for m in sent.mails if LINK.search(m.text) is not None
    }
    for name, person in people.items():
        if person["status"] == "PENDING" and not person["mailed"]:
            assert verification[person["email"]] == [person["link"]], name
        token = person["link"].split("token=")[1]
        outcome = intake.confirm(token)
        want = Outcome.CONFIRMED if person["status"] == "PENDING" else Outcome.ALREADY_CONFIRMED
        assert outcome is want, name
    after = {r.id: r.status.value for r in store.registrations()}
    assert set(after.values()) == {"CONFIRMED"}
    if holds_fresh:  # each new confirmation owes its owner notification, delivered as usual
        newly = {n for n, p in people.items() if p["status"] == "PENDING"}
        assert set(drain()) == {(n, "owner-notification") for n in newly}


@pytest.mark.parametrize("release", RELEASES)
def test_a_sqlite_file_of_the_release_upgrades(release: str, tmp_path: Path) -> None:
    from regflow.adapters.sqlite import SQLiteStore

    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(FIXTURES / release / "regflow.db", data / "regflow.db")
    out = migrated_output(["--data-dir", str(data)])
    assert out.startswith(f"{data / 'regflow.db'}: ")
    store = SQLiteStore(data / "regflow.db")
    try:
        check_upgraded(store, release, "sqlite", holds_fresh=True)
    finally:
        store.close()


@pytest.fixture
def restored_postgres(pg_admin_url: str, request: pytest.FixtureRequest) -> str:
    from tests.support.postgres import fresh_database, pg_bin

    release = request.node.callspec.params["release"]
    url = fresh_database(pg_admin_url, "release_" + release.replace(".", "_"))
    psql = "psql"
    bin_dir = pg_bin()
    if bin_dir is not None:
        psql = str(bin_dir / "psql")
    subprocess.run(
        [
            psql,
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-f",
            str(FIXTURES / release / "postgres.sql"),
            url,
        ],
        check=True,
        capture_output=True,
    )
    return url


@pytest.mark.parametrize("release", RELEASES)
def test_a_postgres_dump_of_the_release_upgrades(release: str, restored_postgres: str) -> None:
    from regflow.adapters.postgres import PostgresStore

    out = migrated_output(["--database-url", restored_postgres])
    assert "applied" in out or "already up to date" in out
    store = PostgresStore(restored_postgres, migrate_schema=False)
    try:
        check_upgraded(store, release, "postgres", holds_fresh=True)
    finally:
        store.close()


@pytest.mark.parametrize("release", RELEASES)
def test_dynamodb_items_of_the_release_work_on_the_table_of_now(release: str) -> None:
    """The table as this template.yaml declares it (indexes included), holding the release's
    items: DynamoDB has no schema to migrate."""
    from regflow.adapters.dynamodb import DynamoDBStore
    from tests.support.aws import client, create_table_from_template, mock_aws_serialized

    items = json.loads((FIXTURES / release / "dynamodb.json").read_text(encoding="utf-8"))
    with mock_aws_serialized():
        ddb = client("dynamodb")
        name = create_table_from_template(ddb)
        for item in items["items"]:
            ddb.put_item(TableName=name, Item=item)
        check_upgraded(DynamoDBStore(ddb, name), release, "dynamodb", holds_fresh=False)
