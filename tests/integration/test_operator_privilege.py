"""Least privilege for the operator's commands on a stack (issue 12), both ways, against the
documentation itself: docs/registrations.md lists the IAM actions each command needs (a table)
and a JSON policy. Every command runs under moto (tests/support/opstack.py) and every AWS call
it makes is recorded as the IAM request AWS would authorize. Then:

1. each request's action is in the command's row of the table, and the policy allows it;
2. every action of a command's row was used by that command, and every action and resource of
   every policy statement was used by some command (nothing documented that is not needed).
"""

from __future__ import annotations

import dataclasses
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from regflow.adapters.dynamodb import keys
from regflow.cli import main
from regflow.domain import Status
from tests.integration.test_operator_stack import NOW, seed
from tests.support import iam
from tests.support.aws import ACCOUNT, REGION
from tests.support.opstack import OperatorStack, Recorded, operator_stack

DOC = Path(__file__).resolve().parents[2] / "docs" / "registrations.md"

# each command as the operator runs it, in the variants that make different calls
RUNS = {
    "list": [["list"], ["list", "--status", "CONFIRMED", "--full"]],
    "export": [["export", "--format", "json"], ["export", "--since", "2020-01-01"]],
    "export --status PENDING": [["export", "--status", "PENDING"]],
    "stats": [["stats"]],
    "delete": [["delete", "--email", "p0@example.com"]],
    "reindex": [["reindex"]],
    "resend": [
        ["resend", "--email", "p3@example.com"],  # sent
        ["resend", "--email", "p3@example.com"],  # limited
        ["resend", "--email", "p1@example.com"],  # confirmed
        ["resend", "--email", "nobody@example.com"],  # unknown
    ],
}


def documented_rows() -> dict[str, set[str]]:
    """The IAM table: `command -> actions` (the `--stack` row applies to every command)."""
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## Operator commands: IAM", 1)[1]
    rows: dict[str, set[str]] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not cells[1].startswith("`"):
            continue
        command = cells[0].strip("`")
        rows[command] = set(re.findall(r"`([a-z]+:[A-Za-z]+)`", cells[1]))
    every = rows.pop("every command with `--stack", None) or rows.pop(
        "every command with --stack", set()
    )
    assert every == {"cloudformation:DescribeStacks"}, every
    return {command: actions | every for command, actions in rows.items()}


def documented_policy(stack: OperatorStack) -> list[iam.Statement]:
    text = DOC.read_text(encoding="utf-8")
    block = text.split("<!-- operator-policy -->", 1)[1].split("```json", 1)[1].split("```")[0]
    for placeholder, value in {
        "REGION": REGION,
        "ACCOUNT_ID": ACCOUNT,
        "STACK": stack.name,
        "TABLE": stack.table,
    }.items():
        block = re.sub(rf"\b{placeholder}\b", value, block)
    statements = []
    for raw in json.loads(block)["Statement"]:
        assert raw["Effect"] == "Allow" and "Condition" not in raw
        statements.append(
            iam.Statement(
                sid=raw["Sid"],
                actions=tuple(raw["Action"])
                if isinstance(raw["Action"], list)
                else (raw["Action"],),
                resources=(raw["Resource"],),
                conditions={},
            )
        )
    return statements


def requests_of(call: Recorded, stack: OperatorStack) -> list[iam.Request]:
    """The IAM requests of one recorded call (`iam.requests_for` for the item operations)."""
    table_arn = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{stack.table}"
    if call.service == "cloudformation" and call.operation == "DescribeStacks":
        return [iam.Request("cloudformation:DescribeStacks", stack.stack_arn)]
    if call.service == "dynamodb" and call.operation == "Scan":
        return [iam.Request("dynamodb:Scan", table_arn)]
    arns = iam.Arns(region=REGION, account=ACCOUNT)
    return iam.requests_for(iam.Call(call.command, call.service, call.operation, call.params), arns)


@pytest.fixture(scope="module")
def recorded() -> Iterator[tuple[OperatorStack, dict[str, list[iam.Request]]]]:
    with operator_stack() as stack:
        made = seed(stack, confirmed=2, pending=2)  # p0, p1 confirmed; p2, p3 pending
        # and one confirmed before the index existed (no confirmedShard): for `reindex`
        old = dataclasses.replace(made[2], id="old" + made[2].id[3:], email="p8@example.com")
        old = dataclasses.replace(old, status=Status.CONFIRMED, ttl=None, confirmed_at=NOW)
        stack.seeding_client().put_item(TableName=stack.table, Item=keys.registration_item(old))
        requests: dict[str, list[iam.Request]] = {}
        for command, variants in RUNS.items():
            for argv in variants:
                before = len(stack.calls)
                with stack.acting_as(command):
                    code = main([*argv, "--stack", stack.name, "--region", REGION], io.StringIO())
                assert code in (0, 1), (argv, code)
                calls = stack.calls[before:]
                requests.setdefault(command, []).extend(
                    r for call in calls for r in requests_of(call, stack)
                )
        yield stack, requests


def test_every_call_is_documented_and_allowed(
    recorded: tuple[OperatorStack, dict[str, list[iam.Request]]],
) -> None:
    stack, requests = recorded
    rows = documented_rows()
    policy = documented_policy(stack)
    assert set(rows) == set(RUNS)
    for command, made in requests.items():
        for request in made:
            assert request.action in rows[command], f"{command}: {request.action} not documented"
            assert iam.is_allowed(policy, request), f"{command}: policy denies {request}"


def test_nothing_documented_is_unneeded(
    recorded: tuple[OperatorStack, dict[str, list[iam.Request]]],
) -> None:
    stack, requests = recorded
    rows = documented_rows()
    for command, actions in rows.items():
        used = {r.action for r in requests[command]}
        assert actions == used, f"{command}: documented {sorted(actions - used)} unused"
    every = [r for made in requests.values() for r in made]
    for statement in documented_policy(stack):
        for action in statement.actions:
            for resource in statement.resources:
                assert any(
                    iam.wildcard(action, r.action) and iam.wildcard(resource, r.resource)
                    for r in every
                ), f"{statement.sid}: {action} on {resource} is never used"
