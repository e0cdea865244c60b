"""OwnerDigest: the owner's daily digest of confirmations (OWNER_DIGEST=daily), run by the
OwnerDigestSchedule (template.yaml). Needs the table (Query the index of confirmations, park a
digest that cannot be sent) and SES; no token secret."""

from __future__ import annotations

from typing import Any

from regflow import aws
from regflow.aws import digest

aws.init_on_lambda(aws.Role.DIGEST)


def lambda_handler(event: dict[str, Any], context: object) -> dict[str, str]:
    return digest.handle(event, context)
