"""The SES v2 mailer: one `SendEmail` with raw MIME content (text + HTML alternatives).

Errors are judged by their code (and HTTP status), never by their text: throttling, quotas,
account-level pauses and outages are transient (the outbox retries them, then the dead-letter
queue keeps them); a rejected message is permanent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from regflow.domain import Email, MailDeliveryError
from regflow.emails import to_mime

if TYPE_CHECKING:
    from mypy_boto3_sesv2.client import SESV2Client
else:
    SESV2Client = Any

# This message can never be sent as it is: retrying it is pointless.
PERMANENT_CODES = frozenset({"MessageRejected", "BadRequestException", "InvalidParameterValue"})
# Transient by definition; other codes are judged by their HTTP status (429 and 5xx transient).
# Account-level states (sending paused, suspended, an identity not verified yet) are transient
# too: they are fixed by an operator, and until then the mail must wait, not be dropped.
TRANSIENT_CODES = frozenset(
    {
        "TooManyRequestsException",
        "LimitExceededException",
        "Throttling",
        "ThrottlingException",
        "SendingPausedException",
        "AccountSuspendedException",
        "MailFromDomainNotVerifiedException",
        "NotFoundException",
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
            kwargs["ConfigurationSetName"] = self._configuration_set
        try:
            self._client.send_email(**kwargs)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
            raise MailDeliveryError(
                f"SES refused the message ({code or status})", transient=is_transient(code, status)
            ) from exc
        except BotoCoreError as exc:  # connection errors, timeouts
            raise MailDeliveryError(
                f"SES unreachable ({type(exc).__name__})", transient=True
            ) from exc


def is_transient(code: str, status: int) -> bool:
    if code in PERMANENT_CODES:
        return False
    if code in TRANSIENT_CODES:
        return True
    return status == 429 or status >= 500
