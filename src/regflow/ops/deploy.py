"""`make deploy`'s decisions, before anything is built or deployed (deploy/deploy.sh runs
`python -m regflow.ops.deploy plan`):

- the region: REGION, else AWS_REGION, else AWS_DEFAULT_REGION, else the profile's region,
  else a clear error (never a silent us-east-1);
- the stack: its name fits the derived physical names; a stack in ROLLBACK_COMPLETE (a first
  deploy that failed, e.g. a new account CloudFront has not verified yet) or in the middle of
  an operation is reported with the one command that fixes it;
- the sender: SENDER_EMAIL (or its domain) must be a verified SES identity in the region, or
  the deploy is refused with how to verify it (ALLOW_UNVERIFIED_SENDER=1 deploys anyway: mail
  is parked until the identity is verified); the SES sandbox and an unverified owner address
  are reported;
- the table: the stack keeps its table on delete (DeletionPolicy Retain, deletion protection),
  so a new stack of the same name finds it in the way; the deploy is refused with the two
  ways on (REUSE_TABLE=yes adopts it into the new stack, `adopt-table`; DELETE_DATA=yes
  `make destroy` deletes it, `delete-table`);
- the edge: WEB_ACL_ARN must be a WAFv2 web ACL of scope CLOUDFRONT; CERTIFICATE_ARN must be
  ISSUED and cover DOMAIN_NAME (ACM in us-east-1), else CloudFormation fails minutes in;
- the parameters: each optional variable that is set is passed, an empty value resetting the
  parameter to empty (`Param=""`); an unset one keeps the stack's previous value.

`plan` prints the region on the first line and one `Key=Value` parameter override per line
after it; problems go to stderr and exit 1. boto3 is injectable (`session_factory`) so that
the tests drive it with botocore's Stubber.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

# (template parameter, environment variable), in the template's order.
PARAMETERS: tuple[tuple[str, str], ...] = (
    ("SenderEmail", "SENDER_EMAIL"),
    ("OwnerEmail", "OWNER_EMAIL"),
    ("SiteName", "SITE_NAME"),
    ("TokenTtlHours", "TOKEN_TTL_HOURS"),
    ("ConfirmCode", "CONFIRM_CODE"),
    ("Challenge", "CHALLENGE"),
    ("ChallengeDifficulty", "CHALLENGE_DIFFICULTY"),
    ("ConsentIp", "CONSENT_IP"),
    ("ConsentTextVersion", "CONSENT_TEXT_VERSION"),
    ("ConfirmMode", "CONFIRM_MODE"),
    ("CorsAllowOrigins", "CORS_ALLOW_ORIGINS"),
    ("AddressMinIntervalSeconds", "ADDRESS_MIN_INTERVAL_SECONDS"),
    ("AddressLimitPerDay", "ADDRESS_LIMIT_PER_DAY"),
    ("IpLimitPerHour", "IP_LIMIT_PER_HOUR"),
    ("BlockedEmailDomains", "BLOCKED_EMAIL_DOMAINS"),
    ("LogRetentionDays", "LOG_RETENTION_DAYS"),
    ("DefaultLanguage", "DEFAULT_LANGUAGE"),
    ("LogLevel", "LOG_LEVEL"),
    ("ApiThrottlingRateLimit", "API_RATE_LIMIT"),
    ("ApiThrottlingBurstLimit", "API_BURST_LIMIT"),
    ("CloudFrontPriceClass", "PRICE_CLASS"),
    ("AlarmTopicArn", "ALARM_TOPIC_ARN"),
    ("AlarmEmail", "ALARM_EMAIL"),
    ("TableName", "TABLE_NAME"),
    ("DomainName", "DOMAIN_NAME"),
    ("CertificateArn", "CERTIFICATE_ARN"),
    ("HostedZoneId", "HOSTED_ZONE_ID"),
    ("SesEventsKey", "SES_EVENTS_KEY"),
    ("WebAclArn", "WEB_ACL_ARN"),
    ("EventBusName", "EVENT_BUS_NAME"),
    ("WebhookUrl", "WEBHOOK_URL"),
    ("OwnerDigest", "OWNER_DIGEST"),
)
# Free text (a site's name has spaces): passed quoted, `Key="Example Club"`, which
# `sam deploy --parameter-overrides` reads as one value (backslash escapes `"` and `\`).
FREE_TEXT = frozenset({"SITE_NAME"})


def _quoted(parameter: str, value: str) -> str:
    if any(ch in value for ch in "\r\n\t"):
        raise DeployError(f"{parameter} may not contain line breaks or tabs")
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'{parameter}="{escaped}"'


# Function names are <stack>-<role> and Lambda allows 64 characters.
STACK_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,39}$")
ROLLBACK_COMPLETE = "ROLLBACK_COMPLETE"


class DeployError(Exception):
    """A reason not to deploy, worded for the person running `make deploy`."""


@dataclass
class Plan:
    region: str
    parameters: list[str]
    notes: list[str] = field(default_factory=list)


SessionFactory = Callable[[str | None], Any]


def _boto3_session(region: str | None) -> Any:
    import boto3.session

    return boto3.session.Session(region_name=region)


def resolve_region(env: Mapping[str, str], session_factory: SessionFactory = _boto3_session) -> str:
    """REGION, AWS_REGION, AWS_DEFAULT_REGION, then the profile's region (AWS_PROFILE)."""
    for name in ("REGION", "AWS_REGION", "AWS_DEFAULT_REGION"):
        value = env.get(name, "").strip()
        if value:
            return value
    region = session_factory(None).region_name
    if region:
        return str(region)
    raise DeployError(
        "no AWS region: set AWS_REGION (AWS_REGION=eu-west-1 make deploy ...) or give your "
        "profile one (aws configure set region eu-west-1)"
    )


def parameter_overrides(env: Mapping[str, str]) -> list[str]:
    """`Key=Value` for every variable that is set; `Key=""` (reset) for a set, empty one."""
    out = []
    for parameter, variable in PARAMETERS:
        if variable not in env:
            continue  # unset: the stack keeps its previous value
        if variable in FREE_TEXT:
            out.append(_quoted(parameter, env[variable].strip()))
            continue
        # no spaces: `sam deploy --parameter-overrides` ends a value at a space, so
        # "a.com, b.com" would silently become "a.com,"
        value = ",".join(part.strip() for part in env[variable].split(","))
        value = value.strip(",").strip()
        if any(ch.isspace() for ch in value):
            raise DeployError(f"{variable} may not contain spaces: {value!r}")
        out.append(f"{parameter}={value}" if value else f'{parameter}=""')
    return out


def check_inputs(env: Mapping[str, str], stack: str) -> None:
    if not STACK_NAME.match(stack):
        raise DeployError(
            f"STACK={stack!r}: use a letter, then letters, digits and '-', at most 40 "
            "characters (function names are <stack>-mail-sender etc.)"
        )
    for variable in ("SENDER_EMAIL", "OWNER_EMAIL"):
        if not env.get(variable, "").strip():
            raise DeployError(f"set {variable} (docs/aws.md)")
    domain = env.get("DOMAIN_NAME", "").strip()
    certificate = env.get("CERTIFICATE_ARN", "").strip()
    if domain and not certificate:
        raise DeployError(
            f"DOMAIN_NAME={domain} needs CERTIFICATE_ARN: an ACM certificate for it in "
            "us-east-1 (CloudFront takes certificates from there only)"
        )
    if certificate and ":acm:us-east-1:" not in certificate:
        raise DeployError("CERTIFICATE_ARN must be an ACM certificate in us-east-1")
    if env.get("HOSTED_ZONE_ID", "").strip() and not domain:
        raise DeployError("HOSTED_ZONE_ID is for DOMAIN_NAME's records: set DOMAIN_NAME too")
    web_acl = env.get("WEB_ACL_ARN", "").strip()
    if web_acl and not WEB_ACL_ARN.match(web_acl):
        hint = " (that is a REGIONAL web ACL)" if ":regional/webacl/" in web_acl else ""
        raise DeployError(
            f"WEB_ACL_ARN={web_acl}: not the ARN of an AWS WAF (WAFv2) web ACL of scope "
            f"CLOUDFRONT{hint}; CloudFront takes those only, made in us-east-1: "
            "arn:aws:wafv2:us-east-1:ACCOUNT:global/webacl/NAME/ID (aws wafv2 list-web-acls "
            "--scope CLOUDFRONT --region us-east-1)"
        )


# The template's AllowedPattern for WebAclArn (tests compare them).
WEB_ACL_ARN = re.compile(
    r"^arn:aws[a-z-]*:wafv2:us-east-1:[0-9]{12}:global/webacl/[A-Za-z0-9_-]{1,128}/[0-9a-f-]{36}$"
)


def covers(pattern: str, domain: str) -> bool:
    """A certificate name covers `domain`: equal, or a wildcard for exactly one label."""
    pattern, domain = pattern.lower().rstrip("."), domain.lower().rstrip(".")
    if pattern == domain:
        return True
    if pattern.startswith("*."):
        head, _, rest = domain.partition(".")
        return bool(head) and rest == pattern[2:]
    return False


def check_certificate(acm: Any, certificate: str, domain: str) -> None:
    """The certificate is issued and names DOMAIN_NAME (itself or by a wildcard): otherwise
    CloudFormation would fail on the distribution, minutes into the deploy."""
    try:
        found = acm.describe_certificate(CertificateArn=certificate)["Certificate"]
    except acm.exceptions.ResourceNotFoundException:
        raise DeployError(
            f"CERTIFICATE_ARN {certificate} does not exist in us-east-1 (request one there: "
            f"aws acm request-certificate --domain-name {domain} --validation-method DNS "
            "--region us-east-1)"
        ) from None
    status = str(found.get("Status", ""))
    if status != "ISSUED":
        wait = (
            "it is still waiting for validation: publish the CNAME record ACM shows "
            f"(aws acm describe-certificate --certificate-arn {certificate} --region "
            "us-east-1), wait until its status is ISSUED, then deploy"
            if status == "PENDING_VALIDATION"
            else "request a new one"
        )
        raise DeployError(f"CERTIFICATE_ARN is {status}, not ISSUED: {wait}")
    names = [str(found.get("DomainName", ""))] + [
        str(n) for n in found.get("SubjectAlternativeNames", [])
    ]
    if not any(covers(name, domain) for name in names if name):
        raise DeployError(
            f"CERTIFICATE_ARN does not cover DOMAIN_NAME={domain}: it names "
            f"{', '.join(sorted({n for n in names if n}))}"
        )


def check_stack(cfn: Any, stack: str, region: str) -> dict[str, Any] | None:
    """The stack as described (None: it does not exist yet); DeployError when it cannot be
    deployed to as it is, with the command that fixes it."""
    from botocore.exceptions import ClientError

    try:
        described = cfn.describe_stacks(StackName=stack)
    except ClientError as exc:
        if "does not exist" in str(exc.response.get("Error", {}).get("Message", "")):
            return None
        raise
    found: dict[str, Any] = described["Stacks"][0]
    status = str(found["StackStatus"])
    if status == ROLLBACK_COMPLETE:
        reason = _first_failure(cfn, stack)
        lines = [
            f"stack {stack} in {region} is in ROLLBACK_COMPLETE: its first deploy failed and "
            "was rolled back, and CloudFormation cannot update such a stack.",
        ]
        if reason:
            lines.append(f"Why it failed: {reason}")
            if "verif" in reason.lower() or "cloudfront" in reason.lower():
                lines.append(
                    "A new AWS account may need AWS to verify it before it can create a "
                    "CloudFront distribution: open a support case (docs/aws.md, "
                    "'2. Prerequisites')."
                )
        lines.append(f"Delete it, then deploy again:  make destroy STACK={stack} REGION={region}")
        raise DeployError("\n".join(lines))
    if status.endswith("_IN_PROGRESS") and status != "REVIEW_IN_PROGRESS":
        raise DeployError(
            f"stack {stack} in {region} is busy ({status}); wait for it:  aws cloudformation "
            f"wait stack-update-complete --stack-name {stack} --region {region}  (or "
            "stack-create-complete / stack-delete-complete), then deploy again"
        )
    if status == "ROLLBACK_FAILED":
        raise DeployError(
            f"stack {stack} in {region} is in ROLLBACK_FAILED: its first deploy failed and so "
            "did the rollback. Delete it (what it holds is retained where deletion failed), "
            f"then deploy again:  make destroy STACK={stack} REGION={region}"
        )
    if status == "UPDATE_ROLLBACK_FAILED":
        raise DeployError(
            f"stack {stack} in {region} is in UPDATE_ROLLBACK_FAILED; finish the rollback:  "
            f"aws cloudformation continue-update-rollback --stack-name {stack} --region {region}"
        )
    if status == "DELETE_FAILED":
        raise DeployError(
            f"stack {stack} in {region} failed to delete; run  make destroy STACK={stack} "
            f"REGION={region}  again"
        )
    return found


def table_name(env: Mapping[str, str], stack: str) -> str:
    """The stack's table: TABLE_NAME, else the template's default, <stack>-registrations."""
    return env.get("TABLE_NAME", "").strip() or f"{stack}-registrations"


def _yes(env: Mapping[str, str], name: str) -> bool:
    return env.get(name, "").strip().lower() in ("1", "yes", "true")


def describe_table(dynamodb: Any, table: str) -> dict[str, Any] | None:
    """The table as described, or None when there is none of that name."""
    try:
        found: dict[str, Any] = dynamodb.describe_table(TableName=table)["Table"]
    except dynamodb.exceptions.ResourceNotFoundException:
        return None
    return found


def check_retained_table(
    dynamodb: Any, table: str, stack: str, region: str, *, reuse: bool
) -> list[str]:
    """For a stack that does not exist: a table of its name kept from an earlier stack (the
    template retains it) would make the create fail. Refused with the commands that reuse or
    delete it, unless REUSE_TABLE=yes (deploy.sh then adopts it: `adopt-table`)."""
    found = describe_table(dynamodb, table)
    if found is None:
        return []
    if reuse:
        return [
            f"NOTE (REUSE_TABLE=yes): the new stack {stack} adopts the existing table {table} "
            "and every registration in it"
        ]
    items = found.get("ItemCount")
    held = f" (about {items} items)" if isinstance(items, int) else ""
    raise DeployError(
        f"table {table} in {region} still exists{held}: it was kept when a stack {stack} was "
        "deleted (the stack keeps its registrations, the proof of consent, on delete), and a "
        "new stack cannot create a table of that name. Either reuse it, data and all:\n"
        f"  make deploy STACK={stack} REGION={region} REUSE_TABLE=yes ...\n"
        "or delete it and every registration in it for good:\n"
        f"  make destroy STACK={stack} REGION={region} DELETE_DATA=yes"
    )


def import_template(table: Mapping[str, Any]) -> dict[str, Any]:
    """The template of an IMPORT change set that makes a new stack of the described table
    alone (what it is, as DescribeTable says); the deploy that follows brings the rest."""
    key_names = {k["AttributeName"] for k in table["KeySchema"]}
    indexes = []
    for index in table.get("GlobalSecondaryIndexes", []):
        key_names |= {k["AttributeName"] for k in index["KeySchema"]}
        indexes.append(
            {
                "IndexName": index["IndexName"],
                "KeySchema": index["KeySchema"],
                "Projection": index["Projection"],
            }
        )
    properties: dict[str, Any] = {
        "TableName": table["TableName"],
        "BillingMode": table.get("BillingModeSummary", {}).get("BillingMode", "PAY_PER_REQUEST"),
        "AttributeDefinitions": [
            a for a in table["AttributeDefinitions"] if a["AttributeName"] in key_names
        ],
        "KeySchema": table["KeySchema"],
        "DeletionProtectionEnabled": bool(table.get("DeletionProtectionEnabled", False)),
    }
    if indexes:
        properties["GlobalSecondaryIndexes"] = indexes
    stream = table.get("StreamSpecification")
    if stream and stream.get("StreamEnabled"):
        properties["StreamSpecification"] = {"StreamViewType": stream["StreamViewType"]}
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "regflow: the retained registrations table, adopted by a new stack",
        "Resources": {
            TABLE_RESOURCE: {
                "Type": "AWS::DynamoDB::Table",
                "DeletionPolicy": "Retain",
                "UpdateReplacePolicy": "Retain",
                "Properties": properties,
            }
        },
    }


TABLE_RESOURCE = "UserRegistrations"  # the table's logical id in template.yaml


def adopt_table(cfn: Any, dynamodb: Any, stack: str, table: str, *, wait: bool = True) -> str:
    """REUSE_TABLE=yes: create stack `stack` by importing the existing `table` (a
    CloudFormation IMPORT change set); the deploy that follows updates it to the whole
    template. Nothing to do when the stack exists already."""
    import json

    from botocore.exceptions import ClientError

    try:
        cfn.describe_stacks(StackName=stack)
        return f"stack {stack} exists: nothing to adopt"
    except ClientError as exc:
        if "does not exist" not in str(exc.response.get("Error", {}).get("Message", "")):
            raise
    found = describe_table(dynamodb, table)
    if found is None:
        return f"no table {table}: the deploy creates a new one"
    change_set = f"{stack}-adopt-table"
    cfn.create_change_set(
        StackName=stack,
        ChangeSetName=change_set,
        ChangeSetType="IMPORT",
        TemplateBody=json.dumps(import_template(found)),
        ResourcesToImport=[
            {
                "ResourceType": "AWS::DynamoDB::Table",
                "LogicalResourceId": TABLE_RESOURCE,
                "ResourceIdentifier": {"TableName": table},
            }
        ],
        Tags=[{"Key": "regflow:stack", "Value": stack}, {"Key": "regflow:app", "Value": "regflow"}],
    )
    if wait:
        cfn.get_waiter("change_set_create_complete").wait(StackName=stack, ChangeSetName=change_set)
    cfn.execute_change_set(StackName=stack, ChangeSetName=change_set)
    if wait:
        cfn.get_waiter("stack_import_complete").wait(StackName=stack)
    return f"stack {stack} created around the existing table {table}"


def stack_table(cfn: Any, stack: str) -> str | None:
    """The table of an existing stack (its TableName output; "" without one), or None when
    there is no such stack."""
    from botocore.exceptions import ClientError

    try:
        described = cfn.describe_stacks(StackName=stack)["Stacks"][0]
    except ClientError as exc:
        if "does not exist" in str(exc.response.get("Error", {}).get("Message", "")):
            return None
        raise
    for output in described.get("Outputs", []):
        if output.get("OutputKey") == "TableName":
            return str(output["OutputValue"])
    return ""


def delete_table(dynamodb: Any, table: str) -> str:
    """DELETE_DATA=yes `make destroy`: the retained table goes, deletion protection first."""
    found = describe_table(dynamodb, table)
    if found is None:
        return f"no table {table}: nothing to delete"
    if found.get("DeletionProtectionEnabled"):
        dynamodb.update_table(TableName=table, DeletionProtectionEnabled=False)
    dynamodb.delete_table(TableName=table)
    return f"table {table} deleted, with every registration in it"


def upgrade_overrides(found: Mapping[str, Any] | None, env: Mapping[str, str]) -> list[str]:
    """A stack deployed before names were derived from the stack's name has no TableName
    parameter and a table called UserRegistrations: keep that table (a new name would replace
    it with an empty one) unless TABLE_NAME says otherwise."""
    if found is None or "TABLE_NAME" in env:
        return []
    keys = {p.get("ParameterKey") for p in found.get("Parameters", [])}
    if "TableName" in keys:
        return []
    return ["TableName=UserRegistrations"]


def _first_failure(cfn: Any, stack: str) -> str | None:
    try:
        events = cfn.describe_stack_events(StackName=stack).get("StackEvents", [])
    except Exception:
        return None
    failed = [e for e in events if str(e.get("ResourceStatus", "")).endswith("_FAILED")]
    if not failed:
        return None
    first = failed[-1]  # events are newest first: the last failure listed came first
    return f"{first.get('LogicalResourceId')}: {first.get('ResourceStatusReason', '')}".strip()


def _verified(ses: Any, address: str) -> bool:
    """The address, its domain, or a parent domain is a verified identity (a verified
    `example.com` covers `no-reply@mail.example.com`)."""
    labels = address.rsplit("@", 1)[-1].lower().split(".")
    domains = [".".join(labels[i:]) for i in range(len(labels) - 1)]
    for identity in (address, *domains):
        try:
            if ses.get_email_identity(EmailIdentity=identity).get("VerifiedForSendingStatus"):
                return True
        except ses.exceptions.NotFoundException:
            continue
    return False


def check_sender(
    ses: Any, sender: str, owner: str, region: str, *, allow_unverified: bool
) -> list[str]:
    """Notes for the user; DeployError when the sender is not verified (unless allowed)."""
    notes: list[str] = []
    if not _verified(ses, sender):
        how = (
            f"SENDER_EMAIL {sender} (or its domain) is not a verified SES identity in "
            f"{region}: no mail could be sent. Verify it:\n"
            f"  aws sesv2 create-email-identity --email-identity {sender} --region {region}\n"
            "and click the link SES mails to it (or verify the whole domain: docs/aws.md, "
            "'3. SES')."
        )
        if not allow_unverified:
            raise DeployError(
                how + "\nTo deploy anyway (mail waits, parked, until it is verified): "
                "ALLOW_UNVERIFIED_SENDER=1 make deploy ..."
            )
        notes.append("WARNING (ALLOW_UNVERIFIED_SENDER=1): " + how)
    if not ses.get_account().get("ProductionAccessEnabled"):
        notes.append(
            f"NOTE: this account is in the SES sandbox in {region}: mail reaches verified "
            "addresses only (docs/aws.md: request production access)"
        )
        if not _verified(ses, owner):
            notes.append(f"WARNING: OWNER_EMAIL {owner} is not verified: owner notifications wait")
    return notes


def plan(
    env: Mapping[str, str], stack: str, session_factory: SessionFactory = _boto3_session
) -> Plan:
    """Everything `make deploy` checks before it builds; DeployError on the first problem."""
    from botocore.exceptions import BotoCoreError, ClientError

    check_inputs(env, stack)
    region = resolve_region(env, session_factory)
    session = session_factory(region)
    allow = env.get("ALLOW_UNVERIFIED_SENDER", "").strip() in ("1", "true", "yes")
    try:
        found = check_stack(session.client("cloudformation"), stack, region)
        retained = (
            check_retained_table(
                session.client("dynamodb"),
                table_name(env, stack),
                stack,
                region,
                reuse=_yes(env, "REUSE_TABLE"),
            )
            if found is None
            else []
        )
        notes = check_sender(
            session.client("sesv2"),
            env["SENDER_EMAIL"].strip(),
            env["OWNER_EMAIL"].strip(),
            region,
            allow_unverified=allow,
        )
        certificate = env.get("CERTIFICATE_ARN", "").strip()
        domain = env.get("DOMAIN_NAME", "").strip()
        if certificate and domain:  # CloudFront's certificates live in us-east-1
            check_certificate(session_factory("us-east-1").client("acm"), certificate, domain)
    except (ClientError, BotoCoreError) as exc:
        raise DeployError(f"AWS call failed ({region}): {exc}") from exc
    notes = retained + notes
    keep = upgrade_overrides(found, env)
    if keep:
        notes.append(
            f"NOTE: stack {stack} predates derived names: its table keeps the name "
            "UserRegistrations (TableName=UserRegistrations). Its functions, log groups and "
            "dead-letter queue get new names: run `regflow redrive --stack ...` before if the "
            "queue holds messages."
        )
    return Plan(region, parameter_overrides(env) + keep, notes)


def main(
    argv: Sequence[str],
    env: Mapping[str, str] | None = None,
    *,
    session_factory: SessionFactory = _boto3_session,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """`plan STACK`: region, then parameter overrides, one a line. `region`: the region."""
    import os

    env = os.environ if env is None else env
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        if argv[:1] == ["region"]:
            out.write(resolve_region(env, session_factory) + "\n")
            return 0
        if len(argv) == 2 and argv[0] == "plan":
            result = plan(env, argv[1], session_factory)
            for note in result.notes:
                err.write(note + "\n")
            out.write("\n".join([result.region, *result.parameters]) + "\n")
            return 0
        if len(argv) == 2 and argv[0] in ("table", "adopt-table", "delete-table"):
            return _table_command(argv[0], argv[1], env, session_factory, out)
    except DeployError as exc:
        err.write(f"make deploy: {exc}\n")
        return 1
    err.write(
        "usage: python -m regflow.ops.deploy plan STACK | region | table STACK"
        " | adopt-table STACK | delete-table STACK\n"
    )
    return 2


def _table_command(
    command: str, stack: str, env: Mapping[str, str], session_factory: SessionFactory, out: TextIO
) -> int:
    """`table STACK` (the stack's table: its output, else TABLE_NAME or the default name),
    `adopt-table STACK` (deploy.sh, REUSE_TABLE=yes) and `delete-table STACK` (destroy.sh,
    DELETE_DATA=yes, after the stack is gone; TABLE_NAME or the default name)."""
    from botocore.exceptions import BotoCoreError, ClientError

    region = resolve_region(env, session_factory)
    session = session_factory(region)
    table = table_name(env, stack)
    try:
        if command == "table":
            found = stack_table(session.client("cloudformation"), stack)
            said = f"{found or table} {'absent' if found is None else 'present'}"  # destroy.sh
        elif command == "adopt-table":
            said = adopt_table(
                session.client("cloudformation"), session.client("dynamodb"), stack, table
            )
        else:
            said = delete_table(session.client("dynamodb"), table)
    except (ClientError, BotoCoreError) as exc:
        raise DeployError(f"{command} {table} failed ({region}): {exc}") from exc
    out.write(said + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
