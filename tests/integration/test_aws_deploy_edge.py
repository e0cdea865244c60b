"""Issue 27: `make deploy` catches, before anything is built, what CloudFormation would fail
on minutes into a deploy: a WEB_ACL_ARN that is no CLOUDFRONT-scope WAFv2 web ACL, and a
certificate not yet issued or not covering DOMAIN_NAME (ACM under botocore's Stubber: moto's
ACM does not model validation). And deploy/deploy.sh runs on bash 3.2 (macOS's)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from regflow.ops import deploy
from tests.integration.test_deploy_preflight import (
    ENV,
    ROOT,
    SENDER,
    FakeSession,
    account,
    identity,
    no_stack,
    run,
)
from tests.support.aws import load_template

ACL = (
    "arn:aws:wafv2:us-east-1:123456789012:global/webacl/site-acl/"
    "a1b2c3d4-5678-90ab-cdef-1234567890ab"
)
CERT = "arn:aws:acm:us-east-1:123456789012:certificate/0e1f2a3b-4c5d-6e7f-8091-a2b3c4d5e6f7"
DOMAIN = {"DOMAIN_NAME": "www.example.com", "CERTIFICATE_ARN": CERT}


@pytest.mark.parametrize(
    ("arn", "why"),
    [
        (ACL.replace("global/webacl", "regional/webacl"), "REGIONAL"),
        (ACL.replace("us-east-1", "eu-west-1"), "CLOUDFRONT"),
        ("arn:aws:waf::123456789012:webacl/a1b2c3d4-5678-90ab-cdef-1234567890ab", "WAFv2"),
        ("my-acl", "WAFv2"),
    ],
)
def test_a_web_acl_arn_of_the_wrong_kind_is_refused_before_any_call(arn: str, why: str) -> None:
    code, _, err = run({**ENV, "WEB_ACL_ARN": arn}, FakeSession())
    assert code == 1 and "WEB_ACL_ARN=" in err and why in err


def test_the_template_pattern_is_the_checks() -> None:
    pattern = load_template()["Parameters"]["WebAclArn"]["AllowedPattern"]
    assert pattern == "^$|" + deploy.WEB_ACL_ARN.pattern
    assert re.match(pattern, ACL) and re.match(pattern, "")
    assert not re.match(pattern, ACL.replace("global", "regional"))


def certificate(s: FakeSession, **described: Any) -> None:
    s.stub("acm").add_response(
        "describe_certificate",
        {"Certificate": {"CertificateArn": CERT, **described}},
        {"CertificateArn": CERT},
    )


def ready(s: FakeSession) -> None:
    no_stack(s)
    identity(s, SENDER, True)
    account(s, True)


def test_a_certificate_pending_validation_is_caught() -> None:
    s = FakeSession()
    ready(s)
    certificate(s, Status="PENDING_VALIDATION", DomainName="www.example.com")
    code, _, err = run({**ENV, **DOMAIN}, s)
    assert code == 1
    assert "PENDING_VALIDATION, not ISSUED" in err and "CNAME record" in err


def test_a_certificate_not_covering_the_domain_is_caught() -> None:
    s = FakeSession()
    ready(s)
    certificate(
        s, Status="ISSUED", DomainName="example.com", SubjectAlternativeNames=["example.com"]
    )
    code, _, err = run({**ENV, **DOMAIN}, s)
    assert code == 1 and "does not cover DOMAIN_NAME=www.example.com" in err


def test_a_missing_certificate_is_caught() -> None:
    s = FakeSession()
    ready(s)
    s.stub("acm").add_client_error("describe_certificate", "ResourceNotFoundException")
    code, _, err = run({**ENV, **DOMAIN}, s)
    assert code == 1 and "does not exist in us-east-1" in err


def test_an_issued_wildcard_certificate_deploys() -> None:
    s = FakeSession()
    ready(s)
    certificate(s, Status="ISSUED", DomainName="*.example.com")
    code, out, err = run({**ENV, **DOMAIN}, s)
    assert code == 0, err
    assert "DomainName=www.example.com" in out.splitlines()
    assert "us-east-1" in s.regions  # ACM asked in CloudFront's region
    s.stubs["acm"].assert_no_pending_responses()


def test_wildcards_cover_one_label_only() -> None:
    assert deploy.covers("*.example.com", "www.example.com")
    assert deploy.covers("WWW.Example.com", "www.example.com")
    assert not deploy.covers("*.example.com", "example.com")
    assert not deploy.covers("*.example.com", "a.b.example.com")
    assert not deploy.covers("example.com", "www.example.com")


def test_deploy_sh_uses_nothing_bash_3_2_lacks() -> None:
    """macOS ships bash 3.2: no mapfile/readarray, associative arrays, case conversion in
    expansions, `|&`, `&>>` or coproc; and an empty array must not be expanded bare under
    set -u (3.2 calls it unbound)."""
    for script in ("deploy.sh", "destroy.sh", "env.sh"):
        text = (ROOT / "deploy" / script).read_text(encoding="utf-8")
        code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
        for construct in (
            r"\bmapfile\b",
            r"\breadarray\b",
            r"declare -A",
            r"\$\{\w+(,,|\^\^)",
            r"\|&",
            r"&>>",
            r"\bcoproc\b",
            r"declare -n",
            r"local -n",
        ):
            assert not re.search(construct, code), (script, construct)
        assert '"${params[@]}"' not in code.replace('${params[@]+"${params[@]}"}', "")
