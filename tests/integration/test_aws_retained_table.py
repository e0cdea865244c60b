"""Issue 27: the registrations table (the proof of consent) outlives `make destroy`: the
template retains it and protects it from deletion; only DELETE_DATA=yes deletes it; a deploy
of a stack whose retained table still exists is refused with the two commands, and
REUSE_TABLE=yes adopts it into the new stack (a CloudFormation IMPORT, under Stubber: moto
has no resource import)."""

from __future__ import annotations

import io
import json
import os
import subprocess
from pathlib import Path

import boto3
import pytest
from botocore.stub import ANY, Stubber

from regflow.ops import deploy
from tests.integration.test_deploy_preflight import (
    ENV,
    ROOT,
    SENDER,
    FakeSession,
    account,
    identity,
    no_stack,
    run,
    run_deploy_sh,
    stand_in,
)
from tests.support.aws import REGION, create_table_from_template, load_template, mock_aws_serialized


def test_the_template_keeps_the_table_on_delete_and_replacement() -> None:
    table = load_template()["Resources"]["UserRegistrations"]
    assert table["DeletionPolicy"] == "Retain"
    assert table["UpdateReplacePolicy"] == "Retain"
    assert table["Properties"]["DeletionProtectionEnabled"] is True


def retained(s: FakeSession, table: str = "regflow-registrations") -> None:
    s.stub("cloudformation").add_client_error(
        "describe_stacks", "ValidationError", "Stack with id regflow does not exist"
    )
    s.stub("dynamodb").add_response(
        "describe_table",
        {"Table": {"TableName": table, "ItemCount": 1234, "DeletionProtectionEnabled": True}},
        {"TableName": table},
    )


def test_a_deploy_finding_the_retained_table_names_both_ways_on() -> None:
    s = FakeSession()
    retained(s)
    code, out, err = run(ENV, s)
    assert code == 1 and out == ""
    assert "table regflow-registrations in eu-west-1 still exists (about 1234 items)" in err
    assert "make deploy STACK=regflow REGION=eu-west-1 REUSE_TABLE=yes" in err
    assert "make destroy STACK=regflow REGION=eu-west-1 DELETE_DATA=yes" in err


def test_the_table_name_given_is_the_one_looked_for() -> None:
    s = FakeSession()
    retained(s, "UserRegistrations")
    code, _, err = run({**ENV, "TABLE_NAME": "UserRegistrations"}, s)
    assert code == 1 and "table UserRegistrations in eu-west-1 still exists" in err


def test_reuse_table_deploys_with_a_note() -> None:
    s = FakeSession()
    retained(s)
    identity(s, SENDER, True)
    account(s, True)
    code, out, err = run({**ENV, "REUSE_TABLE": "yes"}, s)
    assert code == 0, err
    assert out.splitlines()[0] == "eu-west-1"
    assert "adopts the existing table regflow-registrations" in err


def test_an_existing_stack_is_not_asked_about_its_table() -> None:
    s = FakeSession()
    s.stub("cloudformation").add_response(
        "describe_stacks",
        {
            "Stacks": [
                {
                    "StackName": "regflow",
                    "StackStatus": "UPDATE_COMPLETE",
                    "CreationTime": "2026-01-01T00:00:00Z",
                    "Parameters": [{"ParameterKey": "TableName", "ParameterValue": ""}],
                }
            ]
        },
    )
    identity(s, SENDER, True)
    account(s, True)
    code, _, err = run(ENV, s)
    assert code == 0, err
    assert "dynamodb" not in s.stubs  # no DescribeTable for a stack that owns its table


def test_no_stack_and_no_table_is_a_first_deploy() -> None:
    s = FakeSession()
    no_stack(s)
    identity(s, SENDER, True)
    account(s, True)
    code, _, err = run(ENV, s)
    assert code == 0, err
    s.stubs["dynamodb"].assert_no_pending_responses()


# --- delete-table and adopt-table -----------------------------------------------------------


def test_delete_table_lifts_the_protection_then_deletes() -> None:
    with mock_aws_serialized():
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        table = create_table_from_template(dynamodb)
        dynamodb.update_table(TableName=table, DeletionProtectionEnabled=True)
        with pytest.raises(dynamodb.exceptions.ClientError):
            dynamodb.delete_table(TableName=table)  # what the protection is for
        assert deploy.delete_table(dynamodb, table) == (
            f"table {table} deleted, with every registration in it"
        )
        assert deploy.describe_table(dynamodb, table) is None
        assert deploy.delete_table(dynamodb, table) == f"no table {table}: nothing to delete"


def test_adopt_table_imports_the_described_table_into_a_new_stack() -> None:
    with mock_aws_serialized():
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        table = create_table_from_template(dynamodb)
        described = dynamodb.describe_table(TableName=table)["Table"]
        cfn = boto3.client("cloudformation", region_name=REGION)
        stub = Stubber(cfn)
        stub.add_client_error(
            "describe_stacks", "ValidationError", "Stack with id site does not exist"
        )
        stub.add_response(
            "create_change_set",
            {"Id": "arn:cs", "StackId": "arn:stack"},
            {
                "StackName": "site",
                "ChangeSetName": "site-adopt-table",
                "ChangeSetType": "IMPORT",
                "TemplateBody": ANY,
                "ResourcesToImport": [
                    {
                        "ResourceType": "AWS::DynamoDB::Table",
                        "LogicalResourceId": "UserRegistrations",
                        "ResourceIdentifier": {"TableName": table},
                    }
                ],
                "Tags": ANY,
            },
        )
        stub.add_response(
            "execute_change_set", {}, {"StackName": "site", "ChangeSetName": "site-adopt-table"}
        )
        with stub:
            said = deploy.adopt_table(cfn, dynamodb, "site", table, wait=False)
        stub.assert_no_pending_responses()
    assert said == f"stack site created around the existing table {table}"
    imported = deploy.import_template(described)["Resources"]["UserRegistrations"]
    assert imported["DeletionPolicy"] == "Retain"  # IMPORT requires one
    props = imported["Properties"]
    declared = load_template()["Resources"]["UserRegistrations"]["Properties"]
    # the keys and indexes as the template declares them (the deploy after it changes nothing)
    assert props["KeySchema"] == declared["KeySchema"]
    assert [i["IndexName"] for i in props["GlobalSecondaryIndexes"]] == [
        i["IndexName"] for i in declared["GlobalSecondaryIndexes"]
    ]
    assert {a["AttributeName"] for a in props["AttributeDefinitions"]} == {
        a["AttributeName"] for a in declared["AttributeDefinitions"]
    }
    assert props["StreamSpecification"] == declared["StreamSpecification"]
    json.dumps(deploy.import_template(described))  # a template body CloudFormation reads


def test_table_command_names_the_stacks_table_or_the_default() -> None:
    s = FakeSession()
    s.stub("cloudformation").add_response(
        "describe_stacks",
        {
            "Stacks": [
                {
                    "StackName": "regflow",
                    "StackStatus": "UPDATE_COMPLETE",
                    "CreationTime": "2026-01-01T00:00:00Z",
                    "Outputs": [{"OutputKey": "TableName", "OutputValue": "UserRegistrations"}],
                }
            ]
        },
    )
    s.stub("cloudformation").add_client_error(
        "describe_stacks", "ValidationError", "Stack with id regflow does not exist"
    )
    out = io.StringIO()
    assert deploy.main(["table", "regflow"], ENV, session_factory=s, out=out) == 0
    assert deploy.main(["table", "regflow"], ENV, session_factory=s, out=out) == 0
    assert out.getvalue().splitlines() == [
        "UserRegistrations present",
        "regflow-registrations absent",
    ]


# --- destroy.sh and deploy.sh, with stand-in tools ------------------------------------------


def run_destroy_sh(
    tmp_path: Path, *, stack_state: str = "present", **env: str
) -> tuple[int, list[str], str]:
    calls = tmp_path / "calls"
    python = stand_in(
        tmp_path / "python",
        f'echo "python $* TABLE_NAME=${{TABLE_NAME:-}}" >> {calls}\n'
        'case "$3" in\n'
        "  region) echo eu-west-1 ;;\n"
        f"  table) echo 'site-registrations {stack_state}' ;;\n"
        "esac\n",
    )
    sam = stand_in(tmp_path / "sam", f'echo "sam $*" >> {calls}\n')
    done = subprocess.run(
        ["bash", str(ROOT / "deploy" / "destroy.sh")],
        env={
            "PATH": os.environ["PATH"],
            "PYTHON": str(python),
            "SAM": str(sam),
            "STACK": "site",
            "HOME": str(tmp_path),
            **env,
        },
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    lines = calls.read_text(encoding="utf-8").splitlines() if calls.exists() else []
    return done.returncode, lines, done.stdout + done.stderr


def test_destroy_keeps_the_table_and_says_how_to_reuse_or_delete_it(tmp_path: Path) -> None:
    code, calls, said = run_destroy_sh(tmp_path)
    assert code == 0, said
    assert any(c.startswith("sam delete --stack-name site") for c in calls)
    assert not any("delete-table" in c for c in calls)
    assert "table site-registrations is kept" in said
    assert "REUSE_TABLE=yes" in said and "DELETE_DATA=yes" in said


def test_destroy_with_delete_data_deletes_the_table_after_the_stack(tmp_path: Path) -> None:
    code, calls, said = run_destroy_sh(tmp_path, DELETE_DATA="yes")
    assert code == 0, said
    order = [c.split()[0] + " " + c.split()[1] for c in calls]
    deleted = calls.index(
        "python -m regflow.ops.deploy delete-table site TABLE_NAME=site-registrations"
    )
    assert order.index("sam delete") < deleted


def test_destroy_of_a_stack_already_gone_deletes_only_its_table(tmp_path: Path) -> None:
    code, calls, said = run_destroy_sh(tmp_path, stack_state="absent", DELETE_DATA="yes")
    assert code == 0, said
    assert not any(c.startswith("sam") for c in calls)
    assert any("delete-table site" in c for c in calls)


def test_destroy_refuses_a_delete_data_it_does_not_understand(tmp_path: Path) -> None:
    code, calls, said = run_destroy_sh(tmp_path, DELETE_DATA="y")
    assert code == 2 and "DELETE_DATA=yes" in said
    assert not any(c.startswith("sam") for c in calls)


def test_deploy_sh_adopts_the_table_before_deploying(tmp_path: Path) -> None:
    code, calls, err = run_deploy_sh(
        tmp_path, f"eu-west-1\nSenderEmail={SENDER}", REUSE_TABLE="yes"
    )
    assert code == 0, err
    lines = calls.splitlines()
    adopt = lines.index("python -m regflow.ops.deploy adopt-table staging")
    assert adopt < lines.index("sam-arg:deploy")


def test_deploy_sh_adopts_nothing_unless_asked(tmp_path: Path) -> None:
    code, calls, err = run_deploy_sh(tmp_path, f"eu-west-1\nSenderEmail={SENDER}")
    assert code == 0, err
    assert "adopt-table" not in calls
