"""SesMailer: the SES v2 request it makes and how it classifies errors (by code and status)."""

from __future__ import annotations

import email
import email.policy
from typing import Any

import boto3
import pytest
from botocore.exceptions import ConnectTimeoutError, EndpointConnectionError
from botocore.stub import Stubber

from regflow.adapters.ses import SesMailer
from regflow.domain import DeliveryError, Email, FailureClass

MESSAGE = Email(
    sender="no-reply@regflow.example",
    to="jane@example.com",
    subject="Please verify your email address",
    text="Hi Jane,\nclick the link\n",
    html="<p>Hi &lt;b&gt;Jane</p>",
    reply_to=None,
)


class RecordingClient:
    def __init__(self, exc: Exception | None = None) -> None:
        self.calls: list[dict[str, Any]] = []
        self.exc = exc

    def send_email(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        if self.exc is not None:
            raise self.exc
        return {"MessageId": "m-1"}


def stubbed() -> tuple[SesMailer, Stubber]:
    client = boto3.client(
        "sesv2",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # fake: the Stubber answers, nothing leaves
    )
    return SesMailer(client), Stubber(client)


def test_sends_raw_multipart_with_every_part() -> None:
    client = RecordingClient()
    SesMailer(client).send(MESSAGE)  # type: ignore[arg-type]
    [call] = client.calls
    assert call["FromEmailAddress"] == MESSAGE.sender
    assert call["Destination"] == {"ToAddresses": ["jane@example.com"]}
    raw = call["Content"]["Raw"]["Data"]
    assert isinstance(raw, bytes)
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert parsed.get_content_type() == "multipart/alternative"
    assert parsed["To"] == "jane@example.com" and parsed["Subject"] == MESSAGE.subject
    assert parsed["Message-ID"] and parsed["Date"]
    assert "click the link" in parsed.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "&lt;b&gt;Jane" in parsed.get_body(("html",)).get_content()  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("code", "status", "failure"),
    [
        ("TooManyRequestsException", 429, FailureClass.TRANSIENT),
        ("InternalFailure", 500, FailureClass.TRANSIENT),
        ("SomethingNew", 503, FailureClass.TRANSIENT),
        # the operator's to fix: never dropped
        ("LimitExceededException", 400, FailureClass.ACCOUNT),
        ("SendingPausedException", 400, FailureClass.ACCOUNT),
        ("AccountSuspendedException", 400, FailureClass.ACCOUNT),
        ("MessageRejected", 400, FailureClass.ACCOUNT),  # "Email address is not verified"
        ("AccessDeniedException", 403, FailureClass.ACCOUNT),
        ("SomethingNew", 400, FailureClass.ACCOUNT),
        # an invalid From, an oversized message, a malformed tag: the account's (SES never
        # refuses a recipient at the API; tests/unit/test_refusals.py)
        ("BadRequestException", 400, FailureClass.ACCOUNT),
        ("InvalidParameterValue", 400, FailureClass.ACCOUNT),
    ],
)
def test_errors_are_classified_by_code(code: str, status: int, failure: FailureClass) -> None:
    mailer, stub = stubbed()
    stub.add_client_error(
        "send_email",
        service_error_code=code,
        service_message="text we ignore",
        http_status_code=status,
    )
    with stub, pytest.raises(DeliveryError) as info:
        mailer.send(MESSAGE)
    assert info.value.failure is failure
    assert info.value.code == code
    assert "jane@example.com" not in str(info.value)  # no address in the error (it gets logged)


@pytest.mark.parametrize(
    "exc",
    [
        EndpointConnectionError(endpoint_url="https://email.invalid"),
        ConnectTimeoutError(endpoint_url="https://email.invalid"),
    ],
)
def test_connection_errors_are_transient(exc: Exception) -> None:
    with pytest.raises(DeliveryError) as info:
        SesMailer(RecordingClient(exc)).send(MESSAGE)  # type: ignore[arg-type]
    assert info.value.failure is FailureClass.TRANSIENT


def test_an_internationalized_sender_domain_goes_to_ses_in_its_idna_form() -> None:
    """SES refuses a Unicode domain in FromEmailAddress (BadRequestException, which once
    suppressed the recipient): both parameters carry the xn-- form, as the MIME headers do."""
    client = RecordingClient()
    message = Email(
        sender="no-reply@bücher.example",
        to="jane@müller.example",
        subject="s",
        text="t",
        html="<p>t</p>",
        reply_to=None,
    )
    SesMailer(client).send(message)  # type: ignore[arg-type]
    [call] = client.calls
    assert call["FromEmailAddress"] == "no-reply@xn--bcher-kva.example"
    assert call["Destination"] == {"ToAddresses": ["jane@xn--mller-kva.example"]}
    parsed = email.message_from_bytes(call["Content"]["Raw"]["Data"], policy=email.policy.default)
    assert parsed["From"].addresses[0].addr_spec == call["FromEmailAddress"]
