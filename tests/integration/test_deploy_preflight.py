"""`make deploy`'s checks (regflow.ops.deploy, run by deploy/deploy.sh) against stubbed AWS
(botocore's Stubber): an unverified sender is refused, the region comes from the environment
or the profile, an empty variable resets its parameter, a stack in ROLLBACK_COMPLETE is
reported with the command that fixes it. And deploy.sh's own glue, with stand-in tools."""

from __future__ import annotations

import io
import os
import stat
import subprocess
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from regflow.ops import deploy

ROOT = Path(__file__).resolve().parents[2]
SENDER = "no-reply@example.com"
OWNER = "owner@example.com"
ENV = {"SENDER_EMAIL": SENDER, "OWNER_EMAIL": OWNER, "REGION": "eu-west-1"}


class FakeSession:
    """boto3 sessions whose clients are stubbed; `region_name` stands for the profile's."""

    def __init__(self, profile_region: str | None = "eu-central-1") -> None:
        self.region_name = profile_region
        self.stubs: dict[str, Stubber] = {}
        self.clients: dict[str, Any] = {}
        self.regions: list[str | None] = []

    def __call__(self, region: str | None) -> FakeSession:
        self.regions.append(region)
        return self

    def client(self, service: str) -> Any:
        if service not in self.clients:
            made = boto3.client(  # type: ignore[call-overload]
                service,
                region_name="eu-west-1",
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
            )
            self.clients[service] = made
            self.stubs[service] = Stubber(made)
            self.stubs[service].activate()
        return self.clients[service]

    def stub(self, service: str) -> Stubber:
        self.client(service)
        return self.stubs[service]


def no_stack(s: FakeSession, stack: str = "regflow", *, table: str | None = None) -> None:
    """No stack `stack`, and no table of its name left over (`table`: the name looked for)."""
    s.stub("cloudformation").add_client_error(
        "describe_stacks",
        "ValidationError",
        f"Stack with id {stack} does not exist",
        expected_params={"StackName": stack},
    )
    s.stub("dynamodb").add_client_error(
        "describe_table",
        "ResourceNotFoundException",
        expected_params={"TableName": table or f"{stack}-registrations"},
    )


def stack_in(s: FakeSession, status: str, parameters: list[dict[str, str]] | None = None) -> None:
    s.stub("cloudformation").add_response(
        "describe_stacks",
        {
            "Stacks": [
                {
                    "StackName": "regflow",
                    "StackStatus": status,
                    "CreationTime": "2026-01-01T00:00:00Z",
                    "Parameters": parameters
                    if parameters is not None
                    else [{"ParameterKey": "TableName", "ParameterValue": ""}],
                }
            ]
        },
        {"StackName": "regflow"},
    )


def identity(s: FakeSession, name: str, verified: bool | None) -> None:
    ses = s.stub("sesv2")
    if verified is None:
        ses.add_client_error("get_email_identity", "NotFoundException", http_status_code=404)
    else:
        ses.add_response(
            "get_email_identity",
            {"VerifiedForSendingStatus": verified},
            {"EmailIdentity": name},
        )


def account(s: FakeSession, production: bool) -> None:
    s.stub("sesv2").add_response("get_account", {"ProductionAccessEnabled": production})


def run(env: dict[str, str], s: FakeSession, stack: str = "regflow") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = deploy.main(["plan", stack], env, session_factory=s, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


# --- the sender ----------------------------------------------------------------------------------


def test_an_unverified_sender_is_refused_with_how_to_verify_it() -> None:
    s = FakeSession()
    no_stack(s)
    identity(s, SENDER, None)
    identity(s, "example.com", False)
    code, out, err = run(ENV, s)
    assert code == 1 and out == ""
    assert f"{SENDER} (or its domain) is not a verified SES identity in eu-west-1" in err
    assert f"aws sesv2 create-email-identity --email-identity {SENDER} --region eu-west-1" in err
    assert "ALLOW_UNVERIFIED_SENDER=1" in err


def test_the_override_deploys_an_unverified_sender_with_a_warning() -> None:
    s = FakeSession()
    no_stack(s)
    identity(s, SENDER, None)
    identity(s, "example.com", None)
    account(s, True)
    code, out, err = run({**ENV, "ALLOW_UNVERIFIED_SENDER": "1"}, s)
    assert code == 0, err
    assert "WARNING (ALLOW_UNVERIFIED_SENDER=1)" in err
    assert out.splitlines()[0] == "eu-west-1"


def test_a_verified_domain_will_do_and_the_sandbox_is_reported() -> None:
    s = FakeSession()
    no_stack(s)
    identity(s, SENDER, None)
    identity(s, "example.com", True)
    account(s, False)
    identity(s, OWNER, None)
    identity(s, "example.com", False)
    code, _, err = run(ENV, s)
    assert code == 0, err
    assert "SES sandbox" in err
    assert f"OWNER_EMAIL {OWNER} is not verified" in err
    for stub in s.stubs.values():
        stub.assert_no_pending_responses()


# --- the region ----------------------------------------------------------------------------------


def test_region_from_region_then_aws_region_then_the_profile() -> None:
    s = FakeSession(profile_region="ap-southeast-2")
    assert deploy.resolve_region({"REGION": "eu-west-1", "AWS_REGION": "x"}, s) == "eu-west-1"
    assert deploy.resolve_region({"REGION": "", "AWS_REGION": "us-west-2"}, s) == "us-west-2"
    assert deploy.resolve_region({"AWS_DEFAULT_REGION": "eu-north-1"}, s) == "eu-north-1"
    assert deploy.resolve_region({}, s) == "ap-southeast-2"  # not us-east-1


def test_no_region_anywhere_says_so() -> None:
    out, err = io.StringIO(), io.StringIO()
    code = deploy.main(["region"], {}, session_factory=FakeSession(None), out=out, err=err)
    assert code == 1
    assert "no AWS region: set AWS_REGION" in err.getvalue()
    assert "aws configure set region" in err.getvalue()


def test_the_plan_uses_the_profiles_region_for_every_call() -> None:
    s = FakeSession(profile_region="eu-central-1")
    no_stack(s)
    identity(s, SENDER, True)
    account(s, True)
    code, out, err = run({"SENDER_EMAIL": SENDER, "OWNER_EMAIL": OWNER}, s)
    assert code == 0, err
    assert out.splitlines()[0] == "eu-central-1"
    assert s.regions == [None, "eu-central-1"]


# --- parameters ----------------------------------------------------------------------------------


def test_set_variables_are_passed_empty_ones_reset_unset_ones_keep() -> None:
    env = {
        "SENDER_EMAIL": SENDER,
        "OWNER_EMAIL": OWNER,
        "ALARM_EMAIL": "",  # reset to empty
        "ALARM_TOPIC_ARN": " ",  # blank is empty too
        "CORS_ALLOW_ORIGINS": "https://a.example,https://b.example",
        "DOMAIN_NAME": "www.example.com",
    }
    assert deploy.parameter_overrides(env) == [
        f"SenderEmail={SENDER}",
        f"OwnerEmail={OWNER}",
        "CorsAllowOrigins=https://a.example,https://b.example",
        'AlarmTopicArn=""',
        'AlarmEmail=""',
        "DomainName=www.example.com",
    ]


def test_every_template_parameter_has_a_variable() -> None:
    from tests.support.aws import load_template

    declared = set(load_template()["Parameters"])
    assert {p for p, _ in deploy.PARAMETERS} == declared


def test_a_stack_from_before_derived_names_keeps_its_table() -> None:
    s = FakeSession()
    stack_in(s, "UPDATE_COMPLETE", parameters=[{"ParameterKey": "SenderEmail"}])
    identity(s, SENDER, True)
    account(s, True)
    code, out, err = run(ENV, s)
    assert code == 0, err
    assert "TableName=UserRegistrations" in out.splitlines()
    assert "predates derived names" in err


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DOMAIN_NAME": "www.example.com"}, "needs CERTIFICATE_ARN"),
        ({"CERTIFICATE_ARN": "arn:aws:acm:eu-west-1:1:certificate/x"}, "in us-east-1"),
        ({"HOSTED_ZONE_ID": "Z1"}, "set DOMAIN_NAME too"),
        ({"OWNER_EMAIL": ""}, "set OWNER_EMAIL"),
    ],
)
def test_inputs_are_checked_before_any_call(env: dict[str, str], message: str) -> None:
    code, _, err = run({**ENV, **env}, FakeSession())
    assert code == 1 and message in err


def test_a_stack_name_too_long_for_the_derived_names_is_refused() -> None:
    code, _, err = run(ENV, FakeSession(), stack="s" * 41)
    assert code == 1 and "at most 40 characters" in err


# --- the stack's state ---------------------------------------------------------------------------


def test_rollback_complete_is_detected_with_the_fix_and_the_cause() -> None:
    s = FakeSession()
    stack_in(s, "ROLLBACK_COMPLETE")
    s.stub("cloudformation").add_response(
        "describe_stack_events",
        {
            "StackEvents": [
                {
                    "StackId": "x",
                    "EventId": "2",
                    "StackName": "regflow",
                    "Timestamp": "2026-01-01T00:10:00Z",
                    "LogicalResourceId": "regflow",
                    "ResourceStatus": "ROLLBACK_COMPLETE",
                },
                {
                    "StackId": "x",
                    "EventId": "1",
                    "StackName": "regflow",
                    "Timestamp": "2026-01-01T00:05:00Z",
                    "LogicalResourceId": "Distribution",
                    "ResourceStatus": "CREATE_FAILED",
                    "ResourceStatusReason": "Your account must be verified before you can "
                    "add new CloudFront resources.",
                },
            ]
        },
        {"StackName": "regflow"},
    )
    code, out, err = run(ENV, s)
    assert code == 1 and out == ""
    assert "is in ROLLBACK_COMPLETE" in err
    assert "make destroy STACK=regflow REGION=eu-west-1" in err
    assert "Distribution: Your account must be verified" in err
    assert "open a support case" in err


@pytest.mark.parametrize(
    ("status", "fix"),
    [
        ("UPDATE_IN_PROGRESS", "aws cloudformation wait"),
        ("UPDATE_ROLLBACK_FAILED", "continue-update-rollback"),
        ("DELETE_FAILED", "make destroy STACK=regflow"),
        ("ROLLBACK_FAILED", "make destroy STACK=regflow"),
    ],
)
def test_other_stuck_states_name_their_fix(status: str, fix: str) -> None:
    s = FakeSession()
    stack_in(s, status)
    code, _, err = run(ENV, s)
    assert code == 1 and fix in err


def test_a_healthy_stack_is_updated() -> None:
    s = FakeSession()
    stack_in(s, "UPDATE_ROLLBACK_COMPLETE")
    identity(s, SENDER, True)
    account(s, True)
    code, out, _ = run(ENV, s)
    assert code == 0
    assert out.splitlines() == ["eu-west-1", f"SenderEmail={SENDER}", f"OwnerEmail={OWNER}"]


# --- deploy.sh's glue, with stand-in tools -------------------------------------------------------


def stand_in(path: Path, body: str) -> Path:
    path.write_text("#!/usr/bin/env bash\n" + body, encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


def run_deploy_sh(
    tmp_path: Path, plan: str, plan_code: int = 0, **extra: str
) -> tuple[int, str, str]:
    calls = tmp_path / "calls"
    python = stand_in(
        tmp_path / "python",
        f'echo "python $*" >> {calls}\n'
        'if [ "$1 $2 $3" = "-m regflow.ops.deploy plan" ]; then\n'
        f"  printf '%s' '{plan}'; exit {plan_code}\n"
        "fi\n"
        'if [ "$1" = "-" ]; then cat > /dev/null; fi\n',
    )
    sam = stand_in(tmp_path / "sam", f'for a in "$@"; do echo "sam-arg:$a"; done >> {calls}\n')
    env = {
        "PATH": os.environ["PATH"],
        "PYTHON": str(python),
        "SAM": str(sam),
        "STACK": "staging",
        "HOME": str(tmp_path),
        **extra,
    }
    done = subprocess.run(
        ["bash", str(ROOT / "deploy" / "deploy.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    text = calls.read_text(encoding="utf-8") if calls.exists() else ""
    return done.returncode, text, done.stderr


def test_deploy_sh_passes_the_plans_region_parameters_and_tags(tmp_path: Path) -> None:
    plan = f'eu-central-1\nSenderEmail={SENDER}\nAlarmEmail=""\nCorsAllowOrigins=https://a.x'
    code, calls, err = run_deploy_sh(tmp_path, plan)
    assert code == 0, err
    args = [line[len("sam-arg:") :] for line in calls.splitlines() if line.startswith("sam-arg:")]
    assert args[args.index("--stack-name") + 1] == "staging"
    assert args[args.index("--region") + 1] == "eu-central-1"
    assert "regflow:stack=staging" in args[args.index("--tags") + 1 :]
    overrides = args[args.index("--parameter-overrides") + 1 :]
    assert overrides == [f"SenderEmail={SENDER}", 'AlarmEmail=""', "CorsAllowOrigins=https://a.x"]
    assert "python -m regflow.publish --stack staging --region eu-central-1 --source web" in calls


def test_deploy_sh_stops_when_the_checks_fail(tmp_path: Path) -> None:
    code, calls, _ = run_deploy_sh(tmp_path, "", plan_code=1)
    assert code != 0
    assert "sam-arg" not in calls
    assert "build_bundle" not in calls


def test_comma_lists_lose_their_spaces_and_inner_spaces_are_refused() -> None:
    env = {"BLOCKED_EMAIL_DOMAINS": " a.com, b.com ,c.com "}
    assert "BlockedEmailDomains=a.com,b.com,c.com" in deploy.parameter_overrides(env)
    with pytest.raises(deploy.DeployError, match="BLOCKED_EMAIL_DOMAINS"):
        deploy.parameter_overrides({"BLOCKED_EMAIL_DOMAINS": "a.com b.com"})


def test_a_verified_parent_domain_covers_a_subdomain_sender() -> None:
    class Ses:
        class exceptions:
            NotFoundException = LookupError

        def get_email_identity(self, EmailIdentity: str) -> dict[str, bool]:
            if EmailIdentity == "example.com":
                return {"VerifiedForSendingStatus": True}
            raise LookupError(EmailIdentity)

    assert deploy._verified(Ses(), "no-reply@mail.example.com")
    assert not deploy._verified(Ses(), "no-reply@mail.example.org")


def test_the_site_name_keeps_its_spaces_as_one_quoted_value() -> None:
    # SAM's --parameter-overrides ends an unquoted value at a space; a quoted one is one value
    assert deploy.parameter_overrides({"SITE_NAME": ' Example "Chess" Club '}) == [
        'SiteName="Example \\"Chess\\" Club"'
    ]
    assert deploy.parameter_overrides({"SITE_NAME": ""}) == ['SiteName=""']  # reset: "regflow"
    with pytest.raises(deploy.DeployError, match="SiteName"):
        deploy.parameter_overrides({"SITE_NAME": "Two\nLines"})
