"""Least privilege, proved both ways (issue 4).

A full flow runs through the real Lambda handlers under moto (register -> stream -> mail sender
-> confirm -> stream -> mail sender, plus "already registered" and CONFIRM_MODE=button; then
SES refusing: the mail sender parks one message and drops another, and the scheduled recovery
parks one again, drops one and sends one), and a botocore hook records every AWS call each
function makes, as the IAM requests AWS would
authorize (TransactWriteItems split into its per-item actions). Then:

1. every request is allowed by that function's role in template.yaml, on that resource, with
   the request's condition keys (dynamodb:LeadingKeys, ses:FromAddress);
2. the roles grant nothing more: every action, resource and LeadingKeys pattern of every
   statement is used by some recorded request, or is in SERVICE_PERFORMED below, the calls the
   Lambda service itself makes with the function's role (each with its reason).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.support import events, iam
from tests.support.aws import (
    ACCOUNT,
    REGION,
    STACK_ENV,
    TOKEN_RE,
    WEBHOOK_VALUE,
    Faults,
    StreamReader,
    aws_stack,
    load_template,
    matches_any,
    sent_mail,
)
from tests.support.webhook import webhook_receiver

FUNCTIONS = (
    "RegistrationHandler",
    "ConfirmationHandler",
    "MailSender",
    "ParkedMessageRecovery",
    "SesEventsHandler",
    "ErasureHandler",
    "OwnerDigestHandler",
)
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ses_events"
FIXTURE_TO = "jane.doe+news@example.com"
DLQ_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}:regflow-MailDeadLetterQueue-TEST"
SES_EVENTS_DLQ_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}:regflow-ses-events-dead-letters"
DIGEST_FAILURES_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}:regflow-owner-digest-failures"
CONFIGURATION_SET = "regflow-mail"  # the template's name for StackName "regflow"


def log_group_arn(template: Mapping[str, Any], function: str) -> str:
    group = template["Resources"][function]["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
    name = template["Resources"][group]["Properties"]["LogGroupName"]
    return f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{name}"


def service_performed(
    template: Mapping[str, Any], table_arn: str
) -> dict[str, list[tuple[iam.Request, str]]]:
    """Requests the Lambda service makes with a function's role (not our code), and why."""
    out: dict[str, list[tuple[iam.Request, str]]] = {}
    for function in FUNCTIONS:
        stream = f"{log_group_arn(template, function)}:log-stream:2024/01/01/[$LATEST]abc"
        reason = "the Lambda runtime writes the function's output to its own log group"
        out[function] = [
            (iam.Request("logs:CreateLogStream", stream), reason),
            (iam.Request("logs:PutLogEvents", stream), reason),
        ]
    out["MailSender"] += [
        (
            iam.Request("dynamodb:ListStreams", f"{table_arn}/stream/*"),
            "listed by AWS as required of a DynamoDB trigger's role (the event source "
            "mapping's poller); the flow's stream reader already knows the stream ARN",
        ),
        (
            iam.Request("sqs:SendMessage", DLQ_ARN),
            "the mapping's OnFailure destination: Lambda sends the description of a batch "
            "that exhausted its retries to the dead-letter queue, with the function's role",
        ),
    ]
    out["OwnerDigestHandler"] += [
        (
            iam.Request("sqs:SendMessage", DIGEST_FAILURES_ARN),
            "the function's on-failure destination: Lambda records a run that failed after "
            "two retries there, with the function's role",
        ),
    ]
    out["SesEventsHandler"] += [
        (
            iam.Request("sqs:SendMessage", SES_EVENTS_DLQ_ARN),
            "the function's dead-letter queue: Lambda sends an SES event it could not apply "
            "after two retries there, with the function's role",
        ),
    ]
    return out


@dataclass
class Flow:
    """One run of the flow: its roles resolved against its resources, and what it did."""

    mode: str
    statements: dict[str, list[iam.Statement]]
    requests: dict[str, list[iam.Request]]
    services: dict[str, list[tuple[iam.Request, str]]]


@dataclass
class Observed:
    flows: list[Flow]
    calls: list[iam.Call]


def pump(reader: StreamReader, recorder: iam.ActionRecorder) -> None:
    """The event source mapping: read the stream (as the Lambda service, with the mail
    sender's role), filter, invoke the mail sender."""
    from regflow.adapters.dynamodb import FILTER_PATTERNS
    from regflow.handlers import mail_sender

    records = [r for r in reader.records() if matches_any(FILTER_PATTERNS, r)]
    assert records, "the flow should have produced mail"
    with recorder.acting_as("MailSender"):
        response = mail_sender.lambda_handler({"Records": records}, None)
    assert response == {"batchItemFailures": []}


def last_token() -> str:
    match = re.search(TOKEN_RE, sent_mail()[-1].text)
    assert match, "no confirmation link in the last mail"
    return match.group(1)


def run_flow(mode: str, recorder: iam.ActionRecorder) -> dict[str, Any]:
    """One full flow in CONFIRM_MODE=`mode`; returns the resolution context of the stack."""
    from regflow import aws

    original = aws.AwsClients._new_client

    def hooked(self: aws.AwsClients, service: str) -> Any:
        client = original(self, service)
        recorder.hook(client)
        return client

    env = {
        "CONFIRM_MODE": mode,
        "ADDRESS_MIN_INTERVAL_SECONDS": "0",
        "SES_CONFIGURATION_SET": CONFIGURATION_SET,
        # issue 14: every registration of the flow solves a proof-of-work challenge, spent in
        # its transaction (the CHAL# Put)
        "CHALLENGE": "pow",
        "CHALLENGE_DIFFICULTY": "20",
        # issue 27: the secrets come from Secrets Manager at run time (by ARN), the webhook
        # key too (a real receiver on loopback takes the events)
    }
    dead_domains: set[str] = set()

    class MailDomains:
        """The MX check (MX_CHECK=on) without DNS: the domains in `dead_domains` have no
        mail servers."""

        def receives_mail(self, domain: str) -> bool | None:
            return domain not in dead_domains

    with (
        webhook_receiver(WEBHOOK_VALUE.encode()) as receiver,
        pytest.MonkeyPatch.context() as patch,
        aws_stack(**env, WEBHOOK_URL=receiver.url) as stack,
    ):
        patch.setattr(aws.AwsClients, "_new_client", hooked)
        from regflow import compose

        patch.setattr(compose, "mail_domains", lambda settings: MailDomains())
        reader = StreamReader(stack.dynamodb, stack.table_name)
        recorder.hook(reader._streams, as_function="MailSender")  # the mapping's own reads
        alice = {"name": "Alice", "email": f"alice-{mode}@example.com"}

        def solved(person: dict[str, str]) -> dict[str, str]:
            task = json.loads(stack.register(events.http_event("GET", "/challenge"))["body"])
            number = next(
                n
                for n in range(task["maxnumber"] + 1)
                if hashlib.sha256(f"{task['salt']}{n}".encode()).hexdigest() == task["challenge"]
            )
            fields = {k: task[k] for k in ("algorithm", "challenge", "salt", "signature")}
            payload = json.dumps({**fields, "number": number}).encode()
            return {**person, "challenge": base64.b64encode(payload).decode()}

        with recorder.acting_as("RegistrationHandler"):
            assert stack.register(events.json_post("/register", solved(alice)))["statusCode"] == 202
        pump(reader, recorder)  # verification mail
        token = last_token()

        with recorder.acting_as("ConfirmationHandler"):
            if mode == "button":
                page = stack.confirm(events.http_event("GET", "/confirm", query={"token": token}))
                assert page["statusCode"] == 200
                answer = stack.confirm(events.form_post("/confirm", {"token": token}))
            else:
                answer = stack.confirm(events.http_event("GET", "/confirm", query={"token": token}))
            assert answer["headers"]["Location"].endswith("status=confirmed")
            again = stack.confirm(events.form_post("/confirm", {"token": token}))
            assert again["headers"]["Location"].endswith("status=already-confirmed")
        pump(reader, recorder)  # owner notification

        with recorder.acting_as("RegistrationHandler"):
            assert stack.register(events.json_post("/register", solved(alice)))["statusCode"] == 202
        pump(reader, recorder)  # "you are already registered"
        assert len(sent_mail()) == 3

        # SES refuses: every refusal at SES's API is the account's and parks the message;
        # an address whose domain has no mail servers (the MX check) is dropped, suppressed
        # and recorded on the registration
        ses = Faults(stack.clients.sesv2(), "SendEmail")
        dead_domains.add("nomail.example")
        for who, code, domain in (
            ("bob", "AccountSuspendedException", "example.com"),
            ("dave", "BadRequestException", "gone.example"),
            ("carol", None, "nomail.example"),
        ):
            if code is not None:
                ses.fail(code)
            person = {"name": who.title(), "email": f"{who}-{mode}@{domain}"}
            with recorder.acting_as("RegistrationHandler"):
                post = events.json_post(
                    "/register", solved(person), source_ip=f"198.51.100.{len(who)}"
                )
                assert stack.register(post)["statusCode"] == 202
            pump(reader, recorder)
        assert len(stack.parked()) == 2
        # the scheduled recovery: bob's refused again (parked again), dave's domain lost its
        # mail servers meanwhile (dropped), then bob's sent
        dead_domains.add("gone.example")
        ses.fail("AccountSuspendedException")
        with recorder.acting_as("ParkedMessageRecovery"):
            counts = stack.recover(later_by=3600)
        assert (counts["parked"], counts["dropped"]) == (1, 1)
        with recorder.acting_as("ParkedMessageRecovery"):
            assert stack.recover(later_by=3 * 3600)["sent"] == 1
        assert stack.parked() == []
        assert len(sent_mail()) == 4

        # the expired page's "send me a new link" (issue 14): a fresh registration for the
        # one the link names, mailed anew; and the code beside the link (a wrong one counted)
        hana = {"name": "Hana", "email": f"hana-{mode}@example.com"}
        with recorder.acting_as("RegistrationHandler"):
            post = events.json_post("/register", solved(hana), source_ip="198.51.100.99")
            registered = stack.register(post)
            assert registered["statusCode"] == 202
        pump(reader, recorder)
        hana_token = last_token()
        handle = registered["cookies"][0].split(";", 1)[0]
        with recorder.acting_as("ConfirmationHandler"):
            resend = events.json_post("/resend", {"token": hana_token}, source_ip="198.51.100.99")
            assert stack.confirm(resend)["statusCode"] == 202
            # never a code: a wrong try, counted (one conditional write)
            wrong = events.json_post("/confirm-code", {"code": "x"}, headers={"cookie": handle})
            assert stack.confirm(wrong)["statusCode"] == 400
        pump(reader, recorder)
        assert len(sent_mail()) == 6

        # deliverability: SES reports a hard bounce and a soft bounce of erin's mail to the
        # SES events function (SNS); erin's next post sends nothing (the mail sender reads the
        # suppression list)
        erin = f"erin-{mode}@example.com"
        with recorder.acting_as("RegistrationHandler"):
            post = events.json_post(
                "/register", solved({"name": "Erin", "email": erin}), source_ip="198.51.100.9"
            )
            assert stack.register(post)["statusCode"] == 202
        pump(reader, recorder)
        assert len(sent_mail()) == 7
        (erin_id,) = [i["id"]["S"] for i in stack.items("REG#") if i["email"]["S"] == erin]
        from regflow.handlers import ses_events

        for name in ("sns_bounce_transient", "sns_bounce_permanent"):
            text = (FIXTURES / f"{name}.json").read_text(encoding="utf-8")
            event = json.loads(text.replace("REGISTRATION_ID", erin_id).replace(FIXTURE_TO, erin))
            with recorder.acting_as("SesEventsHandler"):
                assert ses_events.lambda_handler(event, None)["events"] == 1
        assert stack.item(erin_id)["status"]["S"] == "BOUNCED"  # type: ignore[index]
        with recorder.acting_as("RegistrationHandler"):
            again = events.json_post(
                "/register", solved({"name": "Erin", "email": erin}), source_ip="198.51.100.9"
            )
            assert stack.register(again)["statusCode"] == 202
        pump(reader, recorder)
        assert len(sent_mail()) == 7

        # events (issue 12): each confirmation publishes to EventBridge from the mail sender;
        # EventBridge refusing (access denied) parks the event, the recovery publishes it
        from regflow.domain import MessageKind

        Faults(stack.clients.events(), "PutEvents").fail("AccessDeniedException")
        gina = {"name": "Gina", "email": f"gina-{mode}@example.com"}
        with recorder.acting_as("RegistrationHandler"):
            post = events.json_post("/register", solved(gina), source_ip="198.51.100.98")
            assert stack.register(post)["statusCode"] == 202
        pump(reader, recorder)
        with recorder.acting_as("ConfirmationHandler"):
            gina_token = last_token()
            form = events.form_post("/confirm", {"token": gina_token})
            assert stack.confirm(form)["headers"]["Location"].endswith("status=confirmed")
        pump(reader, recorder)  # the owner's mail goes out, the event is parked
        assert [p.message.kind for p in stack.parked()] == [MessageKind.REGISTRATION_CONFIRMED]
        with recorder.acting_as("ParkedMessageRecovery"):
            assert stack.recover(later_by=3600)["sent"] == 1
        assert stack.parked() == []

        # erasure (issue 12): frank's mail is refused (parked: an OUTBOX# item naming his
        # address); he erases with the link; registers again and erases again before the
        # mail sender ran, so the first erasure's record is among his items; then the sender
        # delivers both notices and forgets both records
        from regflow.tokens import TokenSigner
        from tests.support.aws import client

        secret = client("secretsmanager").get_secret_value(SecretId=stack.secret_arn)
        eraser = TokenSigner(secret["SecretString"].encode()).for_erasure()
        frank = {"name": "Frank", "email": f"frank-{mode}@example.com"}
        for attempt in (1, 2):
            if attempt == 1:
                ses.fail("AccountSuspendedException")
            with recorder.acting_as("RegistrationHandler"):
                post = events.json_post(
                    "/register", solved(frank), source_ip=f"198.51.100.{60 + attempt}"
                )
                assert stack.register(post)["statusCode"] == 202
            if attempt == 1:
                pump(reader, recorder)
                assert len(stack.parked()) == 1
            [reg] = [i for i in stack.items("REG#") if i["email"]["S"] == frank["email"]]
            token = eraser.issue(reg["id"]["S"], reg["addrKey"]["S"])
            with recorder.acting_as("ErasureHandler"):
                page = stack.erase(events.http_event("GET", "/erase", query={"token": token}))
                assert page["statusCode"] == 200
                answer = stack.erase(events.form_post("/erase", {"token": token}))
                assert answer["statusCode"] == 303
        pump(reader, recorder)
        assert stack.items("ERASED#") == [] and stack.parked() == []

        # the owner's daily digest (issue 12): SES refuses it once (parked by the digest
        # function), the scheduled recovery sends it (rendering it reads the confirmations)
        from regflow.aws import digest, wiring

        patch.setenv("OWNER_DIGEST", "daily")
        aws.reset()
        Faults(aws.clients().sesv2(), "SendEmail").fail("AccountSuspendedException")
        with recorder.acting_as("OwnerDigestHandler"):
            sent = digest.send_digest(wiring.delivery_for(wiring.Role.DIGEST), sleep=lambda _: None)
        assert sent["result"] == "parked"
        with recorder.acting_as("ParkedMessageRecovery"):
            assert stack.recover(later_by=3600)["sent"] == 1
        assert sent_mail()[-1].subject.startswith("Registrations confirmed on ")
        assert stack.parked() == []

        table = stack.dynamodb.describe_table(TableName=stack.table_name)["Table"]
        return {
            "table_name": stack.table_name,
            "table_arn": table["TableArn"],
            "stream_arn": table["LatestStreamArn"],
            "secret_arn": stack.secret_arn,
            "secret_arns": stack.secret_arns,
            "webhooks": len(receiver.accepted),
        }


def refs_for(template: Mapping[str, Any], ctx: Mapping[str, Any]) -> dict[str, Any]:
    refs: dict[str, Any] = {
        "AWS::Partition": "aws",
        "AWS::Region": REGION,
        "AWS::AccountId": ACCOUNT,
        "AWS::URLSuffix": "amazonaws.com",
        "AWS::StackName": "regflow",
        "UserRegistrations": ctx["table_name"],
        "UserRegistrations.Arn": ctx["table_arn"],
        "UserRegistrations.StreamArn": ctx["stream_arn"],
        "TokenSecret": ctx["secret_arn"],
        "OriginVerifySecret": ctx["secret_arns"]["ORIGIN_VERIFY_SECRET_ARN"],
        "ChallengeSecret": ctx["secret_arns"]["CHALLENGE_SECRET_ARN"],
        "WebhookSecret": ctx["secret_arns"]["WEBHOOK_SECRET_ARN"],
        "MailDeadLetterQueue.Arn": DLQ_ARN,
        "OwnerDigestFailureQueue.Arn": DIGEST_FAILURES_ARN,
        "SesEventsDeadLetterQueue.Arn": SES_EVENTS_DLQ_ARN,
        "SesConfigurationSet": CONFIGURATION_SET,
        "SenderEmail": STACK_ENV["SENDER_EMAIL"],
        "OwnerEmail": STACK_ENV["OWNER_EMAIL"],
        "EventBusName": STACK_ENV["EVENT_BUS_NAME"],
    }
    for function in FUNCTIONS:
        group = template["Resources"][function]["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        refs[f"{group}.Arn"] = log_group_arn(template, function) + ":*"
    return refs


@pytest.fixture(scope="module")
def observed() -> Observed:
    template = load_template()
    recorder = iam.ActionRecorder()
    flows = []
    for mode in ("link", "button"):
        start = len(recorder.calls)
        ctx = run_flow(mode, recorder)
        # Each flow has its own moto state (the secret's ARN differs): judge it on its own.
        arns = iam.Arns(REGION, ACCOUNT, stream_arn=ctx["stream_arn"])
        requests: dict[str, list[iam.Request]] = {f: [] for f in FUNCTIONS}
        for call in recorder.calls[start:]:
            requests[call.function].extend(iam.requests_for(call, arns))
        refs = refs_for(template, ctx)
        flows.append(
            Flow(
                mode=mode,
                statements={f: iam.role_statements(template, f, refs) for f in FUNCTIONS},
                requests=requests,
                services=service_performed(template, ctx["table_arn"]),
            )
        )
    assert recorder.unattributed == [], "calls outside any function"
    return Observed(flows, recorder.calls)


def test_the_flow_exercised_every_function(observed: Observed) -> None:
    ops = {(c.function, c.service, c.operation) for c in observed.calls}
    assert ("RegistrationHandler", "dynamodb", "TransactWriteItems") in ops
    assert ("ConfirmationHandler", "dynamodb", "TransactWriteItems") in ops
    assert ("ConfirmationHandler", "secrets-manager", "GetSecretValue") in ops
    assert ("MailSender", "sesv2", "SendEmail") in ops
    assert ("MailSender", "dynamodb-streams", "GetRecords") in ops
    sends = [c for c in observed.calls if c.operation == "SendEmail"]
    assert sends and all(c.params["ConfigurationSetName"] == CONFIGURATION_SET for c in sends)
    assert ("SesEventsHandler", "dynamodb", "PutItem") in ops  # suppressed
    assert ("SesEventsHandler", "dynamodb", "UpdateItem") in ops  # counted, marked
    assert ("MailSender", "eventbridge", "PutEvents") in ops
    assert ("ParkedMessageRecovery", "eventbridge", "PutEvents") in ops
    assert ("ErasureHandler", "dynamodb", "TransactWriteItems") in ops
    assert ("ErasureHandler", "dynamodb", "Query") in ops
    # the digest reads the index of confirmations: no function ever Scans the table
    assert ("OwnerDigestHandler", "dynamodb", "Query") in ops
    assert ("ParkedMessageRecovery", "dynamodb", "Query") in ops
    assert not [c for c in observed.calls if c.operation == "Scan"]
    # RegistrationHandler never touches the token key or SES (cold start, least privilege):
    # it reads the origin-verify value and the challenge key, nothing else of Secrets Manager
    assert {s for f, s, _ in ops if f == "RegistrationHandler"} == {"dynamodb", "secrets-manager"}
    # issue 27: every secret is read at run time, by the functions that use it
    read = {
        (c.function, c.params["SecretId"].split(":")[-1].rsplit("-", 1)[0])
        for c in observed.calls
        if c.operation == "GetSecretValue"
    }
    assert read == {
        ("RegistrationHandler", "regflow-ORIGIN_VERIFY_SECRET"),
        ("RegistrationHandler", "regflow-CHALLENGE_SECRET"),
        ("ConfirmationHandler", "regflow-ORIGIN_VERIFY_SECRET"),
        ("ConfirmationHandler", "regflow-CHALLENGE_SECRET"),
        ("ConfirmationHandler", "regflow-token-secret"),
        ("ErasureHandler", "regflow-ORIGIN_VERIFY_SECRET"),
        ("ErasureHandler", "regflow-token-secret"),
        ("MailSender", "regflow-token-secret"),
        ("MailSender", "regflow-WEBHOOK_SECRET"),
        ("ParkedMessageRecovery", "regflow-token-secret"),
        ("ParkedMessageRecovery", "regflow-WEBHOOK_SECRET"),
    }


@pytest.mark.parametrize("function", FUNCTIONS)
def test_every_action_used_is_allowed(observed: Observed, function: str) -> None:
    for flow in observed.flows:
        statements = flow.statements[function]
        denied = [r for r in flow.requests[function] if not iam.is_allowed(statements, r)]
        assert denied == [], f"{function}'s role does not allow these ({flow.mode} flow)"


@pytest.mark.parametrize("function", FUNCTIONS)
def test_actions_the_lambda_service_performs_are_allowed(observed: Observed, function: str) -> None:
    for flow in observed.flows:
        for request, reason in flow.services[function]:
            assert reason
            assert iam.is_allowed(flow.statements[function], request), request


@pytest.mark.parametrize("function", FUNCTIONS)
def test_roles_allow_nothing_more(observed: Observed, function: str) -> None:
    """Every action x resource x LeadingKeys pattern granted is needed by some request."""
    unused = []
    count = len(observed.flows[0].statements[function])
    for index in range(count):
        statement = observed.flows[0].statements[function][index]
        used = [
            (flow.statements[function][index], r)
            for flow in observed.flows
            for r in flow.requests[function] + [r for r, _ in flow.services[function]]
            if iam.statement_allows(flow.statements[function][index], r)
        ]
        for position, action in enumerate(statement.actions):
            if not any(
                iam.wildcard(s.actions[position], r.action, ignore_case=True) for s, r in used
            ):
                unused.append(f"{statement.sid}: action {action}")
        for position, resource in enumerate(statement.resources):
            if not any(iam.wildcard(s.resources[position], r.resource) for s, r in used):
                unused.append(f"{statement.sid}: resource {resource}")
        for op, keys in statement.conditions.items():
            if op != "ForAllValues:StringLike":
                continue
            for key, patterns in keys.items():
                seen = [v for _, r in used for v in r.context.get(key, ())]
                for pattern in patterns:
                    if not any(iam.wildcard(pattern, v) for v in seen):
                        unused.append(f"{statement.sid}: {key} {pattern}")
    assert unused == [], f"{function}'s role grants more than the code uses"


def test_requests_use_only_the_stacks_resources(observed: Observed) -> None:
    """No wildcard resource slipped into a request: each names this stack's table, stream,
    secret or SES identities."""
    prefixes = (
        f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/regflow-registrations",
        f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:",
        f"arn:aws:ses:{REGION}:{ACCOUNT}:identity/",
        f"arn:aws:ses:{REGION}:{ACCOUNT}:configuration-set/{CONFIGURATION_SET}",
        f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/default",
    )
    for flow in observed.flows:
        for function, requests in flow.requests.items():
            for request in requests:
                assert request.resource.startswith(prefixes), (function, request)


# --- the model itself must be able to say no --------------------------------------------------


def test_model_refuses_other_items_tables_senders_and_actions(observed: Observed) -> None:
    flow = observed.flows[0]
    reg = flow.statements["RegistrationHandler"]
    mail = flow.statements["MailSender"]
    table = next(
        r.resource for r in flow.requests["RegistrationHandler"] if r.action.startswith("dynamodb:")
    )
    put = iam.Request("dynamodb:PutItem", table, {"dynamodb:LeadingKeys": ("REG#x",)})
    # issue 27: each function may read only the secrets its path uses
    secret = {
        variable: next(
            r.resource
            for f in flow.requests
            for r in flow.requests[f]
            if r.action == "secretsmanager:GetSecretValue" and variable in r.resource
        )
        for variable in ("ORIGIN_VERIFY_SECRET", "CHALLENGE_SECRET", "WEBHOOK_SECRET", "token")
    }
    read = {v: iam.Request("secretsmanager:GetSecretValue", arn) for v, arn in secret.items()}
    assert not iam.is_allowed(reg, read["token"]) and not iam.is_allowed(
        reg, read["WEBHOOK_SECRET"]
    )
    assert not iam.is_allowed(mail, read["ORIGIN_VERIFY_SECRET"])
    assert not iam.is_allowed(mail, read["CHALLENGE_SECRET"])
    for function in ("SesEventsHandler", "OwnerDigestHandler"):
        assert not any(iam.is_allowed(flow.statements[function], r) for r in read.values())
    erase = flow.statements["ErasureHandler"]
    assert not iam.is_allowed(erase, read["CHALLENGE_SECRET"])
    assert iam.is_allowed(reg, put)
    assert not iam.is_allowed(
        reg, iam.Request(put.action, table, {"dynamodb:LeadingKeys": ("ADDR#x",)})
    )
    assert not iam.is_allowed(reg, iam.Request(put.action, table + "2", put.context))
    assert not iam.is_allowed(reg, iam.Request("dynamodb:DeleteItem", table, put.context))
    assert not iam.is_allowed(reg, iam.Request("dynamodb:Scan", table))
    ses = next(r for r in flow.requests["MailSender"] if r.action == "ses:SendRawEmail")
    assert iam.is_allowed(mail, ses)
    spoofed = iam.Request(ses.action, ses.resource, {"ses:FromAddress": ("ceo@example.com",)})
    assert not iam.is_allowed(mail, spoofed)
    token_key = next(
        r
        for r in flow.requests["ConfirmationHandler"]
        if r.action.startswith("secrets") and "token" in r.resource
    )
    assert not iam.is_allowed(reg, token_key)  # the registration function cannot read the key
    put = next(r for r in flow.requests["MailSender"] if r.action == "events:PutEvents")
    assert put.context["events:source"] == ("regflow.regflow",)
    assert iam.is_allowed(mail, put)
    assert not iam.is_allowed(reg, put)  # only the senders publish
    forged = iam.Request(put.action, put.resource, {"events:source": ("aws.s3",)})
    assert not iam.is_allowed(mail, forged)  # only this stack's source
    other_bus = iam.Request(put.action, put.resource.replace("/default", "/other"), put.context)
    assert not iam.is_allowed(mail, other_bus)
    # only the erasure function deletes registrations; it cannot write or read anything else
    erase = flow.statements["ErasureHandler"]
    delete_reg = iam.Request("dynamodb:DeleteItem", table, {"dynamodb:LeadingKeys": ("REG#x",)})
    assert iam.is_allowed(erase, delete_reg)
    assert not iam.is_allowed(reg, delete_reg) and not iam.is_allowed(mail, delete_reg)
    conf = flow.statements["ConfirmationHandler"]
    assert not iam.is_allowed(conf, delete_reg)
    limit = iam.Request("dynamodb:DeleteItem", table, {"dynamodb:LeadingKeys": ("LIMIT#x",)})
    assert not iam.is_allowed(erase, limit)  # the send log stays (a hash, until its ttl)
    put_reg = iam.Request("dynamodb:PutItem", table, {"dynamodb:LeadingKeys": ("REG#x",)})
    assert not iam.is_allowed(erase, put_reg)
    assert not iam.is_allowed(erase, iam.Request("dynamodb:Scan", table))
    # no function may Scan the table (the digests Query the index of confirmations)
    for function, statements in flow.statements.items():
        assert not iam.is_allowed(statements, iam.Request("dynamodb:Scan", table)), function
    confirmations = iam.Request("dynamodb:Query", f"{table}/index/ConfirmedRegistrations")
    assert iam.is_allowed(flow.statements["OwnerDigestHandler"], confirmations)
    assert not iam.is_allowed(mail, confirmations)


def test_unknown_calls_are_not_silently_allowed() -> None:
    arns = iam.Arns(REGION, ACCOUNT)
    with pytest.raises(NotImplementedError):
        iam.requests_for(iam.Call("X", "dynamodb", "BatchWriteItem", {"TableName": "t"}), arns)
    with pytest.raises(NotImplementedError):
        iam.statement_allows(
            iam.Statement("s", ("a:B",), ("*",), {"IpAddress": {"aws:SourceIp": ("1.2.3.4",)}}),
            iam.Request("a:B", "r"),
        )


def test_recorder_sees_calls_of_hooked_clients_only() -> None:
    """The hook itself: a boto3 client's calls are recorded with the function acting."""
    from moto import mock_aws

    recorder = iam.ActionRecorder()
    with pytest.MonkeyPatch.context() as patch:
        for name, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
        }.items():
            patch.setenv(name, value)
        with mock_aws():
            hooked = boto3.client("secretsmanager", region_name=REGION)
            other = boto3.client("secretsmanager", region_name=REGION)
            recorder.hook(hooked)
            arn = other.create_secret(Name="k", SecretString="v")["ARN"]
            with recorder.acting_as("ConfirmationHandler"):
                hooked.get_secret_value(SecretId=arn)
            hooked.describe_secret(SecretId=arn)
    assert [(c.function, c.operation) for c in recorder.calls] == [
        ("ConfirmationHandler", "GetSecretValue")
    ]
    assert recorder.unattributed == ["secrets-manager.DescribeSecret"]
