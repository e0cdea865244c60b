"""A deployed stack's resources, from its CloudFormation outputs: what the operator's commands
(`regflow suppression --stack NAME`, ...) act on. Your AWS credentials, the usual AWS_*
variables."""

from __future__ import annotations

from typing import Any


class StackError(LookupError):
    """The stack cannot be read or lacks the output; the message says which."""


def describe_stack(stack: str, region: str | None, *, client: Any = None) -> dict[str, Any]:
    """The stack as CloudFormation's DescribeStacks tells it (outputs, parameters), read with
    the operator's own credentials; any failure is a `StackError` naming the stack."""
    from botocore.exceptions import BotoCoreError, ClientError

    if client is None:
        import boto3

        # boto3's default session: the operator's own credential chain
        client = boto3.client("cloudformation", region_name=region)
    try:
        described = client.describe_stacks(StackName=stack)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise StackError(
            f"stack {stack}: {error.get('Code', '')} {error.get('Message', '')}"
        ) from exc
    except BotoCoreError as exc:
        raise StackError(f"stack {stack}: {exc}") from exc
    stacks = described.get("Stacks") or []
    if not stacks:
        raise StackError(f"stack {stack} not found")
    return dict(stacks[0])


def stack_outputs(stack: str, region: str | None, *, client: Any = None) -> dict[str, str]:
    """The stack's outputs, `OutputKey -> OutputValue`."""
    outputs = describe_stack(stack, region, client=client).get("Outputs") or []
    return {str(o["OutputKey"]): str(o["OutputValue"]) for o in outputs if "OutputKey" in o}


def stack_parameters(stack: str, region: str | None, *, client: Any = None) -> dict[str, str]:
    """The stack's parameters, `ParameterKey -> ParameterValue`."""
    parameters = describe_stack(stack, region, client=client).get("Parameters") or []
    return {
        str(p["ParameterKey"]): str(p.get("ParameterValue", ""))
        for p in parameters
        if "ParameterKey" in p
    }


def table_for_stack(stack: str, region: str | None, *, client: Any = None) -> str:
    """The registrations table of `stack` (its `TableName` output)."""
    table = stack_outputs(stack, region, client=client).get("TableName")
    if not table:
        raise StackError(f"stack {stack} has no TableName output (is it a regflow stack?)")
    return table
