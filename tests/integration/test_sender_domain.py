"""`make deploy SENDER_DOMAIN=example.com`: the domain identity (Easy DKIM, MAIL FROM) and the
exact DNS records printed. botocore's Stubber: moto's SES v2 has no DKIM tokens and no
PutEmailIdentityMailFromAttributes."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import boto3
from botocore.stub import Stubber

from regflow.ops import sender_domain

TOKENS = ["abcdefghijklmnopqrstuvwxyz234567", "bcdefghijklmnopqrstuvwxyz2345672", "cdefg7"]
ROOT = Path(__file__).resolve().parents[2]


def ses_client() -> tuple[Any, Stubber]:
    client = boto3.client(
        "sesv2",
        region_name="eu-west-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    return client, Stubber(client)


def identity(verified: bool, mail_from: str | None, status: str = "PENDING") -> dict[str, Any]:
    answer: dict[str, Any] = {
        "IdentityType": "DOMAIN",
        "VerifiedForSendingStatus": verified,
        "DkimAttributes": {
            "SigningEnabled": True,
            "Status": "SUCCESS" if verified else "PENDING",
            "Tokens": TOKENS,
            "SigningAttributesOrigin": "AWS_SES",
            "NextSigningKeyLength": "RSA_2048_BIT",
        },
    }
    if mail_from:
        answer["MailFromAttributes"] = {
            "MailFromDomain": mail_from,
            "MailFromDomainStatus": status,
            "BehaviorOnMxFailure": "USE_DEFAULT_VALUE",
        }
    return answer


EXPECTED = """\
DNS records to publish for example.com (SES, eu-west-1):

; DKIM: SES signs your mail with this key
abcdefghijklmnopqrstuvwxyz234567._domainkey.example.com. 1800 IN CNAME abcdefghijklmnopqrstuvwxyz234567.dkim.amazonses.com
; DKIM: SES signs your mail with this key
bcdefghijklmnopqrstuvwxyz2345672._domainkey.example.com. 1800 IN CNAME bcdefghijklmnopqrstuvwxyz2345672.dkim.amazonses.com
; DKIM: SES signs your mail with this key
cdefg7._domainkey.example.com. 1800 IN CNAME cdefg7.dkim.amazonses.com
; MAIL FROM: bounces come back to SES
mail.example.com. 1800 IN MX 10 feedback-smtp.eu-west-1.amazonses.com
; SPF: SES may send for the MAIL FROM domain
mail.example.com. 1800 IN TXT "v=spf1 include:amazonses.com ~all"
; DMARC (suggested): start at p=none, tighten to quarantine once reports are clean
_dmarc.example.com. 1800 IN TXT "v=DMARC1; p=none; rua=mailto:dmarc-reports@example.com; adkim=r; aspf=r"

identity example.com: created now, verified for sending: not yet; DKIM PENDING; MAIL FROM mail.example.com PENDING
SES verifies the domain once the DKIM records resolve (minutes to hours); check with: aws sesv2 get-email-identity --email-identity example.com --region eu-west-1
"""  # noqa: E501


def test_new_domain_is_created_with_easy_dkim_and_mail_from_and_records_printed() -> None:
    client, stub = ses_client()
    stub.add_client_error(
        "get_email_identity", "NotFoundException", expected_params={"EmailIdentity": "example.com"}
    )
    stub.add_response(
        "create_email_identity",
        {"IdentityType": "DOMAIN", "VerifiedForSendingStatus": False},
        {
            "EmailIdentity": "example.com",
            "DkimSigningAttributes": {"NextSigningKeyLength": "RSA_2048_BIT"},
        },
    )
    stub.add_response("get_email_identity", identity(False, None), {"EmailIdentity": "example.com"})
    stub.add_response(
        "put_email_identity_mail_from_attributes",
        {},
        {
            "EmailIdentity": "example.com",
            "MailFromDomain": "mail.example.com",
            "BehaviorOnMxFailure": "USE_DEFAULT_VALUE",
        },
    )
    stub.add_response(
        "get_email_identity", identity(False, "mail.example.com"), {"EmailIdentity": "example.com"}
    )
    out = io.StringIO()
    with stub:
        code = sender_domain.main(["Example.COM.", "--region", "eu-west-1"], ses=client, out=out)
    stub.assert_no_pending_responses()
    assert code == 0
    assert out.getvalue() == EXPECTED


def test_existing_verified_domain_is_kept_and_only_printed() -> None:
    client, stub = ses_client()
    stub.add_response(
        "get_email_identity",
        identity(True, "bounce.example.com", "SUCCESS"),
        {"EmailIdentity": "example.com"},
    )
    out = io.StringIO()
    with stub:
        sender_domain.main(
            ["example.com", "--region", "eu-west-1", "--mail-from-subdomain", "bounce"],
            ses=client,
            out=out,
        )
    stub.assert_no_pending_responses()  # no create, no put
    text = out.getvalue()
    assert "bounce.example.com. 1800 IN MX 10 feedback-smtp.eu-west-1.amazonses.com" in text
    assert text.rstrip().endswith(
        "identity example.com: verified for sending: yes; DKIM SUCCESS; "
        "MAIL FROM bounce.example.com SUCCESS"
    )


def test_deploy_script_runs_it_for_sender_domain() -> None:
    script = (ROOT / "deploy" / "deploy.sh").read_text(encoding="utf-8")
    assert '-m regflow.ops.sender_domain "$SENDER_DOMAIN"' in script
    assert 'SENDER_EMAIL="${SENDER_EMAIL:-no-reply@${SENDER_DOMAIN}}"' in script
    # before the checks, so that the records are printed even when the check refuses
    assert script.index("regflow.ops.sender_domain") < script.index("regflow.ops.deploy plan")
