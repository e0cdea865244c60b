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
from regflow.domain import SuppressionReason
from regflow.feedback import suppressed
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
    assert run_cli("suppression", "add", "jane.doe+NEWS@example.com", *d)[1].endswith(
        "already suppressed\n"
    )  # the same address, case aside
    code, listed = run_cli("suppression", "list", *d)
    assert code == 0
    assert "operator" in listed and "J***@example.com" in listed and "Doe" not in listed
    assert listed.endswith("1 suppressed\n")
    assert "Jane.Doe+news@example.com" in run_cli("suppression", "list", "--full", *d)[1]
    store = SQLiteStore(data / "regflow.db")
    try:
        entry = suppressed(store, "jane.doe+news@example.com")
        assert entry is not None and entry.reason is SuppressionReason.OPERATOR
        assert suppressed(store, "jane.doe@example.com") is None  # another address
    finally:
        store.close()
    assert run_cli("suppression", "remove", "jane.doe@example.com", *d)[0] == 1
    assert run_cli("suppression", "remove", "jane.doe+news@example.com", *d) == (
        0,
        "j***@example.com: lifted\n",
    )
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
        assert suppressed(store, "Zoe@example.com") is not None
        code, listed = run("list", "--full")
        assert code == 0 and "zoe@example.com" in listed and listed.endswith("1 suppressed\n")
        assert run("remove", "zoe+x@example.com")[0] == 1  # another address
        assert run("remove", "Zoe@example.com") == (0, "Z***@example.com: lifted\n")
        assert store.suppressions() == []
