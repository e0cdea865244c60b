"""template.yaml: the linters (sam validate --lint, cfn-lint, offline) and what the issues ask
of the stack, checked on the template and on SAM's own translation of it (what CloudFormation
really receives)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

import regflow
from regflow import http
from regflow.http.request import ORIGIN_VERIFY_HEADER
from tests.support.aws import TEMPLATE, load_template

BIN = Path(sys.executable).parent
FUNCTIONS = {
    "RegistrationHandler": "regflow.handlers.register.lambda_handler",
    "ConfirmationHandler": "regflow.handlers.confirm.lambda_handler",
    "MailSender": "regflow.handlers.mail_sender.lambda_handler",
    "ParkedMessageRecovery": "regflow.handlers.recovery.lambda_handler",
    "SesEventsHandler": "regflow.handlers.ses_events.lambda_handler",
    "ErasureHandler": "regflow.handlers.erase.lambda_handler",  # issue 12: /erase
    "OwnerDigestHandler": "regflow.handlers.owner_digest.lambda_handler",  # issue 12: OWNER_DIGEST
}
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
ALL_VIEWER_EXCEPT_HOST = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
OFFLINE_ENV = {
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "SAM_CLI_TELEMETRY": "0",
    "SAM_CLI_CONTACT_TRACKING": "0",
}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


@pytest.fixture(scope="module")
def resources(template: dict[str, Any]) -> dict[str, Any]:
    res: dict[str, Any] = template["Resources"]
    return res


@pytest.fixture(scope="module")
def translated() -> Iterator[dict[str, Any]]:
    """SAM's translation of template.yaml, offline (CodeUri stands in for the built bundle)."""
    from samtranslator.translator.transform import transform
    from samtranslator.yaml_helper import yaml_parse

    class NoManagedPolicies:
        def load(self) -> dict[str, str]:
            raise AssertionError("the template asked SAM for managed policies")

    with mock.patch.dict(os.environ, OFFLINE_ENV):
        raw = yaml_parse(TEMPLATE.read_text(encoding="utf-8"))
        raw["Globals"]["Function"]["CodeUri"] = "s3://bundle/regflow.zip"
        yield transform(raw, {}, NoManagedPolicies())


def of_type(resources: dict[str, Any], kind: str) -> dict[str, Any]:
    return {k: v for k, v in resources.items() if v["Type"] == kind}


def walk(node: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield key, value
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def references(node: Any) -> set[str]:
    """Logical ids `node` refers to (Ref, GetAtt, ${...} in Sub)."""
    out: set[str] = set()
    for key, value in walk({"_": node}):
        if key == "Ref" and isinstance(value, str):
            out.add(value)
        elif key == "Fn::GetAtt":
            out.add(value[0] if isinstance(value, list) else value.split(".")[0])
        elif key == "Fn::Sub":
            text = value if isinstance(value, str) else value[0]
            out.update(m.split(".")[0] for m in re.findall(r"\$\{([^}!]+)\}", text))
    return {name for name in out if not name.startswith("AWS::")}


# --- linters ---------------------------------------------------------------------------------


def sam_cli() -> str:
    """The SAM CLI of `make deploy-tools` (.venv-deploy), else one installed next to this
    Python or on PATH. It is not a test dependency (it pins boto3 and click): without it this
    test is skipped locally, and fails under CI, whose .ci/run installs it (make lint-template)."""
    for candidate in (TEMPLATE.parent / ".venv-deploy/bin/sam", BIN / "sam"):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which("sam")
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail("no SAM CLI: CI installs it with `make lint-template` before `make test`")
    pytest.skip("no SAM CLI: `make deploy-tools` installs it into .venv-deploy")


def run_tool(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **OFFLINE_ENV}
    env.pop("AWS_PROFILE", None)
    tool = args[0] if os.path.isabs(args[0]) else str(BIN / args[0])
    return subprocess.run(
        [tool, *args[1:]],
        cwd=TEMPLATE.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


@pytest.mark.slow
def test_sam_validate_lint_is_clean() -> None:
    result = run_tool(sam_cli(), "validate", "--lint", "--template", str(TEMPLATE))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is a valid SAM Template" in result.stdout + result.stderr


@pytest.mark.slow
def test_cfn_lint_is_clean() -> None:
    result = run_tool("cfn-lint", str(TEMPLATE))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""


# --- the table -------------------------------------------------------------------------------


def test_table_is_the_seeds_with_ttl_pitr_and_stream(resources: dict[str, Any]) -> None:
    table = resources["UserRegistrations"]
    props = table["Properties"]
    assert table["Type"] == "AWS::DynamoDB::Table"
    # derived from the stack's name unless the TableName parameter says otherwise
    assert props["TableName"] == {
        "Fn::If": [
            "HasTableName",
            {"Ref": "TableName"},
            {"Fn::Sub": "${AWS::StackName}-registrations"},
        ]
    }
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert props["TimeToLiveSpecification"] == {"AttributeName": "ttl", "Enabled": True}
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert props["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"


def test_parked_messages_index_is_sparse_sharded_and_whole(resources: dict[str, Any]) -> None:
    from regflow.adapters.dynamodb import keys

    props = resources["UserRegistrations"]["Properties"]
    [index] = [i for i in props["GlobalSecondaryIndexes"] if i["IndexName"] == "ParkedMessages"]
    assert index["IndexName"] == keys.PARKED_INDEX == "ParkedMessages"
    assert index["KeySchema"] == [
        {"AttributeName": keys.PARKED_SHARD, "KeyType": "HASH"},
        {"AttributeName": keys.NEXT_ATTEMPT_AT, "KeyType": "RANGE"},
    ]
    assert index["Projection"] == {"ProjectionType": "ALL"}  # a claim needs the whole message
    assert "ProvisionedThroughput" not in index  # on demand, as the table
    types = {d["AttributeName"]: d["AttributeType"] for d in props["AttributeDefinitions"]}
    assert types.items() >= {"pk": "S", "parkedShard": "S", "nextAttemptAt": "N"}.items()


# --- functions -------------------------------------------------------------------------------


def python_version(runtime: str) -> tuple[int, int]:
    match = re.fullmatch(r"python(\d+)\.(\d+)", runtime)
    assert match, runtime
    return int(match.group(1)), int(match.group(2))


def test_functions_handlers_runtime_and_architecture(translated: dict[str, Any]) -> None:
    functions = of_type(translated["Resources"], "AWS::Lambda::Function")
    assert set(functions) == set(FUNCTIONS)
    for name, handler in FUNCTIONS.items():
        props = functions[name]["Properties"]
        assert props["Handler"] == handler
        assert python_version(props["Runtime"]) >= (3, 12)
        assert props["Architectures"] == ["arm64"]
        assert props["Role"] == {"Fn::GetAtt": [f"{name}Role", "Arn"]}
    assert functions["RegistrationHandler"]["Properties"]["FunctionName"] == {
        "Fn::Sub": "${AWS::StackName}-register"
    }
    assert functions["ConfirmationHandler"]["Properties"]["FunctionName"] == {
        "Fn::Sub": "${AWS::StackName}-confirm"
    }


def test_handlers_exist_where_the_template_points(translated: dict[str, Any]) -> None:
    import importlib

    for handler in FUNCTIONS.values():
        module, attribute = handler.rsplit(".", 1)
        assert callable(getattr(importlib.import_module(module), attribute))


def test_every_function_logs_to_its_own_group_with_retention(
    translated: dict[str, Any],
) -> None:
    res = translated["Resources"]
    groups = set()
    for name in FUNCTIONS:
        ref = res[name]["Properties"]["LoggingConfig"]["LogGroup"]
        group = res[ref["Ref"]]
        assert group["Type"] == "AWS::Logs::LogGroup"
        assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
        groups.add(ref["Ref"])
    assert len(groups) == len(FUNCTIONS)
    for group in of_type(res, "AWS::Logs::LogGroup").values():
        assert "RetentionInDays" in group["Properties"]


def env_of(translated: dict[str, Any], function: str) -> dict[str, Any]:
    variables: dict[str, Any] = translated["Resources"][function]["Properties"]["Environment"][
        "Variables"
    ]
    return variables


def test_environment_names_are_the_ones_settings_reads(translated: dict[str, Any]) -> None:
    config = (Path(regflow.__file__).parent / "config.py").read_text(encoding="utf-8")
    read = set(re.findall(r'"([A-Z][A-Z0-9_]+)"', config))
    common = {
        "TABLE_NAME",
        "SENDER_EMAIL",
        "OWNER_EMAIL",
        "API_BASE_URL",
        "SUCCESS_URL",
        "REGISTER_PAGE_URL",
        "TOKEN_TTL_HOURS",
        "CONFIRM_MODE",
        "CONFIRM_CODE",
        "CONSENT_IP",
        "CHALLENGE",
        "CHALLENGE_DIFFICULTY",
        "CONSENT_TEXT_VERSION",
        "ADDRESS_MIN_INTERVAL_SECONDS",
        "ADDRESS_LIMIT_PER_DAY",
        "IP_LIMIT_PER_HOUR",
        "BLOCKED_EMAIL_DOMAINS",
        "LOG_LEVEL",
        "DEFAULT_LANGUAGE",
        "SES_CONFIGURATION_SET",
        "MX_CHECK",
        "TEMPLATES_DIR",
        "METRICS",
        "METRICS_STACK",
        "SITE_NAME",
    }
    for function in FUNCTIONS:
        env = env_of(translated, function)
        from regflow.aws.secrets import ARN_VARIABLES

        assert set(env) <= read | set(ARN_VARIABLES.values()), f"{function}: unread variables"
        assert not set(env) & set(ARN_VARIABLES), f"{function}: a secret's value in its environment"
        for value in env.values():
            assert "resolve:secretsmanager" not in json.dumps(value), function
        # only the functions that sign or verify tokens may read the token secret; only the
        # register path trusts CloudFront's viewer address (behind X-Origin-Verify)
        secret = (
            {"TOKEN_SECRET_ARN"}
            if function not in ("RegistrationHandler", "SesEventsHandler", "OwnerDigestHandler")
            else set()
        )
        # (and the confirmation path, for the proof of consent's client address)
        request_path = ("RegistrationHandler", "ConfirmationHandler")
        # every function behind an API route refuses requests past CloudFront (issue 27)
        routed = (*request_path, "ErasureHandler")
        # secrets by ARN only, never by value (issue 27: fetched at run time)
        origin = {"ORIGIN_VERIFY_SECRET_ARN"} if function in routed else set()
        # CHALLENGE=pow: only the registration function signs and checks challenges
        # (and seals the registration cookie, which the confirmation function checks)
        challenge = {"CHALLENGE_SECRET_ARN"} if function in request_path else set()
        # only the senders publish events (EventBridge, webhooks: docs/events.md)
        senders = ("MailSender", "ParkedMessageRecovery")
        events = (
            {"EVENT_BUS_NAME", "EVENT_SOURCE", "WEBHOOK_URL", "WEBHOOK_SECRET_ARN"}
            if function in senders
            else set()
        )
        digest = {"OWNER_DIGEST"} if function in (*senders, "OwnerDigestHandler") else set()
        assert set(env) == common | secret | origin | challenge | events | digest, function
        assert env["TOKEN_TTL_HOURS"] == {"Ref": "TokenTtlHours"}
        assert env["SITE_NAME"] == {"Ref": "SiteName"}
        assert env["CONFIRM_MODE"] == {"Ref": "ConfirmMode"}
        # links in mail on the own domain when there is one, else on CloudFront's
        assert env["SUCCESS_URL"] == {
            "Fn::If": [
                "HasDomain",
                {"Fn::Sub": "https://${DomainName}/confirmed.html"},
                {"Fn::Sub": "https://${Distribution.DomainName}/confirmed.html"},
            ]
        }
        assert env["API_BASE_URL"] == {
            "Fn::If": [
                "HasDomain",
                {"Fn::Sub": "https://${DomainName}/"},
                {"Fn::Sub": "https://${Distribution.DomainName}/"},
            ]
        }
        assert env["METRICS"] == "emf"
        assert env["METRICS_STACK"] == {"Ref": "AWS::StackName"}


def test_parameters_and_defaults(template: dict[str, Any]) -> None:
    params = template["Parameters"]
    for name in ("SenderEmail", "OwnerEmail"):
        assert "Default" not in params[name]  # required at deploy time
    assert params["TokenTtlHours"]["Default"] == 24
    assert params["ConfirmMode"]["AllowedValues"] == ["link", "button"]
    assert params["ConfirmMode"]["Default"] == "link"
    assert params["AddressMinIntervalSeconds"]["Default"] == 60
    assert params["AddressLimitPerDay"]["Default"] == 5
    assert params["IpLimitPerHour"]["Default"] == 20
    assert params["CorsAllowOrigins"]["Type"] == "CommaDelimitedList"
    assert "BlockedEmailDomains" in params
    assert "LogRetentionDays" in params


# --- IAM -------------------------------------------------------------------------------------


def test_no_managed_policies_no_wildcard_actions(translated: dict[str, Any]) -> None:
    res = translated["Resources"]
    roles = of_type(res, "AWS::IAM::Role")
    # each function's role, and the scheduler's (it may invoke the recovery function only)
    expected = {f"{f}Role" for f in FUNCTIONS} | {
        "ParkedMessageRecoverySchedulerRole",
        "OwnerDigestSchedulerRole",
    }
    assert set(roles) == expected, "SAM added a role of its own"
    for name, role in roles.items():
        assert "ManagedPolicyArns" not in role["Properties"], name
    text = json.dumps(translated)
    assert "FullAccess" not in text
    for key, value in walk(translated):
        if key == "Statement":
            for statement in value:
                actions = statement.get("Action", [])
                actions = [actions] if isinstance(actions, str) else actions
                if statement["Effect"] == "Allow":
                    assert "*" not in actions, statement
                    assert not any(a.endswith(":*") for a in actions), statement
                assert "NotAction" not in statement


def test_only_the_token_readers_may_read_the_secret(template: dict[str, Any]) -> None:
    res = template["Resources"]
    readers = {
        name for name in res if name.endswith("Role") and "TokenSecret" in references(res[name])
    }
    assert readers == {
        "ConfirmationHandlerRole",
        "ErasureHandlerRole",  # erasure links are signed with it (another purpose)
        "MailSenderRole",
        "ParkedMessageRecoveryRole",
    }
    generated = res["TokenSecret"]["Properties"]["GenerateSecretString"]
    assert generated["PasswordLength"] >= 64


# --- the outbox: stream -> mail sender ----------------------------------------------------------


def test_mail_sender_mapping(translated: dict[str, Any]) -> None:
    res = translated["Resources"]
    (mapping,) = of_type(res, "AWS::Lambda::EventSourceMapping").values()
    props = mapping["Properties"]
    assert props["FunctionName"] == {"Ref": "MailSender"}
    assert props["EventSourceArn"] == {"Fn::GetAtt": ["UserRegistrations", "StreamArn"]}
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert 0 <= props["MaximumRetryAttempts"] <= 100
    assert props["BisectBatchOnFunctionError"] is True
    assert 60 <= props["MaximumRecordAgeInSeconds"] <= 604800
    dlq = props["DestinationConfig"]["OnFailure"]["Destination"]
    assert dlq == {"Fn::GetAtt": ["MailDeadLetterQueue", "Arn"]}
    queue = res["MailDeadLetterQueue"]["Properties"]
    assert queue.get("SqsManagedSseEnabled") is True or "KmsMasterKeyId" in queue


def test_filter_patterns_are_the_mail_senders(translated: dict[str, Any]) -> None:
    from regflow.adapters.dynamodb import FILTER_PATTERNS

    (mapping,) = of_type(translated["Resources"], "AWS::Lambda::EventSourceMapping").values()
    patterns = [
        json.loads(f["Pattern"]) for f in mapping["Properties"]["FilterCriteria"]["Filters"]
    ]
    assert patterns == [dict(p) for p in FILTER_PATTERNS]


def test_alarms_watch_the_dead_letter_queue_and_every_function(resources: dict[str, Any]) -> None:
    alarms = of_type(resources, "AWS::CloudWatch::Alarm").values()
    watched = {
        ref
        for alarm in alarms
        for ref in references(alarm["Properties"].get("Dimensions", []))
        | references(alarm["Properties"].get("Metrics", []))
    }
    assert {"MailDeadLetterQueue", *FUNCTIONS} <= watched


# --- the HTTP API --------------------------------------------------------------------------------


def test_routes_and_their_functions(resources: dict[str, Any]) -> None:
    routes = of_type(resources, "AWS::ApiGatewayV2::Route")
    integrations = of_type(resources, "AWS::ApiGatewayV2::Integration")
    by_key = {}
    for route in routes.values():
        (integration,) = references(route["Properties"]["Target"])
        props = integrations[integration]["Properties"]
        assert props["IntegrationType"] == "AWS_PROXY"
        assert props["PayloadFormatVersion"] == "2.0"
        by_key[route["Properties"]["RouteKey"]] = props["IntegrationUri"]["Fn::GetAtt"][0]
    assert by_key == {
        "POST /register": "RegistrationHandler",
        "GET /confirm": "ConfirmationHandler",
        "POST /confirm": "ConfirmationHandler",
        "GET /erase": "ErasureHandler",
        "POST /erase": "ErasureHandler",
        "POST /confirm-code": "ConfirmationHandler",  # CONFIRM_CODE
        "POST /resend": "ConfirmationHandler",  # the expired page's "send me a new link"
        "GET /challenge": "RegistrationHandler",  # CHALLENGE=pow
    }
    permissions = of_type(resources, "AWS::Lambda::Permission").values()
    invokable = {p["Properties"]["FunctionName"]["Ref"] for p in permissions}
    assert invokable == {"RegistrationHandler", "ConfirmationHandler", "ErasureHandler"}


def test_cors_from_the_parameter_and_stage_throttling(resources: dict[str, Any]) -> None:
    cors = resources["HttpApi"]["Properties"]["CorsConfiguration"]["Fn::If"]
    assert cors[0] == "HasCorsOrigins"
    assert cors[1]["AllowOrigins"] == {"Ref": "CorsAllowOrigins"}
    stage = resources["HttpApiStage"]["Properties"]
    assert stage["StageName"] == "$default"
    assert stage["DefaultRouteSettings"]["ThrottlingRateLimit"]
    assert stage["DefaultRouteSettings"]["ThrottlingBurstLimit"]


def test_no_circular_dependencies(translated: dict[str, Any]) -> None:
    """CloudFront -> API; functions -> CloudFront: the API must not depend on the functions."""
    resources = translated["Resources"]
    graph = {name: references(r) & set(resources) for name, r in resources.items()}
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for dep in graph[node]:
            if state.get(dep) == 1:
                pytest.fail("cycle: " + " -> ".join([*path, node, dep]))
            if dep not in state:
                visit(dep, [*path, node])
        state[node] = 2

    for node in graph:
        if node not in state:
            visit(node, [])
    assert "Distribution" in graph["RegistrationHandler"]
    assert "HttpApi" in graph["Distribution"]


# --- pages: bucket + CloudFront --------------------------------------------------------------


def test_bucket_is_private_and_readable_only_by_the_distribution(
    resources: dict[str, Any],
) -> None:
    bucket = resources["SiteBucket"]["Properties"]
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert len(bucket["PublicAccessBlockConfiguration"]) == 4
    assert bucket["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    statements = resources["SiteBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    allows = [s for s in statements if s["Effect"] == "Allow"]
    assert len(allows) == 1
    (allow,) = allows
    assert allow["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert allow["Action"] == "s3:GetObject"
    assert "Distribution" in references(allow["Condition"]["StringEquals"]["AWS:SourceArn"])


def test_distribution_routes_pages_and_api(resources: dict[str, Any]) -> None:
    config = resources["Distribution"]["Properties"]["DistributionConfig"]
    assert config["DefaultRootObject"] == "index.html"
    origins = {o["Id"]: o for o in config["Origins"]}
    assert "OriginAccessControlId" in origins["pages"]
    assert references(origins["pages"]["DomainName"]) == {"SiteBucket"}
    assert references(origins["api"]["DomainName"]) == {"HttpApi"}
    assert origins["api"]["CustomOriginConfig"]["OriginProtocolPolicy"] == "https-only"
    oac = resources["SiteOriginAccessControl"]["Properties"]["OriginAccessControlConfig"]
    assert oac["SigningBehavior"] == "always"
    default = config["DefaultCacheBehavior"]
    assert default["TargetOriginId"] == "pages"
    behaviours = {b["PathPattern"]: b for b in config["CacheBehaviors"]}
    assert set(behaviours) == {
        "/register",
        "/confirm",
        "/erase",
        "/confirm-code",
        "/resend",
        "/challenge",
    }
    for behaviour in [default, *behaviours.values()]:
        assert behaviour["ViewerProtocolPolicy"] == "redirect-to-https"
        assert behaviour["ResponseHeadersPolicyId"] == {"Ref": "SecurityHeadersPolicy"}
    for behaviour in behaviours.values():
        assert behaviour["TargetOriginId"] == "api"
        assert behaviour["CachePolicyId"] == CACHING_DISABLED
        assert behaviour["OriginRequestPolicyId"] == ALL_VIEWER_EXCEPT_HOST
        assert "POST" in behaviour["AllowedMethods"]


def test_security_headers_match_the_apis(resources: dict[str, Any]) -> None:
    config = resources["SecurityHeadersPolicy"]["Properties"]["ResponseHeadersPolicyConfig"]
    headers = config["SecurityHeadersConfig"]
    csp = headers["ContentSecurityPolicy"]["ContentSecurityPolicy"]
    assert csp == http.SECURITY_HEADERS["Content-Security-Policy"]
    assert "default-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert headers["ContentTypeOptions"]["Override"] is True  # X-Content-Type-Options: nosniff
    assert headers["ReferrerPolicy"]["ReferrerPolicy"] == http.SECURITY_HEADERS["Referrer-Policy"]
    assert headers["FrameOptions"]["FrameOption"] == http.SECURITY_HEADERS["X-Frame-Options"]
    assert headers["StrictTransportSecurity"]["AccessControlMaxAgeSec"] >= 31536000
    assert all(h["Override"] is True for h in headers.values())


def test_outputs(template: dict[str, Any]) -> None:
    outputs = template["Outputs"]
    assert {
        "RegistrationPageUrl",
        "ApiUrl",
        "TableName",
        "DeadLetterQueueUrl",
        "SiteBucket",
        "DistributionId",
    } <= set(outputs)
    assert outputs["RegistrationPageUrl"]["Value"] == {
        "Fn::If": [
            "HasDomain",
            {"Fn::Sub": "https://${DomainName}/"},
            {"Fn::Sub": "https://${Distribution.DomainName}/"},
        ]
    }
    assert outputs["MailSenderFunction"]["Value"] == {"Ref": "MailSender"}


def test_cloudfront_proves_its_requests_to_the_api(translated: dict[str, Any]) -> None:
    """The per-IP limit trusts CloudFront-Viewer-Address only with the origin-verify value,
    which CloudFront adds to every API request and the register function knows."""
    resources = translated["Resources"]
    origins = resources["Distribution"]["Properties"]["DistributionConfig"]["Origins"]
    api_origin = next(o for o in origins if o["Id"] == "api")
    headers = {h["HeaderName"].lower(): h["HeaderValue"] for h in api_origin["OriginCustomHeaders"]}
    expected = {"Fn::Sub": "{{resolve:secretsmanager:${OriginVerifySecret}:SecretString}}"}
    assert headers[ORIGIN_VERIFY_HEADER] == expected
    assert env_of(translated, "RegistrationHandler")["ORIGIN_VERIFY_SECRET_ARN"] == {
        "Ref": "OriginVerifySecret"
    }
    assert resources["OriginVerifySecret"]["Type"] == "AWS::SecretsManager::Secret"


def test_the_address_index_serves_erasure_without_a_scan(resources: dict[str, Any]) -> None:
    """Issue 12: every item naming an address, by its hashed key, keys only."""
    from regflow.adapters.dynamodb import keys

    props = resources["UserRegistrations"]["Properties"]
    [index] = [i for i in props["GlobalSecondaryIndexes"] if i["IndexName"] == keys.ADDRESS_INDEX]
    assert index["KeySchema"] == [{"AttributeName": "addrKey", "KeyType": "HASH"}]
    assert index["Projection"] == {"ProjectionType": "KEYS_ONLY"}
    assert {"AttributeName": "addrKey", "AttributeType": "S"} in props["AttributeDefinitions"]
