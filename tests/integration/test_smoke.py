"""`regflow smoke --stack NAME` (docs/aws.md, last step) against a stack emulated under moto:
the table, the token secret and the mail sender's function (its `TOKEN_SECRET_ARN`) in moto,
the real register and confirm Lambda handlers behind a loopback HTTP server standing in for the
public URL (CloudFront), the real mail sender fed from the table's stream and the real SES
events function.

moto cannot answer what the smoke exists to prove on AWS: CloudFormation (its backend cannot
run SAM transforms; DescribeStacks is answered through botocore's `before-call` hook, as in
tests/support/opstack.py) and SES's mailbox simulator (moto accepts mail to
`bounce@simulator.amazonses.com` and reports nothing): the stub server plays the simulator,
delivering the recorded SNS bounce and complaint notifications (tests/fixtures/ses_events) to
the SES events function for the mail the sender sent to those addresses.
"""

from __future__ import annotations

import io
import json
import os
import re
import threading
import urllib.parse
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse

from regflow.ops import smoke
from tests.integration.test_deliverability_aws import deliver, registration_id, ses_event
from tests.support import events
from tests.support.aws import REGION, Stack, aws_stack, client

FUNCTION = "regflow-mail-sender"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "aws.md"


class PublicUrl(HTTPServer):
    """The stack's public URL on loopback: each request as the v2 event CloudFront and the HTTP
    API pass to the function that serves its route."""

    def __init__(self, stack: Stack, simulate: set[str], park_owner: bool = False) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.stack = stack
        self.park_owner = park_owner
        self.simulate = simulate  # the simulator mailboxes that report (bounce, complaint)
        self.paths: list[str] = []
        self.calls: set[str] = set()  # the smoke's AWS calls (IAM actions), once it ran

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/"

    def answer(self, method: str, target: str, body: bytes, headers: dict[str, str]) -> Any:
        path, _, query = target.partition("?")
        self.paths.append(f"{method} {path}")
        event = events.http_event(method, path, body=body.decode() or None, headers=headers)
        event["rawQueryString"] = query
        if query:
            event["queryStringParameters"] = dict(urllib.parse.parse_qsl(query))
        if path in ("/register", "/challenge"):
            response = self.stack.register(event)
        else:
            response = self.stack.confirm(event)
        self.stack.pump()  # the stream into the mail sender, as the event source mapping does
        if path == "/register" and response["statusCode"] == 202:
            email = json.loads(body)["email"]
            box = email.split("+", 1)[0]
            if box in self.simulate:  # the simulator's report of that mail, through SNS
                fixture = {"bounce": "sns_bounce_permanent", "complaint": "sns_complaint"}[box]
                delivered = [m for m in self.stack.mail() if email in m.to]
                assert delivered, "the verification mail was not sent"
                rid = registration_id(self.stack, email)
                deliver(self.stack, ses_event(fixture, rid, email))
        if path == "/confirm" and self.park_owner:
            # what the mail sender leaves when SES refuses the notification: a parked message
            for item in self.stack.items("REG#"):
                if item["status"]["S"] == "CONFIRMED":
                    pk = f"OUTBOX#owner-notification#{item['id']['S']}"
                    self.stack.dynamodb.put_item(
                        TableName=self.stack.table_name,
                        Item={"pk": {"S": pk}, "kind": {"S": "owner-notification"}},
                    )
        return response


class _Handler(BaseHTTPRequestHandler):
    server: PublicUrl

    def _serve(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        response = self.server.answer(self.command, self.path, body, headers)
        payload = response.get("body") or ""
        data = payload.encode() if isinstance(payload, str) else payload
        self.send_response(int(response["statusCode"]))
        for name, value in (response.get("headers") or {}).items():
            self.send_header(name, str(value))
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _serve

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture(params=["link", "button"])
def deployed(request: pytest.FixtureRequest) -> Iterator[Stack]:
    """The stack; its link opens at once (`link`) or shows the button the smoke presses."""
    mode = str(request.param)
    with aws_stack(CHALLENGE="pow", CHALLENGE_DIFFICULTY="200", CONFIRM_MODE=mode) as stack:
        role = client("iam").create_role(RoleName="mail-sender", AssumeRolePolicyDocument="{}")
        package = io.BytesIO()
        with zipfile.ZipFile(package, "w") as z:
            z.writestr("handler.py", "def lambda_handler(event, context):\n    return None\n")
        client("lambda").create_function(
            FunctionName=FUNCTION,
            Runtime="python3.13",
            Role=role["Role"]["Arn"],
            Handler="handler.lambda_handler",
            Code={"ZipFile": package.getvalue()},
            Environment={"Variables": {"TOKEN_SECRET_ARN": stack.secret_arn}},
        )
        yield stack


def run(
    stack: Stack, simulate: set[str], name: str = "regflow", *, park_owner: bool = False
) -> tuple[int, str, PublicUrl]:
    server = PublicUrl(stack, simulate, park_owner)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    outputs = {
        "RegistrationPageUrl": server.url,
        "TableName": stack.table_name,
        "MailSenderFunction": FUNCTION,
    }
    described = {
        "Stacks": [
            {
                "StackName": "regflow",
                "StackStatus": "UPDATE_COMPLETE",
                "Outputs": [{"OutputKey": k, "OutputValue": v} for k, v in outputs.items()],
            }
        ]
    }
    session = boto3.session.Session(region_name=REGION)

    def describe(params: Any, **_: Any) -> Any:
        if params["body"].get("StackName") != "regflow":
            return AWSResponse("https://cfn.invalid/", 400, {}, None), {  # type: ignore[arg-type]
                "Error": {"Code": "ValidationError", "Message": "Stack does not exist"},
                "ResponseMetadata": {"HTTPStatusCode": 400},
            }
        return AWSResponse("https://cfn.invalid/", 200, {}, None), described  # type: ignore[arg-type]

    session.events.register("before-call.cloudformation.DescribeStacks", describe)
    calls: set[str] = set()

    def record(model: Any, **_: Any) -> None:  # each call, as the IAM action it needs
        calls.add(f"{model.service_model.signing_name}:{model.name}")

    session.events.register("before-parameter-build", record)
    out = io.StringIO()
    options = smoke.Options(stack=name, timeout=1.0, interval=0.1, settle=0.0)
    try:
        code = smoke.main(options, out, session=session)
    finally:
        server.shutdown()
        server.server_close()
    server.calls = calls
    return code, out.getvalue(), server


def assert_discreet(stack: Stack, text: str) -> None:
    """No token and no full address in the output."""
    assert not re.search(r"[A-Za-z0-9_-]{64}", text), text
    assert "@simulator.amazonses.com" in text  # masked addresses keep their domain
    for item in stack.items("REG#"):
        assert item["email"]["S"] not in text


def test_a_working_stack_passes_every_check(deployed: Stack) -> None:
    code, text, server = run(deployed, {"bounce", "complaint"})

    assert code == 0, text
    lines = text.splitlines()
    assert [line.split()[0] for line in lines] == ["ok"] * len(lines), text
    assert sum(line.startswith("ok registered") for line in lines) == 3
    assert any(line.startswith("ok confirmed") for line in lines)
    assert "ok owner notification sent" in lines
    assert any(line.startswith("ok bounce suppressed") for line in lines)
    assert any(line.startswith("ok complaint suppressed") for line in lines)
    # the challenge was solved (the stack asks for one) and the link opened
    assert server.paths.count("GET /challenge") == 3 and "GET /confirm" in server.paths
    button = os.environ["CONFIRM_MODE"] == "button"  # aws_stack sets the stack's
    assert ("POST /confirm" in server.paths) == button
    confirmed = [i for i in deployed.items("REG#") if i["status"]["S"] == "CONFIRMED"]
    assert [i["email"]["S"].split("+")[0] for i in confirmed] == ["success"]
    owner = [m for m in deployed.mail() if "owner@regflow.example" in m.to]
    assert len(owner) == 1  # the notification the check vouches for was sent
    assert_discreet(deployed, text)
    # docs/aws.md names exactly the permissions the smoke uses
    section = DOCS.read_text(encoding="utf-8").split("## 7. Prove it works", 1)[1]
    section = section.split("\n## ", 1)[0].split("Your credentials need", 1)[1]
    documented = set(re.findall(r"`([a-z0-9]+:[A-Za-z]+)`", section))
    assert server.calls == documented


def test_a_missing_suppression_and_a_parked_notification_fail(deployed: Stack) -> None:
    """The complaint never reaches the SES events function (a topic policy that refuses SES,
    say), and the owner notification is parked, not sent (an SES refusal)."""
    code, text, _ = run(deployed, {"bounce"}, park_owner=True)

    assert code == 1, text
    lines = text.splitlines()
    assert any(line.startswith("FAIL complaint suppressed") for line in lines), text
    assert any(line.startswith("FAIL owner notification parked") for line in lines), text
    assert any(line.startswith("ok bounce suppressed") for line in lines), text
    assert any(line.startswith("ok confirmed") for line in lines), text
    assert_discreet(deployed, text)


def test_a_stack_that_cannot_be_read_exits_2(deployed: Stack) -> None:
    code, text, _ = run(deployed, set(), name="nope")
    assert code == 2
    assert "nope" in text and "FAIL" not in text
