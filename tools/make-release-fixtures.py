#!/usr/bin/env python3
"""Freeze a release's stored state into fixtures the suite upgrades (tests/integration/
test_release_upgrade.py): a SQLite file, a PostgreSQL dump (plain SQL) and DynamoDB items
(JSON), each written by that release's own code, each holding pending and confirmed
registrations, owed and parked messages, and the links mailed so far (in `manifest.json`, with
the signing key that made them).

    .venv/bin/python tools/make-release-fixtures.py --release 0.1.0 --commit 0ca39f6

It checks the commit out into a temporary `git worktree`, runs the release's code from there
(this script's second half, `--generate`, with that worktree's `src` first on the path; the
test support code for the throwaway PostgreSQL cluster and moto comes from this checkout) and
writes `tests/fixtures/releases/<release>/`. Needs Debian's postgresql (initdb, pg_dump) and
the dev virtualenv (moto). Run once per release, commit the result; never edit the files."""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "fixtures" / "releases"

# Fixed inputs: ids, times and the key are the same every time the fixtures are made (a parked
# message's next retry carries the delivery policy's random jitter).
SECRET = bytes(range(32, 64))  # the signing key of every link in the fixtures (test only)
T0 = datetime(2026, 11, 29, 22, 0, tzinfo=UTC)
SETTINGS = {
    "SENDER_EMAIL": "no-reply@example.com",
    "OWNER_EMAIL": "owner@example.com",
    "API_BASE_URL": "https://signup.example.com",
    "SUCCESS_URL": "https://signup.example.com/confirmed.html",
    "SITE_NAME": "Fixture Club",
}
# name -> (email, what happens to it)
PEOPLE = {
    "confirmed-notified": "ada@example.com",  # mailed, confirmed, owner notified
    "pending-mailed": "grace@example.com",  # mailed, not clicked yet
    "pending-parked-operator": "edsger@example.com",  # verification parked for an operator
    "pending-parked-retry": "barbara@example.com",  # verification parked, retried by itself
    "confirmed-owed": "alan@example.com",  # mailed, confirmed, owner notification owed
    "pending-owed": "margaret@example.com",  # verification owed, never sent
}
LINK = re.compile(r"https://\S+/confirm\?token=[A-Za-z0-9_-]+")


# --- the driver: a worktree of the release, this script run from it --------------------------


def drive(release: str, commit: str) -> None:
    target = OUT / release
    work = Path(tempfile.mkdtemp(prefix=f"regflow-{release}-"))
    tree = work / "tree"
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), commit],
        check=True,
        capture_output=True,
    )
    try:
        full = subprocess.run(
            ["git", "-C", str(tree), "rev-parse", "HEAD"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        staging = work / "out"
        staging.mkdir()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tree / "src"), str(ROOT)])}
        subprocess.run(
            [
                sys.executable,
                str(Path(__file__).resolve()),
                "--generate",
                "--release",
                release,
                "--commit",
                full,
                "--source",
                str(tree),
                "--out",
                str(staging),
            ],
            check=True,
            env=env,
            cwd=work,
        )
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(staging, target)
        print(f"fixtures of {release} ({full[:7]}) in {target.relative_to(ROOT)}")
    finally:
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)],
            check=False,
            capture_output=True,
        )
        shutil.rmtree(work, ignore_errors=True)


# --- the generator: runs on the release's own code ----------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.at = T0

    def __call__(self) -> datetime:
        return self.at

    def epoch(self) -> float:
        return self.at.timestamp()

    def tick(self, seconds: float = 1.0) -> None:
        self.at += timedelta(seconds=seconds)


def scenario(store: Any, holds_fresh: bool) -> dict[str, Any]:
    """Every state of `PEOPLE` on `store`, as the release's services make them."""
    from regflow.config import Rules, Settings
    from regflow.delivery import DeliveryService
    from regflow.domain import (
        Channel,
        DeliveryError,
        FailureClass,
        Message,
        MessageKind,
        Registration,
    )
    from regflow.intake import IntakeService
    from regflow.tokens import TokenSigner

    clock = Clock()
    signer = TokenSigner(SECRET)
    rules = Rules()
    settings = Settings.from_env(SETTINGS).mail
    intake = IntakeService(store=store, rules=rules, signer=signer, clock=clock)

    class Recorder:
        def __init__(self) -> None:
            self.mails: list[Any] = []

        def send(self, email: Any) -> None:
            self.mails.append(email)

    class Refusing:
        def send(self, email: Any) -> None:
            raise DeliveryError(
                "sending paused", failure=FailureClass.ACCOUNT, code="AccountSendingPaused"
            )

    sent = Recorder()

    def service(channel: Any) -> DeliveryService:
        return DeliveryService(
            store=store,
            outbox=store,
            settings=settings,
            signer=signer,
            channels={Channel.EMAIL: channel},
            clock=clock,
            now=clock.epoch,
        )

    def stored(registration_id: str) -> Registration:
        for r in store.registrations():
            if r.id == registration_id:
                return r
        raise AssertionError(f"registration {registration_id} not stored")

    def deliver(kind: MessageKind, registration_id: str, channel: Any) -> None:
        """What the release's sender does with the message just owed."""
        delivery = service(channel)
        if holds_fresh:  # the embedded outbox: the worker claims it
            claims = store.claim_due(clock.epoch(), 100)
            assert [c.message.kind for c in claims] == [kind], claims
            delivery.deliver_claimed(claims[0])
        else:  # AWS: the stream hands it to the mail sender once
            delivery.deliver_fresh(
                Message(kind=kind, registration=stored(registration_id)), sleep=lambda _: None
            )

    def park_for_operator(kind: MessageKind, registration_id: str) -> None:
        """Parked after retrying longer than the policy allows: waits for `retry-dead`."""
        message = Message(kind=kind, registration=stored(registration_id))
        claimed = None
        if holds_fresh:
            (claimed,) = store.claim_due(clock.epoch(), 100)
            message = claimed.message
        store.park(
            message,
            attempts=12,
            error="AccountSendingPaused",
            at=None,
            now=clock.epoch(),
            claimed=claimed,
        )

    people: dict[str, dict[str, Any]] = {}

    def register(name: str) -> str:
        clock.tick()
        rid = base64.urlsafe_b64encode(hashlib.sha256(name.encode()).digest()[:16])
        rid = rid.rstrip(b"=").decode()
        intake.register(
            name.split("-")[0].title(),
            PEOPLE[name],
            client_key=f"198.51.100.{len(people) + 1}",
            registration_id=rid,
        )
        reg = stored(rid)
        people[name] = {
            "id": rid,
            "email": PEOPLE[name],
            "addr_key": reg.addr_key,
            # the link its verification mail carries (sent or still owed): the token is the
            # registration's id and address signed with SECRET
            "link": f"{settings.confirm_url}?token={signer.issue(rid, reg.addr_key)}",
            "mailed": False,
        }
        return rid

    def mailed(name: str) -> None:
        links = LINK.findall(sent.mails[-1].text)
        assert links == [people[name]["link"]], (links, people[name]["link"])
        people[name]["mailed"] = True

    def confirm(name: str) -> None:
        clock.tick()
        outcome = intake.confirm(people[name]["link"].split("token=")[1])
        assert outcome.value == "confirmed", outcome

    rid = register("confirmed-notified")
    deliver(MessageKind.VERIFICATION, rid, sent)
    mailed("confirmed-notified")
    confirm("confirmed-notified")
    deliver(MessageKind.OWNER_NOTIFICATION, rid, sent)

    rid = register("pending-mailed")
    deliver(MessageKind.VERIFICATION, rid, sent)
    mailed("pending-mailed")

    rid = register("pending-parked-operator")
    park_for_operator(MessageKind.VERIFICATION, rid)

    rid = register("pending-parked-retry")
    deliver(MessageKind.VERIFICATION, rid, Refusing())  # parked, retried automatically

    rid = register("confirmed-owed")
    deliver(MessageKind.VERIFICATION, rid, sent)
    mailed("confirmed-owed")
    confirm("confirmed-owed")  # its owner notification is owed from here on

    register("pending-owed")  # its verification is owed from here on
    expected = {
        "confirmed-notified": ("CONFIRMED", [], []),
        "pending-mailed": ("PENDING", [], []),
        "pending-parked-operator": ("PENDING", [], ["verification"]),
        "pending-parked-retry": ("PENDING", [], ["verification"]),
        "confirmed-owed": ("CONFIRMED", ["owner-notification"], []),
        "pending-owed": ("PENDING", ["verification"], []),
    }
    for name, (status, owed, parked) in expected.items():
        assert stored(people[name]["id"]).status.value == status, name
        # on AWS a message just owed is in the table's stream, not in the table: the items
        # cannot hold it (the suite hands it to the mail sender as the stream would)
        people[name].update(
            status=status,
            owed=owed if holds_fresh else [],
            in_stream=[] if holds_fresh else owed,
            parked=parked,
        )
    parked_now = {p.message.registration.id for p in store.parked()}
    assert parked_now == {people[n]["id"] for n, e in expected.items() if e[2]}, parked_now
    return {"now": clock().isoformat(), "people": people, "mails_sent": len(sent.mails)}


def generate_sqlite(out: Path) -> dict[str, Any]:
    from regflow.adapters.sqlite import SQLiteStore

    path = out / "regflow.db"
    store = SQLiteStore(path)
    try:
        facts = scenario(store, holds_fresh=True)
    finally:
        store.close()
    import sqlite3

    db = sqlite3.connect(path)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.execute("PRAGMA journal_mode = DELETE")  # one self-contained file
    db.execute("VACUUM")
    db.close()
    for extra in (out / "regflow.db-wal", out / "regflow.db-shm"):
        extra.unlink(missing_ok=True)
    return facts


def generate_postgres(out: Path) -> dict[str, Any]:
    from regflow.adapters.postgres import PostgresStore
    from tests.support.postgres import fresh_database, pg_bin, pg_server

    with pg_server() as admin:
        url = fresh_database(admin, "fixture")
        store = PostgresStore(url)
        try:
            facts = scenario(store, holds_fresh=True)
        finally:
            store.close()
        bin_dir = pg_bin()
        assert bin_dir is not None
        dump = subprocess.run(
            [str(bin_dir / "pg_dump"), "--no-owner", "--no-privileges", "--format=plain", url],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    # the dump's own session settings of the pg_dump that made it stay; the header comment
    # names that version
    (out / "postgres.sql").write_text(dump, encoding="utf-8")
    return facts


def generate_dynamodb(out: Path, source: Path) -> dict[str, Any]:
    import boto3

    from regflow.adapters.dynamodb import DynamoDBStore
    from tests.support.aws import REGION, create_table_from_template, mock_aws_serialized

    with mock_aws_serialized():
        client = boto3.client("dynamodb", region_name=REGION)
        name = create_table_from_template(client, source / "template.yaml")
        store = DynamoDBStore(client, name)
        facts = scenario(store, holds_fresh=False)
        items: list[dict[str, Any]] = []
        for page in client.get_paginator("scan").paginate(TableName=name, ConsistentRead=True):
            items.extend(page["Items"])
    items.sort(key=lambda item: (item["pk"]["S"], json.dumps(item, sort_keys=True)))
    (out / "dynamodb.json").write_text(
        json.dumps({"items": items}, indent=1, sort_keys=True) + "\n", encoding="utf-8"
    )
    return facts


def generate(release: str, commit: str, source: Path, out: Path) -> None:
    import regflow

    here = Path(regflow.__file__).resolve()
    assert here.is_relative_to(source.resolve()), f"regflow imported from {here}, not {source}"
    assert regflow.__version__ == release, f"{source} is regflow {regflow.__version__}"
    manifest: dict[str, Any] = {
        "release": release,
        "commit": commit,
        "made_by": "tools/make-release-fixtures.py",
        "token_secret": SECRET.hex(),
        "settings": SETTINGS,
        "stores": {},
    }
    manifest["stores"]["sqlite"] = {"file": "regflow.db", **generate_sqlite(out)}
    manifest["stores"]["postgres"] = {"file": "postgres.sql", **generate_postgres(out)}
    manifest["stores"]["dynamodb"] = {"file": "dynamodb.json", **generate_dynamodb(out, source)}
    (out / "manifest.json").write_text(
        json.dumps(manifest, indent=1, sort_keys=True) + "\n", encoding="utf-8"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--release", required=True, help="the version, e.g. 0.1.0")
    parser.add_argument("--commit", required=True, help="the release's commit")
    parser.add_argument("--generate", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--source", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate:
        generate(args.release, args.commit, args.source, args.out)
    else:
        drive(args.release, args.commit)


if __name__ == "__main__":
    main()
