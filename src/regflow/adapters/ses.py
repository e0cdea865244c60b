"""The SES v2 mailer: one `SendEmail` with raw MIME content (text + HTML alternatives).

Errors are judged by their code (and HTTP status), never by their text, into the delivery
policy's failure classes (`adapters.refusals.classify_ses`): throttling and outages are
transient; everything else (an unverified identity, access denied, sending paused, quota, an
invalid From, an oversized message, a malformed tag) is about the account, the sender or the
message, and parks. SES never refuses a recipient at the API: that comes back as a bounce.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from regflow.adapters.refusals import classify_ses
from regflow.domain import DeliveryError, Email, FailureClass
from regflow.emails import to_mime, wire_address

if TYPE_CHECKING:
    from mypy_boto3_sesv2.client import SESV2Client
else:
    SESV2Client = Any


class SesMailer:
    def __init__(self, client: SESV2Client, *, configuration_set: str | None = None) -> None:
        self._client = client
        self._configuration_set = configuration_set

    def send(self, email: Email) -> None:
        raw = to_mime(email).as_bytes()
        kwargs: dict[str, Any] = {
            # as in the MIME headers: an internationalized domain in its IDNA (xn--) form
            # (SES refuses the Unicode form with BadRequestException)
            "FromEmailAddress": wire_address(email.sender),
            "Destination": {"ToAddresses": [wire_address(email.to)]},
            "Content": {"Raw": {"Data": raw}},
        }
        if self._configuration_set:
            # the stack's configuration set: bounce, complaint, delivery and reject events to
            # the SES events function, SES's suppression of bounces and complaints
            kwargs["ConfigurationSetName"] = self._configuration_set
        if email.tags:  # reported back with each event (regflow.feedback)
            kwargs["EmailTags"] = [{"Name": k, "Value": v} for k, v in email.tags]
        try:
            self._client.send_email(**kwargs)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
            raise DeliveryError(
                f"SES refused the message ({code or status})",
                failure=classify_ses(code, status),
                code=code or f"HTTP{status}",
            ) from exc
        except BotoCoreError as exc:  # connection errors, timeouts
            raise DeliveryError(
                f"SES unreachable ({type(exc).__name__})",
                failure=FailureClass.TRANSIENT,
                code=type(exc).__name__,
            ) from exc
