"""A deployed stack for the operator's commands under moto (issue 12).

The table is created from template.yaml (`create_table_from_template`: key schema, both
global secondary indexes, stream). CloudFormation itself is answered by a stub: moto's
CloudFormation backend imports every other moto backend (its API Gateway one needs
`openapi-spec-validator`, not a dependency of ours) and cannot run SAM transforms anyway. The
stub answers `DescribeStacks` with template.yaml's own `TableName` output (its `Ref` resolved
to the table above) and the template's parameters (defaults, or the test's values), through
botocore's `before-call` hook: the call still goes through the client's event system, so the
IAM recorder sees it as the real one.

The commands create their clients with `boto3.client(...)` (boto3's default session, the
operator's default credential chain): `OperatorStack` hooks that session, so every call they
make is recorded (`calls`), attributed to the command running (`acting_as`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import boto3
import boto3.session
from botocore.awsrequest import AWSResponse

from tests.support.aws import (
    ACCOUNT,
    REGION,
    TEST_STACK,
    create_table_from_template,
    error_response,
    load_template,
    mock_aws_serialized,
    resolve,
)


@dataclass
class Recorded:
    command: str
    service: str
    operation: str
    params: Mapping[str, Any]


@dataclass
class OperatorStack:
    name: str
    table: str
    parameters: dict[str, str]
    outputs: dict[str, str]
    calls: list[Recorded] = field(default_factory=list)
    _acting: str | None = None

    @property
    def stack_arn(self) -> str:
        return f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{self.name}/0f0f0f0f"

    def seeding_client(self) -> Any:
        """A DynamoDB client of its own session: what it does is not recorded."""
        return boto3.session.Session(region_name=REGION).client("dynamodb")

    @contextlib.contextmanager
    def acting_as(self, command: str) -> Iterator[None]:
        self._acting = command
        try:
            yield
        finally:
            self._acting = None

    def operations(self, command: str) -> list[str]:
        return [f"{c.service}.{c.operation}" for c in self.calls if c.command == command]

    # --- hooks ------------------------------------------------------------------------------

    def _record(self, params: Mapping[str, Any], model: Any, **_: Any) -> None:
        service = model.service_model.service_id.hyphenize()
        self.calls.append(Recorded(self._acting or "?", service, model.name, dict(params)))

    def _describe_stacks(self, params: Mapping[str, Any], **_: Any) -> Any:
        body = params.get("body")  # the serialized request (query protocol: a dict)
        wanted = body.get("StackName") if isinstance(body, Mapping) else None
        if wanted not in (self.name, self.stack_arn):
            return error_response("ValidationError", 400, f"Stack with id {wanted} does not exist")
        http = AWSResponse("https://cloudformation.invalid/", 200, {}, None)  # type: ignore[arg-type]
        return http, {
            "Stacks": [
                {
                    "StackName": self.name,
                    "StackId": self.stack_arn,
                    "StackStatus": "UPDATE_COMPLETE",
                    "Parameters": [
                        {"ParameterKey": k, "ParameterValue": v} for k, v in self.parameters.items()
                    ],
                    "Outputs": [
                        {"OutputKey": k, "OutputValue": v} for k, v in self.outputs.items()
                    ],
                }
            ],
            "ResponseMetadata": {"HTTPStatusCode": 200, "RetryAttempts": 0},
        }


@contextlib.contextmanager
def operator_stack(**parameters: str) -> Iterator[OperatorStack]:
    """moto with the table from template.yaml and the stubbed stack `TEST_STACK` whose
    parameters are template.yaml's defaults overridden by `parameters`."""
    with mock_aws_serialized():
        template = load_template()
        table = create_table_from_template(
            boto3.session.Session(region_name=REGION).client("dynamodb")
        )
        declared = template["Parameters"]
        values = {k: str(v.get("Default", "")) for k, v in declared.items()}
        values.update(parameters)
        output = resolve(
            template["Outputs"]["TableName"]["Value"], params=values, template=template
        )
        assert output == {"Ref": "UserRegistrations"}, output  # the table is what it names
        stack = OperatorStack(TEST_STACK, table, values, {"TableName": table})
        boto3.setup_default_session(region_name=REGION)
        events = boto3.DEFAULT_SESSION.events  # type: ignore[union-attr]
        events.register("before-parameter-build", stack._record)
        events.register("before-call.cloudformation.DescribeStacks", stack._describe_stacks)
        try:
            yield stack
        finally:
            boto3.DEFAULT_SESSION = None
