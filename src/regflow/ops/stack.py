"""Where a deployed stack keeps its registrations: read from its CloudFormation outputs."""

from __future__ import annotations


def table_for_stack(stack: str, region: str | None) -> str:
    """The name of `stack`'s registrations table (its `TableName` output), read with the
    operator's own credentials (boto3's default chain). Raises `LookupError` when the stack
    has no such output, botocore's `ClientError` when the stack does not exist."""
    import boto3

    described = boto3.client("cloudformation", region_name=region).describe_stacks(StackName=stack)
    for output in described["Stacks"][0].get("Outputs", []):
        if output.get("OutputKey") == "TableName" and output.get("OutputValue"):
            return str(output["OutputValue"])
    raise LookupError(f"stack {stack} has no TableName output (deploy it again)")
