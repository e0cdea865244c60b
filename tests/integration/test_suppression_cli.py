"""`regflow suppression list|add|remove` on both paths: the embedded SQLite database, and an
AWS stack's table (moto DynamoDB; the table's name from the stack's outputs through botocore's
Stubber, as moto's CloudFormation needs packages the suite does not install)."""

from __future__ import annotations

import argparse
import io
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from regflow.adapters.sqlite import SQLiteStore
from regflow.cli import build_parser, main
from regflow.domain import SuppressionReason, mailbox_key
from regflow.ops import suppression
from regflow.ops.stack import StackError, table_for_stack
from tests.support.aws import REGION, dynamodb_store


def run_cli(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), out)
    return code, out.getvalue()


def test_embedded_add_list_remove(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    data = tmp_path / "data"
    data.mkdir()
    SQLiteStore(data / "regflow.db").close()
    d = ["--data-dir", str(data)]
    assert run_cli("suppression", "add", "Jane.Doe+news@Example.com", *d) == (
        0,
        "J***@example.com: suppressed\n",
    )
    assert run_cli("suppression", "add", "jane.doe@example.com", *d)[1].endswith(
        "already suppressed\n"
    )  # one inbox
    code, listed = run_cli("suppression", "list", *d)
    assert code == 0
    assert "operator" in listed and "J***@example.com" in listed and "Doe" not in listed
    assert listed.endswith("1 suppressed\n")
    assert "Jane.Doe+news@example.com" in run_cli("suppression", "list", "--full", *d)[1]
    store = SQLiteStore(data / "regflow.db")
    try:
        entry = store.suppression(mailbox_key("jane.doe@example.com"))
        assert entry is not None and entry.reason is SuppressionReason.OPERATOR
    finally:
        store.close()
    assert run_cli("suppression", "remove", "jane.doe+other@example.com", *d) == (
        0,
        "j***@example.com: lifted\n",
    )
    assert run_cli("suppression", "remove", "jane.doe@example.com", *d)[0] == 1
    assert run_cli("suppression", "list", *d)[1] == "0 suppressed\n"


def test_embedded_without_a_database_says_so(tmp_path: Path) -> None:
    assert run_cli("suppression", "list", "--data-dir", str(tmp_path / "none"))[0] == 2


def stubbed_cloudformation(outputs: list[dict[str, str]] | None, stack: str = "site-a") -> Any:
    client = boto3.client(
        "cloudformation",
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    stub = Stubber(client)
    if outputs is None:
        stub.add_client_error(
            "describe_stacks",
            service_error_code="ValidationError",
            service_message=f"Stack with id {stack} does not exist",
            expected_params={"StackName": stack},
        )
    else:
        stub.add_response(
            "describe_stacks",
            {
                "Stacks": [
                    {
                        "StackName": stack,
                        "CreationTime": "2026-11-26T12:00:00Z",
                        "StackStatus": "CREATE_COMPLETE",
                        "Outputs": [
                            {"OutputKey": k, "OutputValue": v}
                            for o in outputs
                            for k, v in o.items()
                        ],
                    }
                ]
            },
            {"StackName": stack},
        )
    stub.activate()
    return client


def test_table_for_stack_reads_the_output() -> None:
    client = stubbed_cloudformation([{"TableName": "site-a-registrations", "ApiUrl": "https://x/"}])
    assert table_for_stack("site-a", REGION, client=client) == "site-a-registrations"
    with pytest.raises(StackError, match="no TableName"):
        table_for_stack("site-a", REGION, client=stubbed_cloudformation([{"ApiUrl": "x"}]))
    with pytest.raises(StackError, match="does not exist"):
        table_for_stack("site-a", REGION, client=stubbed_cloudformation(None))


def test_stack_add_list_remove() -> None:
    with dynamodb_store() as store:
        dynamodb = store._client
        table = store._table

        def clients(service: str, region: str | None) -> Any:
            assert region == REGION
            if service == "cloudformation":
                return stubbed_cloudformation([{"TableName": table}])
            return dynamodb

        def run(*argv: str) -> tuple[int, str]:
            args: argparse.Namespace = build_parser().parse_args(
                ["suppression", *argv, "--stack", "site-a", "--region", REGION]
            )
            opened, close = suppression.open_list(args, clients=clients)
            out = io.StringIO()
            try:
                return suppression.run(args, out, opened), out.getvalue()
            finally:
                close()

        assert run("add", "zoe@example.com") == (0, "z***@example.com: suppressed\n")
        assert store.suppression(mailbox_key("Zoe@example.com")) is not None
        code, listed = run("list", "--full")
        assert code == 0 and "zoe@example.com" in listed and listed.endswith("1 suppressed\n")
        assert run("remove", "zoe+x@example.com") == (0, "z***@example.com: lifted\n")
        assert store.suppressions() == []


def seed_mistake(store: Any, now: Any) -> dict[str, Any]:
    """What a relay mistake an hour ago left (before the classifier and breaker), beside a
    real bounce two days ago and a complaint: registrations BOUNCED, inboxes suppressed."""
    from datetime import timedelta

    from regflow.domain import Limit, Registration, Status, Suppression
    from regflow.tokens import new_registration_id

    off = Limit(max_count=0, window_seconds=3600)
    made: dict[str, Any] = {}
    for email, hours_ago, reason, diagnostic in [
        ("ann@example.com", 1, SuppressionReason.REFUSED, "SMTP554"),
        ("bob@example.net", 1, SuppressionReason.REFUSED, "SMTP554"),
        ("cem@example.org", 1, SuppressionReason.REFUSED, "SMTP550"),
        ("old@example.com", 48, SuppressionReason.REFUSED, "SMTP554"),
        ("spam@example.com", 1, SuppressionReason.COMPLAINT, "abuse"),
    ]:
        at = now - timedelta(hours=hours_ago)
        r = Registration(
            new_registration_id(), "N", email, Status.PENDING, at, int(at.timestamp()) + 86400
        )
        store.create_pending(r, address_limit=off, client_key=None, client_limit=off)
        for claimed in getattr(store, "claim_due", lambda *_: [])(now.timestamp(), 100):
            store.drop(claimed.message, error=diagnostic, claimed=claimed)
        status = Status.COMPLAINED if reason is SuppressionReason.COMPLAINT else Status.BOUNCED
        store.mark_undeliverable(r.id, status, diagnostic)
        store.suppress(Suppression(mailbox_key(email), email, reason, diagnostic, at))
        made[email] = r
    return made


def test_embedded_lift_since_undoes_a_mistake(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from regflow.domain import Status, utcnow

    monkeypatch.delenv("DATABASE_URL", raising=False)
    data = tmp_path / "data"
    data.mkdir()
    now = utcnow()
    store = SQLiteStore(data / "regflow.db")
    try:
        made = seed_mistake(store, now)
    finally:
        store.close()
    d = ["--data-dir", str(data)]
    code, dry = run_cli(
        "suppression", "lift", "--since", "3h", "--code", "SMTP554", "--dry-run", *d
    )
    assert code == 0 and dry.endswith(
        "2 would be lifted; 2 bounced registrations would be PENDING again\n"
    )
    assert "a***@example.com" in dry and "ann" not in dry
    assert run_cli("suppression", "list", *d)[1].endswith("5 suppressed\n")  # nothing changed

    code, out = run_cli("suppression", "lift", "--since", "3h", *d)
    assert code == 0
    assert out.endswith(
        "3 lifted; 3 bounced registrations PENDING again, 3 verification mails owed again"
        " (a running server sends it at its next poll)\n"
    )
    store = SQLiteStore(data / "regflow.db")
    try:
        left = {e.email for e in store.suppressions()}
        assert left == {"old@example.com", "spam@example.com"}  # older; a person's complaint
        for email in ("ann@example.com", "bob@example.net", "cem@example.org"):
            got = store.get(made[email].id)
            assert got is not None and (got.status, got.delivery_failure) == (Status.PENDING, None)
        owed = store.claim_due(now.timestamp() + 1, 10)
        assert sorted(c.message.registration.email for c in owed) == [
            "ann@example.com",
            "bob@example.net",
            "cem@example.org",
        ]
    finally:
        store.close()
    assert run_cli("suppression", "lift", "--since", "3h", *d)[1].startswith("0 lifted")
    code, out = run_cli("suppression", "lift", "--since", "2026-01-01", "--reason", "complaint", *d)
    assert code == 0 and out.startswith("2026") and "1 lifted; 0 bounced" in out


def test_lift_refuses_a_bad_time(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["suppression", "lift", "--since", "yesterday"])


def test_stack_lift_since_owes_the_mail_to_the_recovery() -> None:
    from regflow.domain import Status, utcnow

    with dynamodb_store() as store:
        dynamodb = store._client
        table = store._table
        now = utcnow()
        made = seed_mistake(store, now)

        def clients(service: str, region: str | None) -> Any:
            if service == "cloudformation":
                return stubbed_cloudformation([{"TableName": table}])
            return dynamodb

        args: argparse.Namespace = build_parser().parse_args(
            ["suppression", "lift", "--since", "3h", "--stack", "site-a", "--region", REGION]
        )
        opened, close = suppression.open_list(args, clients=clients)
        out = io.StringIO()
        try:
            assert suppression.run(args, out, opened) == 0
        finally:
            close()
        assert out.getvalue().endswith(
            "3 lifted; 3 bounced registrations PENDING again, 3 verification mails owed again"
            " (the stack's recovery function sends it within minutes)\n"
        )
        assert {e.email for e in store.suppressions()} == {"old@example.com", "spam@example.com"}
        got = store.get(made["ann@example.com"].id)
        assert got is not None and got.status is Status.PENDING
        import time

        parked = store.claim_due(time.time() + 1, 10)  # due since the command ran
        assert sorted(c.message.registration.email for c in parked) == [
            "ann@example.com",
            "bob@example.net",
            "cem@example.org",
        ]


def test_stats_shows_every_status_the_suppressions_and_the_24h_rates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from regflow.domain import utcnow

    monkeypatch.delenv("DATABASE_URL", raising=False)
    data = tmp_path / "data"
    data.mkdir()
    store = SQLiteStore(data / "regflow.db")
    try:
        seed_mistake(store, utcnow())
    finally:
        store.close()
    code, out = run_cli("stats", "--data-dir", str(data), "--chart", "never")
    assert code == 0
    lines = out.splitlines()
    for line in (
        "pending: 0",
        "confirmed: 0",
        "bounced: 4",
        "complained: 1",
        "suppressed: 5",
        "bounce_rate_24h: 75.0% (3 of 4 registered in 24 h)",
        "complaint_rate_24h: 25.0% (1 of 4 registered in 24 h)",
    ):
        assert line in lines, out
