"""The reference pages against the code they describe, both ways: the configuration tables
against the variables the settings code reads (and each in the right table), the deploy
variables against template.yaml, regflow.ops.deploy and deploy/deploy.sh, the command line page
against the `regflow` parser. A failure names the item and the file to add it to (or remove
it from)."""

from __future__ import annotations

import argparse
import json
import re
from typing import Any

import pytest

from regflow import cli
from regflow.ops import deploy
from tests.docs.support import (
    ROOT,
    SRC,
    code_names,
    env_vars_read,
    page,
    pages,
    section,
    table_rows,
)
from tests.support.aws import load_template

# Read by the code but set by the Lambda runtime, not by anyone configuring regflow.
RUNTIME_PROVIDED = {"AWS_LAMBDA_FUNCTION_NAME"}
CONFIG_TABLES = {"both": "## Both", "embedded": "## Embedded only", "aws": "## AWS only"}


def documented_settings() -> dict[str, set[str]]:
    text = page("configuration.md")
    return {
        table: {name for row in table_rows(section(text, heading)) for name in code_names(row[0])}
        for table, heading in CONFIG_TABLES.items()
    }


def function_environment() -> set[str]:
    """Every variable template.yaml sets for a function (Globals and each function's own)."""
    template = load_template()
    names = set(template["Globals"]["Function"]["Environment"]["Variables"])
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            env = resource["Properties"].get("Environment", {}).get("Variables", {})
            names |= set(env)
    # a secret's value arrives at run time from the ARN the template sets (regflow.aws.secrets)
    from regflow.aws.secrets import ARN_VARIABLES

    # (TOKEN_SECRET stays embedded only: on AWS its ARN is the setting, as it always was)
    names |= {v for v, arn in ARN_VARIABLES.items() if arn in names and v != "TOKEN_SECRET"}
    return names


def test_every_variable_the_code_reads_is_documented() -> None:
    documented = set().union(*documented_settings().values())
    missing = {
        f"{name} (read in src/regflow/{file})"
        for file, names in env_vars_read().items()
        for name in names - RUNTIME_PROVIDED
        if name not in documented
    }
    assert not missing, f"add to a table of docs/configuration.md: {sorted(missing)}"


def test_every_documented_variable_is_read() -> None:
    read = set().union(*env_vars_read().values())
    extra = {
        f"{name} ({table} table)"
        for table, names in documented_settings().items()
        for name in names
        if name not in read
    }
    assert not extra, f"documented in docs/configuration.md but read nowhere: {sorted(extra)}"


def test_each_variable_is_in_the_right_table() -> None:
    """AWS only and both: the template sets it for the functions; embedded only: it does not."""
    on_aws = function_environment()
    tables = documented_settings()
    wrong = [
        f"{n}: the template does not set it, so not 'AWS only'" for n in tables["aws"] - on_aws
    ]
    wrong += [f"{n}: the template does not set it, so not 'Both'" for n in tables["both"] - on_aws]
    wrong += [
        f"{n}: the template sets it, so not 'Embedded only'" for n in tables["embedded"] & on_aws
    ]
    wrong += [
        f"{n}: set by the template but in no table" for n in on_aws - set().union(*tables.values())
    ]
    twice = [n for n in set().union(*tables.values()) if sum(n in t for t in tables.values()) > 1]
    wrong += [f"{n}: in more than one table" for n in twice]
    assert not wrong, "docs/configuration.md: " + "; ".join(sorted(wrong))


# --- deploy variables -------------------------------------------------------------------------

# make deploy's own variables (deploy/deploy.sh and deploy/env.sh), not stack parameters
DEPLOY_ONLY = {
    "STACK",
    "REGION",
    "ALLOW_UNVERIFIED_SENDER",
    "TEMPLATES_DIR",
    "PYTHON",
    "SAM",
    "SENDER_DOMAIN",
    "MAIL_FROM_SUBDOMAIN",
    "REUSE_TABLE",
}


def deploy_table() -> dict[str, list[str]]:
    rows = table_rows(section(page("aws.md"), "### Deploy variables"))
    return {code_names(row[0])[0]: row for row in rows}


def test_every_deploy_variable_is_documented_with_its_parameter() -> None:
    table = deploy_table()
    problems = []
    for parameter, variable in deploy.PARAMETERS:
        row = table.get(variable)
        if row is None:
            problems.append(f"{variable} (parameter {parameter}) has no row")
        elif code_names(row[1]) != [parameter]:
            problems.append(f"{variable}: the parameter column says {row[1]}, not `{parameter}`")
    for variable in DEPLOY_ONLY:
        if variable not in table:
            problems.append(f"{variable} (make deploy's own) has no row")
    mapped = {v for _, v in deploy.PARAMETERS} | DEPLOY_ONLY
    problems += [
        f"{v} is documented but make deploy knows no such variable" for v in set(table) - mapped
    ]
    assert not problems, "docs/aws.md, Deploy variables: " + "; ".join(sorted(problems))


def test_every_variable_the_deploy_tooling_reads_is_a_deploy_variable() -> None:
    table = deploy_table()
    missing = {
        f"{name} (read in src/regflow/{file})"
        for file, names in env_vars_read(deploy=True).items()
        for name in names
        if name not in table
    }
    assert not missing, f"add to docs/aws.md, Deploy variables: {sorted(missing)}"


def test_deploy_defaults_are_the_templates() -> None:
    parameters = load_template()["Parameters"]
    table = deploy_table()
    wrong = []
    for parameter, variable in deploy.PARAMETERS:
        declared = parameters[parameter]
        default = str(declared.get("Default", ""))
        cell = table[variable][2]
        if "Default" not in declared:
            if "required" not in cell:
                wrong.append(f"{variable}: {parameter} has no default, so the row says (required)")
        elif default == "":
            if not cell.startswith("(none"):
                wrong.append(f"{variable}: {parameter} defaults to empty, the row says {cell}")
        elif code_names(cell)[:1] != [default]:
            wrong.append(f"{variable}: {parameter} defaults to {default}, the row says {cell}")
    assert not wrong, "docs/aws.md, Deploy variables: " + "; ".join(wrong)


def test_every_template_parameter_is_reachable_from_a_deploy_variable() -> None:
    declared = set(load_template()["Parameters"])
    assert {p for p, _ in deploy.PARAMETERS} == declared


def test_deploy_sh_lists_every_variable() -> None:
    text = (ROOT / "deploy" / "deploy.sh").read_text(encoding="utf-8")
    header = "\n".join(line for line in text.splitlines() if line.startswith("#"))
    listed = set(re.findall(r"\b([A-Z][A-Z0-9_]{2,})\b", header))
    variables = {v for _, v in deploy.PARAMETERS} | DEPLOY_ONLY
    missing = sorted(variables - listed)
    assert not missing, f"deploy/deploy.sh's header comment does not name {missing}"
    env_sh = (ROOT / "deploy" / "env.sh").read_text(encoding="utf-8")
    for variable in ("STACK", "REGION", "PYTHON", "SAM"):
        assert re.search(rf"\b{variable}=", env_sh), f"deploy/env.sh no longer sets {variable}"


# --- the command line -------------------------------------------------------------------------


def parser_commands() -> dict[str, set[str]]:
    """Each command's options; a command with subcommands (`suppression list`) also each
    subcommand's, under "command subcommand"."""

    def options(command: argparse.ArgumentParser) -> set[str]:
        return {
            option
            for action in command._actions
            for option in action.option_strings
            if option.startswith("--") and option != "--help"
        }

    def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
        found = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        return dict(found[0].choices) if found else {}

    out = {}
    for name, command in subcommands(cli.build_parser()).items():
        out[name] = options(command)
        for action, subcommand in subcommands(command).items():
            out[f"{name} {action}"] = options(subcommand)
    return out


def documented_commands() -> dict[str, set[str]]:
    text = page("cli.md")
    out = {}
    for heading in re.findall(r"^## regflow (\S+(?: [a-z-]+)?)$", text, flags=re.M):
        rows = table_rows(section(text, f"## regflow {heading}"))
        out[heading] = {code_names(row[0])[0].split()[0] for row in rows}
    return out


def test_every_command_and_option_is_documented_and_exists() -> None:
    real, documented = parser_commands(), documented_commands()
    problems = [f"`regflow {c}` has no section" for c in set(real) - set(documented)]
    problems += [
        f"`regflow {c}` is documented but does not exist" for c in set(documented) - set(real)
    ]
    for command in set(real) & set(documented):
        for option in real[command] - documented[command]:
            problems.append(f"regflow {command} {option} is not documented")
        for option in documented[command] - real[command]:
            problems.append(f"regflow {command} {option} is documented but does not exist")
    assert not problems, "docs/cli.md: " + "; ".join(sorted(problems))


# --- names a reader looks for on screen -------------------------------------------------------


def test_buttons_the_docs_name_are_the_buttons_people_see() -> None:
    catalog: dict[str, Any] = json.loads((SRC / "render" / "catalog" / "en.json").read_text())
    texts = set(catalog.values())
    wrong = []
    for path in [*pages(), ROOT / "README.md"]:
        text = path.read_text(encoding="utf-8")
        for label in re.findall(r"(?:press|click|Click)(?: the)? \*\*([^*]+)\*\*", text):
            if label not in texts:
                wrong.append(f"{path.name}: **{label}** is no button text of en.json")
    assert not wrong, wrong


def test_the_alarms_the_docs_list_are_the_templates() -> None:
    resources = load_template()["Resources"]
    alarms = {n for n, r in resources.items() if r["Type"] == "AWS::CloudWatch::Alarm"}
    rows = table_rows(section(page("operating.md"), "## The alarms: what each means, what to do"))
    listed = {code_names(row[0])[0] for row in rows}
    assert listed == alarms, (
        f"docs/operating.md alarm table: missing {sorted(alarms - listed)}, "
        f"not in the template {sorted(listed - alarms)}"
    )
    counts = set(re.findall(r"(\d+) alarms", page("aws.md")))
    assert counts == {str(len(alarms))}, (
        f"docs/aws.md says {counts} alarms, template has {len(alarms)}"
    )


@pytest.mark.parametrize("path", [*pages(), ROOT / "README.md"], ids=lambda p: p.name)
def test_no_internal_words_in_user_docs(path: Any) -> None:
    text = path.read_text(encoding="utf-8")
    words = re.findall(r"\bseed\b|\bseed's\b|\bissue \d+\b|\bissue N\b", text, flags=re.I)
    assert not words, f"{path.name} uses internal words: {words}"


def test_no_internal_words_in_makefile_comments() -> None:
    comments = [
        line
        for line in (ROOT / "Makefile").read_text(encoding="utf-8").splitlines()
        if line.lstrip().startswith("#")
    ]
    words = [c for c in comments if re.search(r"\bseed\b|\bissue (\d+|N)\b", c, flags=re.I)]
    assert not words, f"Makefile comments use internal words: {words}"


# --- what gets created --------------------------------------------------------------------------

# template resource service -> the words its row in "What gets created" starts with
SERVICE_ROWS = {
    "DynamoDB": "DynamoDB table",
    "Serverless": "Lambda functions",
    "Lambda": "HTTP API",  # the API's invoke permissions
    "Scheduler": "EventBridge Scheduler",
    "Logs": "CloudWatch Logs",
    "ApiGatewayV2": "HTTP API",
    "S3": "S3 bucket",
    "CloudFront": "CloudFront",
    "SecretsManager": "Secrets Manager",
    "SQS": "SQS",
    "CloudWatch": "CloudWatch",
    "SNS": "SNS",
    "SES": "SES configuration set",
    "Route53": "Route 53",
    "KMS": "KMS",
    "IAM": "IAM",
}


def test_what_gets_created_lists_every_kind_of_resource() -> None:
    rows = [row[0] for row in table_rows(section(page("aws.md"), "## What gets created"))]
    resources = load_template()["Resources"]
    problems = []
    for name, resource in resources.items():
        service = resource["Type"].split("::")[1]
        label = SERVICE_ROWS.get(service)
        if label is None:
            problems.append(f"{name} ({resource['Type']}): no row for its service")
        elif not any(row.startswith(label) for row in rows):
            problems.append(f"{name}: no row starting {label!r}")
    secrets = [n for n, r in resources.items() if r["Type"] == "AWS::SecretsManager::Secret"]
    if len([row for row in rows if row.startswith("Secrets Manager")]) != len(secrets):
        problems.append(f"one Secrets Manager row per secret: {secrets}")
    logs = [
        r["Properties"]["LogGroupName"]["Fn::Sub"]
        for r in resources.values()
        if r["Type"] == "AWS::Logs::LogGroup"
    ]
    text = section(page("aws.md"), "## What gets created")
    for group in logs:
        shown = group.replace("${AWS::StackName}", "<stack>")
        if shown not in text and shown.rsplit("-", 1)[-1] not in text:
            problems.append(f"log group {shown} is not named")
    if "versioned" not in text.lower():
        problems.append("the pages bucket is versioned: say so")
    assert not problems, "docs/aws.md, What gets created: " + "; ".join(problems)


def test_no_internal_words_where_an_owner_reads_them() -> None:
    """The stack's parameter descriptions (the CloudFormation console shows them), the OpenAPI
    document and the CLI's help."""
    texts = {
        f"template.yaml {name}": str(p.get("Description", ""))
        for name, p in load_template()["Parameters"].items()
    }
    texts["openapi.yaml"] = (SRC / "openapi.yaml").read_text(encoding="utf-8")
    parser = cli.build_parser()
    texts["regflow --help"] = parser.format_help()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    texts.update({f"regflow {n} --help": c.format_help() for n, c in sub.choices.items()})
    found = [
        where
        for where, text in texts.items()
        if re.search(r"\bseed\b|\bseed's\b|\bissue (\d+|N)\b", text, flags=re.I)
    ]
    assert not found, f"internal words in {found}"
