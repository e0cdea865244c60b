"""The Lambda wiring under moto: what each function touches per request, configuration
failures, the token secret from Secrets Manager, and the stream filter the template declares."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest

from regflow import aws, logs
from regflow.adapters.dynamodb import FILTER_PATTERNS, message_from_record
from regflow.domain import ConfigError
from tests.support.aws import (
    ROOT,
    TOKEN_RE,
    Stack,
    StreamReader,
    aws_stack,
    count_calls,
    load_template,
    matches,
    matches_any,
)
from tests.support.events import http_event, json_post


@pytest.fixture
def stack() -> Iterator[Stack]:
    with aws_stack() as s:
        yield s


def register_and_link(stack: Stack) -> str:
    assert (
        stack.register(json_post("/register", {"name": "Jane", "email": "jane@example.com"}))[
            "statusCode"
        ]
        == 202
    )
    stack.pump()
    match = re.search(TOKEN_RE, stack.mail()[0].text)
    assert match
    return match.group(1)


# --- what each request costs ----------------------------------------------------------------------


def test_register_is_one_dynamodb_call_and_no_other_client(stack: Stack) -> None:
    aws.reset()
    clients = aws.clients()
    calls = count_calls([clients.dynamodb()])
    for i in range(3):
        event = json_post("/register", {"name": "Jane", "email": f"u{i}@example.com"})
        assert stack.register(event)["statusCode"] == 202
    assert calls == {"dynamodb.TransactWriteItems": 3}
    # no SES client; Secrets Manager only for the origin-verify value and the challenge key
    assert clients.created == {"dynamodb", "secretsmanager"}


def test_confirm_is_one_dynamodb_call_and_the_secret_once(stack: Stack) -> None:
    token = register_and_link(stack)
    aws.reset()
    clients = aws.clients()
    calls = count_calls([clients.dynamodb(), clients.secretsmanager()])
    for expected in ("confirmed", "already-confirmed", "already-confirmed"):
        response = stack.confirm(http_event("GET", "/confirm", query={"token": token}))
        assert response["headers"]["Location"].endswith(f"status={expected}")
    # the token key, the origin-verify value and the challenge key, each once (cached)
    assert calls == {"dynamodb.TransactWriteItems": 3, "secrets-manager.GetSecretValue": 3}
    assert "sesv2" not in clients.created


def test_a_forged_token_costs_no_dynamodb_call(stack: Stack) -> None:
    token = register_and_link(stack)
    aws.reset()
    calls = count_calls([aws.clients().dynamodb()])
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    response = stack.confirm(http_event("GET", "/confirm", query={"token": forged}))
    assert response["headers"]["Location"].endswith("status=invalid")
    assert calls == {}


def test_the_secret_comes_from_secrets_manager(stack: Stack) -> None:
    register_and_link(stack)  # the link was signed with the secret at TOKEN_SECRET_ARN
    token = re.search(TOKEN_RE, stack.mail()[0].text).group(1)  # type: ignore[union-attr]
    with mock.patch.dict(os.environ, {"TOKEN_SECRET": "another-secret-" + "x" * 40}):
        aws.reset()  # a process with a different key refuses the link
        response = stack.confirm(http_event("GET", "/confirm", query={"token": token}))
    assert response["headers"]["Location"].endswith("status=invalid")
    aws.reset()
    response = stack.confirm(http_event("GET", "/confirm", query={"token": token}))
    assert response["headers"]["Location"].endswith("status=confirmed")


def test_register_handler_import_stays_lean() -> None:
    code = (
        "import sys, regflow.handlers.register as h\n"
        "mods = set(sys.modules)\n"
        "print(sorted(m for m in mods if m.startswith(("
        "'regflow.adapters', 'regflow.handlers.', 'email_validator', 'mypy_boto3', "
        "'boto3.resources', 'botocore.docs', 'regflow.local', 'sqlite3'))))\n"
    )
    out = subprocess.run(  # a fresh interpreter: what a Lambda init imports
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout
    assert out.strip() == "['regflow.handlers.register']"


# --- configuration failures -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "value"),
    [("OWNER_EMAIL", None), ("API_BASE_URL", "not a url"), ("TOKEN_TTL_HOURS", "forever")],
)
def test_bad_configuration_is_one_json_line_naming_the_variable(
    stack: Stack, variable: str, value: str | None
) -> None:
    aws.reset()
    out = io.StringIO()
    env = dict(os.environ)
    if value is None:
        env.pop(variable)
    else:
        env[variable] = value
    with (
        mock.patch.dict(os.environ, env, clear=True),
        mock.patch.object(logs, "configure", lambda level="INFO", stream=None: _to(out, level)),
        pytest.raises(ConfigError, match=variable),
    ):
        stack.register(json_post("/register", {"name": "Jane", "email": "jane@example.com"}))
    lines = out.getvalue().splitlines()
    assert len(lines) == 1
    entry = json.loads(lines[0])
    assert entry["level"] == "ERROR" and variable in entry["message"]
    assert stack.items() == []


def test_confirm_without_any_secret_fails_naming_the_variable(stack: Stack) -> None:
    aws.reset()
    env = {k: v for k, v in os.environ.items() if k != "TOKEN_SECRET_ARN"}
    with (
        mock.patch.dict(os.environ, env, clear=True),
        pytest.raises(ConfigError, match="TOKEN_SECRET_ARN"),
    ):
        stack.confirm(http_event("GET", "/confirm", query={"token": "x"}))


def _to(stream: io.StringIO, level: str) -> None:
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    root = logging.getLogger("regflow")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def test_logs_carry_the_request_id_and_no_address_or_token(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    event = json_post("/register", {"name": "Jane", "email": "jane.doe@example.com"})
    stack.register(event)
    stack.pump()
    token = re.search(TOKEN_RE, stack.mail()[0].text).group(1)  # type: ignore[union-attr]
    stack.confirm(http_event("GET", "/confirm", query={"token": token}))
    stack.pump()
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]
    assert any(e.get("correlation_id") == event["requestContext"]["requestId"] for e in lines)
    text = json.dumps(lines)
    assert "jane.doe@example.com" not in text
    assert token not in text
    assert "j***@example.com" in text


# --- the stream filter ----------------------------------------------------------------------------


def template_filter_patterns() -> list[dict[str, Any]]:
    resources = load_template()["Resources"]
    patterns: list[dict[str, Any]] = []
    for resource in resources.values():
        for event in (resource.get("Properties") or {}).get("Events", {}).values():
            if event.get("Type") == "DynamoDB":
                filters = event["Properties"].get("FilterCriteria", {}).get("Filters", [])
                patterns.extend(json.loads(f["Pattern"]) for f in filters)
    return patterns


def test_template_filter_criteria_equal_the_senders_patterns() -> None:
    declared = template_filter_patterns()
    assert declared, "template.yaml declares no FilterCriteria for the stream mapping"
    canonical = sorted(json.dumps(p, sort_keys=True) for p in declared)
    assert canonical == sorted(json.dumps(p, sort_keys=True) for p in FILTER_PATTERNS)


def test_patterns_pass_exactly_the_records_that_owe_mail(stack: Stack) -> None:
    token = register_and_link(stack)  # REG INSERT, LIMIT#ADDR + LIMIT#IP INSERTs
    stack.register(
        json_post("/register", {"name": "Bo", "email": "bo@example.com"}, source_ip="198.51.100.2")
    )
    stack.confirm(http_event("GET", "/confirm", query={"token": token}))  # REG MODIFY, ADDR#
    stack.dynamodb.update_item(  # a change that owes nothing: another attribute of a REG item
        TableName=stack.table_name,
        Key={"pk": stack.items("REG#")[0]["pk"]},
        UpdateExpression="SET note = :n",
        ExpressionAttributeValues={":n": {"S": "x"}},
    )
    ip_counter = stack.items("LIMIT#IP#")[0]["pk"]
    stack.dynamodb.delete_item(TableName=stack.table_name, Key={"pk": ip_counter})  # as TTL does
    # the whole stream from its start (pump() has consumed the first records already)
    records = StreamReader(stack.dynamodb, stack.table_name).records()
    kinds = [(r["eventName"], r["dynamodb"]["Keys"]["pk"]["S"].split("#")[0]) for r in records]
    assert ("INSERT", "LIMIT") in kinds and ("INSERT", "ADDR") in kinds
    assert ("REMOVE", "LIMIT") in kinds and kinds.count(("MODIFY", "REG")) == 2
    passed = [r for r in records if matches_any(FILTER_PATTERNS, r)]
    owed = [r for r in records if message_from_record(r) is not None]
    assert passed == owed
    assert [(r["eventName"]) for r in passed] == ["INSERT", "INSERT", "MODIFY"]


def test_matcher_semantics() -> None:
    pattern = {"a": ["x", "y"], "b": {"c": [{"prefix": "RE"}]}}
    assert matches(pattern, {"a": "y", "b": {"c": "REG#1"}, "z": 1})
    assert not matches(pattern, {"a": "z", "b": {"c": "REG#1"}})
    assert not matches(pattern, {"a": "x", "b": {"c": "ADDR#1"}})
    assert not matches(pattern, {"a": "x"})
    assert not matches(pattern, {"a": "x", "b": "REG"})


def test_the_table_is_built_from_the_template(stack: Stack) -> None:
    table = stack.dynamodb.describe_table(TableName=stack.table_name)["Table"]
    assert table["TableName"] == "regflow-registrations"  # stack "regflow", no TableName
    assert table["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert table["StreamSpecification"] == {
        "StreamEnabled": True,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
    ttl = stack.dynamodb.describe_time_to_live(TableName=stack.table_name)
    assert ttl["TimeToLiveDescription"] == {"TimeToLiveStatus": "ENABLED", "AttributeName": "ttl"}
