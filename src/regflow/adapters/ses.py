"""The SES v2 mailer: one `SendEmail` with raw MIME content (text + HTML alternatives).

Errors are judged by their code (and HTTP status), never by their text, into the delivery
policy's failure classes (`classify`): throttling and outages are transient; an account-level
refusal (unverified identity, access denied, sending paused, quota) is the operator's to fix;
only a refusal of the recipient's address itself is final.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from regflow.domain import DeliveryError, Email, FailureClass
from regflow.emails import to_mime

if TYPE_CHECKING:
    from mypy_boto3_sesv2.client import SESV2Client
else:
    SESV2Client = Any

# A final refusal of this message's recipient (an address SES will not take).
RECIPIENT_CODES = frozenset({"BadRequestException", "InvalidParameterValue"})
# The account's state, fixed by the operator: the sender identity not verified yet (SES says
# MessageRejected "Email address is not verified"), IAM denying the send, sending paused, the
# daily quota spent. Never dropped: the message waits (parked) until the cause is fixed.
ACCOUNT_CODES = frozenset(
    {
        "MessageRejected",
        "AccessDeniedException",
        "AccessDenied",
        "SendingPausedException",
        "AccountSuspendedException",
        "MailFromDomainNotVerifiedException",
        "NotFoundException",
        "LimitExceededException",
    }
)
# Transient by definition; other codes are judged by their HTTP status (429 and 5xx transient).
TRANSIENT_CODES = frozenset(
    {
        "TooManyRequestsException",
        "Throttling",
        "ThrottlingException",
        "InternalFailure",
        "InternalServerError",
        "ServiceUnavailable",
    }
)


class SesMailer:
    def __init__(self, client: SESV2Client, *, configuration_set: str | None = None) -> None:
        self._client = client
        self._configuration_set = configuration_set

    def send(self, email: Email) -> None:
        raw = to_mime(email).as_bytes()
        kwargs: dict[str, Any] = {
            "FromEmailAddress": email.sender,
            "Destination": {"ToAddresses": [email.to]},
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
                failure=classify(code, status),
                code=code or f"HTTP{status}",
            ) from exc
        except BotoCoreError as exc:  # connection errors, timeouts
            raise DeliveryError(
                f"SES unreachable ({type(exc).__name__})",
                failure=FailureClass.TRANSIENT,
                code=type(exc).__name__,
            ) from exc


def classify(code: str, status: int) -> FailureClass:
    if code in RECIPIENT_CODES:
        return FailureClass.RECIPIENT
    if code in ACCOUNT_CODES:
        return FailureClass.ACCOUNT
    if code in TRANSIENT_CODES or status == 429 or status >= 500:
        return FailureClass.TRANSIENT
    return FailureClass.ACCOUNT  # unknown: kept for the operator, never dropped
