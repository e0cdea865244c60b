"""Time budgets that fit (issue 10): the worst case of each path, computed from the clients'
configured timeouts and retries, inside the function's timeout in template.yaml, inside the
API's integration timeout, inside API Gateway's 30 s."""

from __future__ import annotations

from typing import Any

import pytest

from regflow import delivery
from regflow.aws import AwsClients, budget, mail_sender, recovery
from tests.support.aws import load_template

API_GATEWAY_MAX_MS = 30_000


@pytest.fixture(scope="module")
def resources() -> dict[str, Any]:
    res: dict[str, Any] = load_template()["Resources"]
    return res


def timeout_s(resources: dict[str, Any], function: str) -> float:
    return float(resources[function]["Properties"]["Timeout"])


def test_the_clients_use_the_budgets_numbers() -> None:
    made: dict[str, Any] = {}

    class Session:
        def client(self, service: str, config: Any) -> object:
            made[service] = config
            return object()

    clients = AwsClients(session_factory=Session)
    clients.dynamodb(), clients.sesv2(), clients.secretsmanager()
    for service, config in made.items():
        assert config.connect_timeout == budget.CONNECT_TIMEOUT
        assert config.read_timeout == budget.read_timeout(service)
        assert config.retries["total_max_attempts"] == budget.ATTEMPTS[service]
    assert budget.ATTEMPTS["sesv2"] == 1  # the delivery policy owns SES retries


def test_worst_call_arithmetic() -> None:
    assert budget.worst_call("dynamodb") == 2 * (1 + 3) + 1 == 9
    assert budget.worst_call("sesv2") == 1 * (1 + 5) == 6


@pytest.mark.parametrize(
    ("function", "integration", "worst"),
    [
        ("RegistrationHandler", "RegisterIntegration", budget.worst_register),
        ("ConfirmationHandler", "ConfirmIntegration", budget.worst_confirm),
    ],
)
def test_a_request_handler_answers_within_its_timeout_and_the_apis(
    resources: dict[str, Any], function: str, integration: str, worst: Any
) -> None:
    limit = timeout_s(resources, function)
    integration_ms = resources[integration]["Properties"]["TimeoutInMillis"]
    assert worst() < limit  # the function answers (a 503) before Lambda kills it
    assert limit * 1000 <= integration_ms <= API_GATEWAY_MAX_MS  # and API Gateway waits for it


def test_the_mail_sender_never_times_out_mid_message(resources: dict[str, Any]) -> None:
    limit_ms = timeout_s(resources, "MailSender") * 1000
    # a new record is taken only with a whole message's worst case left
    assert budget.worst_fresh_message() * 1000 <= mail_sender.MIN_REMAINING_MS
    # a quick retry waits only when its own worst case is left after the backoff
    assert budget.worst_retry() <= delivery.RETRY_MARGIN_SECONDS
    # and there is room for messages at all: at least half the invocation delivers
    assert limit_ms / 2 >= mail_sender.MIN_REMAINING_MS


def test_the_recovery_never_times_out_mid_message(resources: dict[str, Any]) -> None:
    limit_ms = timeout_s(resources, "ParkedMessageRecovery") * 1000
    assert budget.worst_claimed_message() * 1000 <= recovery.MIN_REMAINING_MS
    assert limit_ms / 2 >= recovery.MIN_REMAINING_MS


@pytest.mark.parametrize("service", ["sesv2", "dynamodb"])
def test_botocore_makes_exactly_the_budgets_attempts(
    service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`total_max_attempts` counts the first try (`max_attempts` would count retries and
    make one more call than the budget, and send a mail twice)."""
    import boto3
    from botocore.awsrequest import AWSResponse, HTTPHeaders
    from botocore.exceptions import ClientError

    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    clients = AwsClients(session_factory=lambda: boto3.session.Session(region_name="us-east-1"))
    client = clients.sesv2() if service == "sesv2" else clients.dynamodb()
    sent: list[int] = []

    def fail(**_: Any) -> AWSResponse:
        sent.append(1)
        return AWSResponse(
            "https://fault.invalid/",
            500,
            HTTPHeaders.from_dict(
                {"x-amzn-ErrorType": "InternalFailure", "Content-Type": "application/json"}
            ),
            Raw(b'{"__type": "InternalFailure", "message": "injected"}'),
        )

    client.meta.events.register("before-send", fail)  # type: ignore[arg-type]

    def call() -> None:
        if service == "sesv2":
            client.send_email(  # type: ignore[union-attr]
                FromEmailAddress="a@example.com",
                Destination={"ToAddresses": ["b@example.com"]},
                Content={"Simple": {"Subject": {"Data": "s"}, "Body": {"Text": {"Data": "t"}}}},
            )
        else:
            client.get_item(TableName="t", Key={"pk": {"S": "x"}})  # type: ignore[union-attr]

    with pytest.raises(ClientError):
        call()
    assert len(sent) == budget.ATTEMPTS[service]


class Raw:
    """A raw HTTP body as botocore reads it."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Any:
        yield self._data

    def read(self, *_: Any) -> bytes:
        data, self._data = self._data, b""
        return data
