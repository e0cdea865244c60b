"""`make deploy SENDER_DOMAIN=example.com`: the sending domain as an SES identity with Easy DKIM
and a custom MAIL FROM subdomain, and the exact DNS records to publish for it
(docs/deliverability.md):

- three DKIM CNAMEs (`<token>._domainkey.<domain>` -> `<token>.dkim.amazonses.com`): SES
  signs every message with the domain's key; receivers check the signature against DNS;
- the MAIL FROM subdomain's MX (`mail.<domain>` -> `feedback-smtp.<region>.amazonses.com`)
  and SPF TXT (`v=spf1 include:amazonses.com ~all`): bounces go to SES, and the envelope
  sender's domain (yours, not amazonses.com) passes SPF, which DMARC alignment needs;
- a suggested DMARC TXT (`_dmarc.<domain>`), starting at `p=none` with aggregate reports, to
  be tightened to `quarantine` / `reject` once the reports show only your own mail.

Idempotent: an existing identity is kept (its DKIM tokens printed), its MAIL FROM set only when
it differs. deploy/deploy.sh runs `python -m regflow.ops.sender_domain DOMAIN --region R`.
The SES client is injectable (tests: botocore's Stubber; moto has no DKIM tokens and no
PutEmailIdentityMailFromAttributes).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TextIO

DEFAULT_MAIL_FROM = "mail"


@dataclass(frozen=True, slots=True)
class DnsRecord:
    name: str
    type: str
    value: str
    why: str


@dataclass(frozen=True, slots=True)
class DomainSetup:
    domain: str
    mail_from: str
    dkim_tokens: tuple[str, ...]
    verified: bool
    dkim_status: str
    mail_from_status: str
    created: bool


def ensure_domain(
    ses: Any, domain: str, *, mail_from_subdomain: str = DEFAULT_MAIL_FROM
) -> DomainSetup:
    """Create the domain identity (Easy DKIM, 2048-bit) if it is missing, set its MAIL FROM
    domain if it differs; what SES says about it now."""
    domain = domain.strip().lower().rstrip(".")
    mail_from = f"{mail_from_subdomain}.{domain}"
    created = False
    try:
        identity = ses.get_email_identity(EmailIdentity=domain)
    except ses.exceptions.NotFoundException:
        ses.create_email_identity(
            EmailIdentity=domain,
            DkimSigningAttributes={"NextSigningKeyLength": "RSA_2048_BIT"},
        )
        created = True
        identity = ses.get_email_identity(EmailIdentity=domain)
    current = (identity.get("MailFromAttributes") or {}).get("MailFromDomain")
    if current != mail_from:
        ses.put_email_identity_mail_from_attributes(
            EmailIdentity=domain,
            MailFromDomain=mail_from,
            BehaviorOnMxFailure="USE_DEFAULT_VALUE",
        )
        identity = ses.get_email_identity(EmailIdentity=domain)
    dkim = identity.get("DkimAttributes") or {}
    return DomainSetup(
        domain=domain,
        mail_from=mail_from,
        dkim_tokens=tuple(dkim.get("Tokens") or ()),
        verified=bool(identity.get("VerifiedForSendingStatus")),
        dkim_status=str(dkim.get("Status") or "NOT_STARTED"),
        mail_from_status=str(
            (identity.get("MailFromAttributes") or {}).get("MailFromDomainStatus") or "PENDING"
        ),
        created=created,
    )


def dns_records(setup: DomainSetup, region: str) -> list[DnsRecord]:
    """The records to publish, in the order to publish them."""
    domain = setup.domain
    records = [
        DnsRecord(
            f"{token}._domainkey.{domain}",
            "CNAME",
            f"{token}.dkim.amazonses.com",
            "DKIM: SES signs your mail with this key",
        )
        for token in setup.dkim_tokens
    ]
    records += [
        DnsRecord(
            setup.mail_from,
            "MX",
            f"10 feedback-smtp.{region}.amazonses.com",
            "MAIL FROM: bounces come back to SES",
        ),
        DnsRecord(
            setup.mail_from,
            "TXT",
            '"v=spf1 include:amazonses.com ~all"',
            "SPF: SES may send for the MAIL FROM domain",
        ),
        DnsRecord(
            f"_dmarc.{domain}",
            "TXT",
            f'"v=DMARC1; p=none; rua=mailto:dmarc-reports@{domain}; adkim=r; aspf=r"',
            "DMARC (suggested): start at p=none, tighten to quarantine once reports are clean",
        ),
    ]
    return records


def format_records(setup: DomainSetup, region: str) -> str:
    """What `make deploy` prints: the records as zone-file lines, and the identity's state."""
    lines = [f"DNS records to publish for {setup.domain} (SES, {region}):", ""]
    for record in dns_records(setup, region):
        lines.append(f"; {record.why}")
        lines.append(f"{record.name}. 1800 IN {record.type} {record.value}")
    lines += [
        "",
        f"identity {setup.domain}: {'created now, ' if setup.created else ''}"
        f"verified for sending: {'yes' if setup.verified else 'not yet'}; "
        f"DKIM {setup.dkim_status}; MAIL FROM {setup.mail_from} {setup.mail_from_status}",
    ]
    if not setup.verified:
        lines.append(
            "SES verifies the domain once the DKIM records resolve (minutes to hours); "
            "check with: aws sesv2 get-email-identity --email-identity "
            f"{setup.domain} --region {region}"
        )
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None, *, ses: Any = None, out: TextIO | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m regflow.ops.sender_domain")
    parser.add_argument("domain")
    parser.add_argument("--region", required=True)
    parser.add_argument("--mail-from-subdomain", default=DEFAULT_MAIL_FROM)
    args = parser.parse_args(argv)
    out = out or sys.stdout
    if ses is None:
        import boto3.session

        session: Any = boto3.session.Session(region_name=args.region)
        ses = session.client("sesv2")
    setup = ensure_domain(ses, args.domain, mail_from_subdomain=args.mail_from_subdomain)
    out.write(format_records(setup, args.region))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
