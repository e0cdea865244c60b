"""OWNER_DIGEST=daily (issue 12, behaviour 4): one mail a day listing the previous UTC day's
confirmations instead of one mail per confirmation, owed through the outbox (embedded: the
worker, once a day, remembered by the store across restarts; AWS: a daily EventBridge
Scheduler schedule calling the OwnerDigest function)."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from regflow.adapters.sqlite import SQLiteStore
from regflow.delivery import DeliveryService
from regflow.domain import Channel, ConfigError, DeliveryError, FailureClass, Outcome
from regflow.domain.digest import digest_day, digest_message
from regflow.intake import IntakeService
from regflow.local.worker import OutboxWorker
from regflow.tokens import TokenSigner
from tests.support.aws import load_template
from tests.unit.fakes import SECRET, START, Clock, Ids, RecordingMailer, settings


class Embedded:
    def __init__(self, path: Path, clock: Clock, **env: str) -> None:
        config = settings(OWNER_DIGEST="daily", **env)
        self.store = SQLiteStore(path)
        self.mailer = RecordingMailer()
        self.clock = clock
        signer = TokenSigner(SECRET)
        self.intake = IntakeService(
            store=self.store, rules=config.rules, signer=signer, clock=clock, new_id=Ids()
        )
        self.delivery = DeliveryService(
            store=self.store,
            outbox=self.store,
            settings=config.mail,
            signer=signer,
            channels={Channel.EMAIL: self.mailer},
            clock=clock,
            now=lambda: clock().timestamp(),
        )
        self.worker = OutboxWorker(
            self.store, self.delivery, digest=True, now=lambda: clock().timestamp()
        )

    def confirm(self, name: str, email: str) -> None:
        self.intake.register(name, email)
        self.worker.run_once()
        token = re.search(r"confirm\?token=([A-Za-z0-9_-]+)", self.mailer.sent[-1].text)
        assert token is not None
        assert self.intake.confirm(token.group(1)) is Outcome.CONFIRMED
        self.worker.run_once()


def test_one_digest_a_day_instead_of_a_mail_per_confirmation(tmp_path: Path) -> None:
    clock = Clock(START)  # 2026-01-15 12:00 UTC
    app = Embedded(tmp_path / "regflow.db", clock)
    app.confirm("Ada", "ada@example.com")
    clock.advance(hours=3)
    app.confirm("Bob <B>", "bob@example.com")
    assert [m.to for m in app.mailer.sent] == [
        "ada@example.com",
        "bob@example.com",
    ]  # no owner mail

    assert app.worker.owe_digest()  # on the 15th: the digest of the 14th (nobody)
    app.worker.run_once()
    empty = app.mailer.sent[-1]
    assert empty.to == "owner@example.org"
    assert empty.subject == "Registrations confirmed on 2026-01-14: 0"
    assert "No registration was confirmed that day." in empty.text
    assert not app.worker.owe_digest()  # once a day

    clock.advance(hours=12)  # the 16th: the digest of the 15th
    assert app.worker.owe_digest()
    app.worker.run_once()
    digest = app.mailer.sent[-1]
    assert digest.subject == "Registrations confirmed on 2026-01-15: 2"
    assert "- Ada <ada@example.com>, en, 2026-01-15 12:00 UTC" in digest.text
    assert "- Bob <B> <bob@example.com>, en, 2026-01-15 15:00 UTC" in digest.text
    assert "Bob &lt;B&gt;" in digest.html and "<B>" not in digest.html
    assert "regflow export --format csv" in digest.text
    app.store.close()

    # a restart the same day owes no second digest (the store remembers the day)
    again = Embedded(tmp_path / "regflow.db", clock)
    assert not again.worker.owe_digest()
    again.store.close()


def test_a_failed_digest_is_parked_and_never_lost(tmp_path: Path) -> None:
    clock = Clock(START)
    app = Embedded(tmp_path / "regflow.db", clock)
    app.confirm("Ada", "ada@example.com")
    clock.advance(days=1)
    app.mailer.fail_with = DeliveryError("refused", failure=FailureClass.ACCOUNT)
    assert app.worker.owe_digest()
    app.worker.run_once()
    [parked] = app.store.parked()
    assert parked.message == digest_message("2026-01-15")
    app.mailer.fail_with = None
    clock.advance(hours=2)
    app.worker.run_once()
    assert app.mailer.sent[-1].subject == "Registrations confirmed on 2026-01-15: 1"
    assert app.store.parked() == []
    app.store.close()


def test_the_digest_day_is_the_previous_utc_day() -> None:
    assert digest_day(START) == "2026-01-14"
    assert digest_day(START.replace(hour=0, minute=0) - timedelta(microseconds=1)) == "2026-01-13"
    message = digest_message("2026-01-14")
    assert message.key == "owner-digest:digest-2026-01-14"
    assert message.kind.outlives_registration


def test_owner_digest_setting() -> None:
    assert settings().mail.owner_digest == "off"
    assert settings(OWNER_DIGEST="DAILY").mail.owner_digest == "daily"
    with pytest.raises(ConfigError, match="OWNER_DIGEST must be one of off, daily"):
        settings(OWNER_DIGEST="weekly")


def _resources() -> dict[str, Any]:
    resources: dict[str, Any] = load_template()["Resources"]
    return resources


def test_the_digest_schedule_runs_daily_and_only_with_owner_digest_daily() -> None:
    template = load_template()
    resources = template["Resources"]
    schedule = resources["OwnerDigestSchedule"]
    assert schedule["Type"] == "AWS::Scheduler::Schedule"
    props = schedule["Properties"]
    assert props["ScheduleExpression"] == "cron(5 0 * * ? *)"  # 00:05 UTC: yesterday is over
    assert props["ScheduleExpressionTimezone"] == "UTC"
    assert props["State"] == {"Fn::If": ["DigestDaily", "ENABLED", "DISABLED"]}
    assert props["Target"]["Arn"] == {"Fn::GetAtt": ["OwnerDigestHandler", "Arn"]}
    assert template["Conditions"]["DigestDaily"] == {
        "Fn::Equals": [{"Ref": "OwnerDigest"}, "daily"]
    }
    assert template["Parameters"]["OwnerDigest"]["AllowedValues"] == ["off", "daily"]
    function = resources["OwnerDigestHandler"]["Properties"]
    assert function["Handler"] == "regflow.handlers.owner_digest.lambda_handler"
    invoke = resources["OwnerDigestSchedulerRole"]["Properties"]["Policies"][0]
    [statement] = invoke["PolicyDocument"]["Statement"]
    assert statement["Action"] == ["lambda:InvokeFunction"]
    assert statement["Resource"] == {"Fn::GetAtt": ["OwnerDigestHandler", "Arn"]}
    for name in ("MailSender", "ParkedMessageRecovery", "OwnerDigestHandler"):
        env = resources[name]["Properties"]["Environment"]["Variables"]
        assert env["OWNER_DIGEST"] == {"Ref": "OwnerDigest"}, name


def test_on_dynamodb_the_digest_queries_the_index_of_confirmations_never_scans() -> None:
    """Issue 27: the day's confirmations come from the ConfirmedRegistrations index (one
    Query per shard, from the day's start, read only up to its end): a Scan fails the test.
    Confirmations of the day before and of today are left out."""
    from regflow.adapters.dynamodb import DynamoDBStore
    from regflow.domain import address_key
    from tests.support.aws import dynamodb_store

    clock = Clock(START - timedelta(days=1))  # 2026-01-14 12:00 UTC
    config = settings(OWNER_DIGEST="daily")
    signer = TokenSigner(SECRET)
    with dynamodb_store(private_client=True) as store:
        assert isinstance(store, DynamoDBStore)
        ids = Ids()
        intake = IntakeService(store=store, rules=config.rules, signer=signer, clock=clock)

        def confirmed(name: str, email: str, hours: float) -> None:
            clock.now = START.replace(hour=0) + timedelta(hours=hours)
            registration_id = ids()
            intake.register(name, email, registration_id=registration_id)
            token = signer.issue(registration_id, address_key(email))
            assert intake.confirm(token) is Outcome.CONFIRMED

        confirmed("Before", "before@example.com", -24 * 1 - 0.5)  # the 13th, 23:30
        confirmed("First", "first@example.com", -24 + 0.01)  # the 14th, 00:00:36
        for n in range(30):  # spread over the 16 shards of the index
            confirmed(f"Middle{n}", f"middle{n}@example.com", -12 + n / 10)
        confirmed("Last", "last@example.com", -0.01)  # the 14th, 23:59:24
        confirmed("Today", "today@example.com", 0.02)  # the 15th
        clock.now = START.replace(hour=0, minute=5)  # the schedule's 00:05 on the 15th

        mailer = RecordingMailer()
        delivery = DeliveryService(
            store=store,
            outbox=store,
            settings=config.mail,
            signer=TokenSigner(SECRET),
            channels={Channel.EMAIL: mailer},
            clock=clock,
            now=lambda: clock().timestamp(),
        )
        operations: list[str] = []

        def seen(model: Any, **_: Any) -> None:
            operations.append(model.name)
            if model.name == "Scan":
                raise AssertionError("the owner digest Scanned the table")

        store._client.meta.events.register("before-call.dynamodb", seen)
        from regflow.aws import digest

        assert digest.send_digest(delivery, sleep=lambda _: None)["result"] == "sent"
    [mail] = mailer.sent
    assert "2026-01-14" in mail.subject
    for name in ("First", "Middle0", "Middle29", "Last"):
        assert name in mail.text, name
    assert "Before" not in mail.text and "Today" not in mail.text
    assert set(operations) == {"Query"}


def test_a_failed_digest_run_is_retried_recorded_and_alarmed() -> None:
    """Issue 27: the scheduler's asynchronous invocation sees no function error, so Lambda's
    own retries are the ones that reach a failed run; after them the run is recorded in a
    queue, and an alarm pages on the function's errors. No role may Scan the table."""
    resources = _resources()
    config = resources["OwnerDigestHandler"]["Properties"]["EventInvokeConfig"]
    assert config["MaximumRetryAttempts"] == 2
    failure = config["DestinationConfig"]["OnFailure"]
    assert failure == {
        "Type": "SQS",
        "Destination": {"Fn::GetAtt": ["OwnerDigestFailureQueue", "Arn"]},
    }
    assert resources["OwnerDigestFailureQueue"]["Type"] == "AWS::SQS::Queue"
    alarm = resources["OwnerDigestErrorsAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/Lambda", "Errors")
    assert alarm["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": "OwnerDigestHandler"}}]
    for name, resource in resources.items():
        if resource["Type"] == "AWS::IAM::Role":
            for policy in resource["Properties"].get("Policies", []):
                for statement in policy["PolicyDocument"]["Statement"]:
                    assert "dynamodb:Scan" not in statement["Action"], name
