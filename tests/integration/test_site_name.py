"""SITE_NAME reaches every mail and every page a visitor sees: the verification and "already
registered" mails say it, the owner's notification names it, every server-rendered page's
title ends with it (or names it itself), the static pages get it with their words
(`/i18n/<lang>.json` embedded; published from the stack's SiteName parameter on AWS) and put it
in their title; on AWS the template passes the parameter to every function."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws
from starlette.testclient import TestClient

from regflow import publish
from regflow.local.app import GatewayConfig, create_app
from tests.support.aws import load_template
from tests.unit.fakes import world

SITE = "Example Chess Club"
HTML = {"accept": "text/html"}


def test_every_mail_carries_the_site_name() -> None:
    w = world(SITE_NAME=SITE)
    client = TestClient(create_app(GatewayConfig(api=w.api)), follow_redirects=False)
    person = {"name": "Jane", "email": "jane@example.com"}
    assert client.post("/register", json=person).status_code == 202
    w.drain()
    (verification,) = w.mailer.sent
    reg = next(iter(w.store.by_id.values()))
    token = w.signer.issue(reg.id, reg.addr_key)
    assert client.get("/confirm", params={"token": token}).status_code == 302
    w.clock.advance(seconds=120)
    assert client.post("/register", json=person).status_code == 202
    w.drain()
    owner, already = w.mailer.sent[1:]
    if owner.to != w.settings.mail.owner_email:
        owner, already = already, owner
    for mail in (verification, already, owner):
        assert SITE in mail.text, mail.subject
        assert SITE in mail.html, mail.subject


@pytest.mark.parametrize(
    ("env", "request_"),
    [
        ({"IP_LIMIT_PER_HOUR": "1"}, "limited"),
        ({"CONFIRM_MODE": "button"}, "button"),
    ],
)
def test_every_page_title_names_the_site(env: dict[str, str], request_: str) -> None:
    w = world(SITE_NAME=SITE, **env)
    client = TestClient(create_app(GatewayConfig(api=w.api)), follow_redirects=False)
    if request_ == "limited":
        for i in range(2):
            answer = client.post(
                "/register", data={"name": "J", "email": f"j{i}@example.com"}, headers=HTML
            )
        assert answer.status_code == 429
    else:
        client.post("/register", json={"name": "J", "email": "j@example.com"})
        reg = next(iter(w.store.by_id.values()))
        answer = client.get("/confirm", params={"token": w.signer.issue(reg.id, reg.addr_key)})
        assert answer.status_code == 200
    title = answer.text.split("<title>", 1)[1].split("</title>", 1)[0]
    assert SITE in title
    assert title.count(SITE) == 1


def test_the_static_pages_get_the_site_name_with_their_words() -> None:
    w = world(SITE_NAME=SITE)
    client = TestClient(create_app(GatewayConfig(api=w.api)))
    for lang in ("en", "de", "fr", "es"):
        assert client.get(f"/i18n/{lang}.json").json()["web.site_name"] == SITE


def test_publish_takes_the_site_name_from_the_stack(tmp_path: Path) -> None:
    site = tmp_path / "web"
    site.mkdir()
    (site / "index.html").write_text("<!doctype html><title>Register</title>", encoding="utf-8")
    cloudformation = boto3.client("cloudformation", region_name="eu-west-1")
    stubber = Stubber(cloudformation)  # moto's describe_stacks needs a deployed template
    stubber.add_response(
        "describe_stacks",
        {
            "Stacks": [
                {
                    "StackName": "club",
                    "CreationTime": "2026-01-01T00:00:00Z",
                    "StackStatus": "UPDATE_COMPLETE",
                    "Parameters": [{"ParameterKey": "SiteName", "ParameterValue": SITE}],
                    "Outputs": [{"OutputKey": "SiteBucket", "OutputValue": "club-pages"}],
                }
            ]
        },
        {"StackName": "club"},
    )
    with mock_aws(), stubber:
        s3 = boto3.client("s3", region_name="eu-west-1")
        s3.create_bucket(
            Bucket="club-pages", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
        )
        publish.publish(
            cloudformation=cloudformation, s3=s3, cloudfront=None, stack_name="club", source=site
        )
        words: dict[str, Any] = json.loads(
            s3.get_object(Bucket="club-pages", Key="i18n/fr.json")["Body"].read()
        )
    assert words["web.site_name"] == SITE


def test_the_template_gives_every_function_the_site_name() -> None:
    template = load_template()
    assert template["Parameters"]["SiteName"]["Default"] == "regflow"
    env = template["Globals"]["Function"]["Environment"]["Variables"]
    assert env["SITE_NAME"] == {"Ref": "SiteName"}
    for name, resource in template["Resources"].items():
        if resource["Type"] == "AWS::Serverless::Function":
            own = resource["Properties"].get("Environment", {}).get("Variables", {})
            assert "SITE_NAME" not in own, f"{name} overrides SITE_NAME"


SAM_PYTHON = Path(__file__).resolve().parents[2] / ".venv-deploy" / "bin" / "python"


def test_sam_reads_the_quoted_site_name_as_one_value() -> None:
    """What `make deploy` passes (regflow.ops.deploy) through the SAM CLI's own parser of
    --parameter-overrides: a name with spaces and quotes arrives whole, and an empty value
    resets the parameter. The SAM CLI lives in .venv-deploy (`make deploy-tools`; CI installs
    it with `make lint-template` before `make test`)."""
    import os
    import subprocess

    from regflow.ops import deploy

    if not SAM_PYTHON.exists():
        if os.environ.get("CI"):
            pytest.fail("no SAM CLI: CI installs it with `make lint-template` before `make test`")
        pytest.skip("no SAM CLI: `make deploy-tools` installs it into .venv-deploy")
    overrides = deploy.parameter_overrides(
        {
            "SITE_NAME": 'Example "Chess" Club',
            "ALARM_EMAIL": "",
            "BLOCKED_EMAIL_DOMAINS": "a.b, c.d",
        }
    )
    script = (
        "import json, sys\n"
        "from samcli.cli.types import CfnParameterOverridesType\n"
        "print(json.dumps(CfnParameterOverridesType().convert(tuple(sys.argv[1:]), None, None)))\n"
    )
    done = subprocess.run(
        [str(SAM_PYTHON), "-c", script, *overrides],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert json.loads(done.stdout) == {
        "SiteName": 'Example "Chess" Club',
        "AlarmEmail": "",
        "BlockedEmailDomains": "a.b,c.d",
    }
