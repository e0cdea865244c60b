"""Deliverability (issue 11), on the in-memory store: SES's event payloads as recorded
fixtures (SNS and EventBridge shapes) applied by the SES events function's code, suppression
and marking, soft-bounce counting, the owner-address alarm metric, the MX check with a fake
resolver, and the public answer that never changes for a suppressed inbox."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from regflow.adapters.ses_events import events_from_lambda
from regflow.aws.ses_events import process
from regflow.delivery import Result
from regflow.domain import (
    SOFT_BOUNCE_LIMIT,
    FailureClass,
    MailEventType,
    MessageKind,
    Status,
    SuppressionReason,
    mailbox_key,
)
from regflow.feedback import TAG_KIND, TAG_REGISTRATION, FeedbackService
from regflow.mail_domains import DnsUnavailable, MailDomainCheck, registrable_domain
from tests.support import events
from tests.unit.fakes import World, world

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ses_events"
TO = "jane.doe+news@example.com"


class RecordingMetrics:
    def __init__(self) -> None:
        self.events: list[tuple[dict[str, float], dict[str, str]]] = []

    def emit(self, values: Any, *, unit: str = "Count", **properties: str) -> None:
        self.events.append((dict(values), properties))

    def total(self, name: str) -> float:
        return sum(v.get(name, 0.0) for v, _ in self.events)


def fixture(name: str, registration_id: str = "REGISTRATION_ID") -> dict[str, Any]:
    """A recorded SES event, its registration tag set to `registration_id`."""
    text = (FIXTURES / f"{name}.json").read_text(encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text.replace("REGISTRATION_ID", registration_id))
    return loaded


def registered(w: World, email: str = TO) -> str:
    """Register `email` and deliver its verification mail; the registration's id."""
    before = set(w.store.by_id)
    assert w.intake.register("Jane", email) is not None
    assert w.drain() == 1
    (new,) = set(w.store.by_id) - before
    return new


def deliverable_world(**env: str) -> tuple[World, FeedbackService, RecordingMetrics]:
    w = world(ADDRESS_MIN_INTERVAL_SECONDS="0", ADDRESS_LIMIT_PER_DAY="1000", **env)
    metrics = RecordingMetrics()
    w.delivery.suppressions = w.store
    w.delivery.metrics = metrics
    feedback = FeedbackService(
        store=w.store, owner_email=w.settings.mail.owner_email, metrics=metrics, clock=w.clock
    )
    return w, feedback, metrics


# --- the payloads as AWS sends them --------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kind", "permanent", "diagnostic"),
    [
        ("bounce_permanent", MailEventType.BOUNCE, True, "smtp; 550 5.1.1 The email account"),
        ("bounce_transient", MailEventType.BOUNCE, False, "smtp; 452 4.2.2"),
        ("complaint", MailEventType.COMPLAINT, False, "complaint: abuse"),
        ("delivery", MailEventType.DELIVERY, False, ""),
        ("reject", MailEventType.REJECT, False, "Bad content"),
    ],
)
def test_sns_payloads_parse(
    name: str, kind: MailEventType, permanent: bool, diagnostic: str
) -> None:
    (event,) = events_from_lambda(fixture(f"sns_{name}", "abc-123_x"))
    assert event.type is kind
    assert event.permanent is permanent
    assert event.recipients == (TO,)
    assert event.diagnostic.startswith(diagnostic)
    assert (event.registration_id, event.message_kind) == ("abc-123_x", "verification")


@pytest.mark.parametrize("name", ["bounce_permanent", "bounce_transient", "complaint"])
def test_eventbridge_payloads_parse_like_sns(name: str) -> None:
    assert list(events_from_lambda(fixture(f"eventbridge_{name}"))) == list(
        events_from_lambda(fixture(f"sns_{name}"))
    )


def test_other_sns_messages_are_skipped() -> None:
    confirm = {"Records": [{"Sns": {"Type": "SubscriptionConfirmation", "Message": "{}"}}]}
    delay = fixture("sns_delivery")
    delay["Records"][0]["Sns"]["Message"] = json.dumps({"eventType": "DeliveryDelay"})
    garbage = {"Records": [{"Sns": {"Type": "Notification", "Message": "not json"}}]}
    for event in (confirm, delay, garbage, {}):
        assert list(events_from_lambda(event)) == []


# --- suppression, marking, counts ----------------------------------------------------------


def test_hard_bounce_suppresses_the_inbox_and_marks_the_registration() -> None:
    w, feedback, metrics = deliverable_world()
    rid = registered(w)
    assert process(fixture("sns_bounce_permanent", rid), feedback) == {"events": 1, "suppressed": 1}
    entry = w.store.suppression(mailbox_key("JANE.DOE+other@example.com"))  # one inbox
    assert entry is not None and entry.reason is SuppressionReason.BOUNCE
    reg = w.store.get(rid)
    assert reg is not None and reg.status is Status.BOUNCED
    assert reg.delivery_failure is not None and reg.delivery_failure.startswith("smtp; 550 5.1.1")
    assert (metrics.total("MailBounced"), metrics.total("AddressesSuppressed")) == (1, 1)
    # the link in the mail that bounced confirms nothing any more
    token = w.signer.issue(rid, reg.addr_key)
    assert w.intake.confirm(token).value == "invalid"


def test_complaint_suppresses_and_marks_complained() -> None:
    w, feedback, metrics = deliverable_world()
    rid = registered(w)
    process(fixture("sns_complaint", rid), feedback)
    entry = w.store.suppression(mailbox_key(TO))
    assert entry is not None and entry.reason is SuppressionReason.COMPLAINT
    reg = w.store.get(rid)
    assert reg is not None and (reg.status, reg.delivery_failure) == (
        Status.COMPLAINED,
        "complaint: abuse",
    )
    assert metrics.total("MailComplained") == 1


def test_soft_bounces_suppress_only_at_the_limit() -> None:
    w, feedback, metrics = deliverable_world()
    rid = registered(w)
    for n in range(1, SOFT_BOUNCE_LIMIT):
        process(fixture("sns_bounce_transient", rid), feedback)
        assert w.store.suppression(mailbox_key(TO)) is None, n
        w.clock.advance(days=1)
    reg = w.store.get(rid)
    assert reg is not None and reg.status is Status.PENDING
    process(fixture("eventbridge_bounce_transient", rid), feedback)
    entry = w.store.suppression(mailbox_key(TO))
    assert entry is not None and entry.reason is SuppressionReason.SOFT_BOUNCES
    assert metrics.total("MailSoftBounced") == SOFT_BOUNCE_LIMIT


def test_soft_bounces_outside_the_window_do_not_add_up() -> None:
    w, feedback, _ = deliverable_world()
    rid = registered(w)
    for _ in range(SOFT_BOUNCE_LIMIT + 2):
        process(fixture("sns_bounce_transient", rid), feedback)
        w.clock.advance(days=4)  # two within any 7 days
    assert w.store.suppression(mailbox_key(TO)) is None


@pytest.mark.parametrize("name", ["sns_delivery", "sns_reject"])
def test_deliveries_and_rejects_are_only_counted(name: str) -> None:
    w, feedback, metrics = deliverable_world()
    rid = registered(w)
    assert process(fixture(name, rid), feedback) == {"events": 1, "suppressed": 0}
    assert w.store.suppressions() == []
    reg = w.store.get(rid)
    assert reg is not None and reg.status is Status.PENDING
    metric = "MailDelivered" if name == "sns_delivery" else "MailRejected"
    assert metrics.total(metric) == 1


def test_owner_address_bounce_is_alarmed_never_suppressed() -> None:
    w, _, metrics = deliverable_world(OWNER_EMAIL="owner@example.com")
    feedback = FeedbackService(store=w.store, owner_email="owner@example.com", metrics=metrics)
    rid = registered(w)
    assert process(fixture("sns_bounce_owner", rid), feedback)["suppressed"] == 0
    assert w.store.suppressions() == []
    assert metrics.total("OwnerAddressBounced") == 1
    reg = w.store.get(rid)
    assert reg is not None and reg.status is Status.PENDING
    # a complaint from the owner's address is the same
    complaint = fixture("sns_complaint", rid)
    doc = json.loads(complaint["Records"][0]["Sns"]["Message"])
    doc["complaint"]["complainedRecipients"] = [{"emailAddress": "Owner@Example.com"}]
    complaint["Records"][0]["Sns"]["Message"] = json.dumps(doc)
    process(complaint, feedback)
    assert w.store.suppressions() == []
    assert metrics.total("OwnerAddressBounced") == 2


# --- after a hard bounce or a complaint: same answer, no mail --------------------------------


@pytest.mark.parametrize("report", ["sns_bounce_permanent", "sns_complaint"])
def test_suppressed_inbox_gets_the_same_answer_and_no_mail(report: str) -> None:
    w, feedback, metrics = deliverable_world()
    rid = registered(w)
    process(fixture(report, rid), feedback)
    sent_before = len(w.mailer.sent)
    variants = [TO, "jane.doe@example.com", "Jane.Doe+x@Example.com", "jane.doe+y@example.com"]
    for n, address in enumerate(variants * 2):
        post = events.json_post("/register", {"name": "Jane", "email": address})
        fresh = events.json_post("/register", {"name": "Jane", "email": f"fresh{n}@example.org"})
        got, other = w.api(post), w.api(fresh)
        assert (got["statusCode"], got["body"], got["headers"]) == (
            other["statusCode"],
            other["body"],
            other["headers"],
        )
        assert events.public_answer(got) == events.public_answer(other)
    w.drain()
    sent_to = [m.to for m in w.mailer.sent[sent_before:]]
    assert all(to.startswith("fresh") for to in sent_to)
    assert len(sent_to) == len(variants) * 2
    assert metrics.total("MessagesSuppressed") == len(variants) * 2
    # the skipped messages are settled (not owed again), recorded on their registrations
    assert w.store.owed() == []
    skipped = [r for r in w.store.by_id.values() if r.delivery_failure == "Suppressed"]
    assert len(skipped) == len(variants) * 2


def test_operator_lifts_the_suppression() -> None:
    w, feedback, _ = deliverable_world()
    rid = registered(w)
    process(fixture("sns_bounce_permanent", rid), feedback)
    assert w.store.lift(mailbox_key(TO))
    w.intake.register("Jane", TO)
    assert w.drain() == 1


def test_a_final_refusal_of_the_address_is_a_hard_bounce() -> None:
    """A channel's final refusal of the recipient (SMTP 5xx, SES refusing the address)."""
    from regflow.domain import DeliveryError

    w, _, metrics = deliverable_world()
    w.mailer.fail_with = DeliveryError("no", failure=FailureClass.RECIPIENT, code="SMTP550")
    w.intake.register("Jane", TO)
    w.drain()
    entry = w.store.suppression(mailbox_key(TO))
    assert entry is not None and (entry.reason, entry.diagnostic) == (
        SuppressionReason.REFUSED,
        "SMTP550",
    )
    (reg,) = w.store.by_id.values()
    assert (reg.status, reg.delivery_failure) == (Status.BOUNCED, "SMTP550")
    assert metrics.total("AddressesSuppressed") == 1


def test_owner_refusal_parks_and_suppresses_nothing() -> None:
    from regflow.domain import DeliveryError

    w, _, _ = deliverable_world()
    w.intake.register("Jane", TO)
    w.drain()
    (reg,) = w.store.by_id.values()
    w.intake.confirm(w.signer.issue(reg.id, reg.addr_key))
    w.mailer.fail_with = DeliveryError("no", failure=FailureClass.RECIPIENT, code="SMTP550")
    w.drain()
    assert w.store.suppressions() == []
    assert [p.message.kind for p in w.store.parked()] == [MessageKind.OWNER_NOTIFICATION]


def test_sent_mail_carries_the_feedback_tags() -> None:
    w, _, _ = deliverable_world()
    rid = registered(w)
    assert dict(w.mailer.sent[-1].tags) == {TAG_KIND: "verification", TAG_REGISTRATION: rid}


# --- the MX check ---------------------------------------------------------------------------


class FakeResolver:
    """DNS from a dict: {(name, type): records}; names in `missing` are NXDOMAIN; names in
    `slow` time out."""

    def __init__(
        self,
        records: dict[tuple[str, str], list[str]] | None = None,
        *,
        missing: set[str] | None = None,
        slow: set[str] | None = None,
    ) -> None:
        self.records = records or {}
        self.missing = missing or set()
        self.slow = slow or set()
        self.asked: list[tuple[str, str]] = []

    def lookup(self, name: str, rdtype: str) -> list[str] | None:
        self.asked.append((name, rdtype))
        if name in self.slow:
            raise DnsUnavailable("Timeout")
        if name in self.missing:
            return None
        return list(self.records.get((name, rdtype), []))


DNS = {
    ("example.com", "MX"): ["10 mx1.example.com.", "20 mx2.example.com."],
    ("a-only.example", "A"): ["192.0.2.1"],
    ("v6-only.example", "AAAA"): ["2001:db8::1"],
    ("null-mx.example", "MX"): ["0 ."],
    ("null-mx.example", "A"): ["192.0.2.2"],  # an address does not undo a null MX
}


@pytest.mark.parametrize(
    ("domain", "answer"),
    [
        ("example.com", True),
        ("Example.COM.", True),
        ("a-only.example", True),
        ("v6-only.example", True),
        ("no-records.example", False),  # exists, no MX, no A, no AAAA
        ("null-mx.example", False),
        ("gone.example", False),  # NXDOMAIN
        ("slow.example", None),  # time-out: unknown
    ],
)
def test_mx_check(domain: str, answer: bool | None) -> None:
    check = MailDomainCheck(FakeResolver(DNS, missing={"gone.example"}, slow={"slow.example"}))
    assert check.receives_mail(domain) is answer


def test_mx_check_caches_answers_and_time_outs_per_registrable_domain() -> None:
    now = [0.0]
    resolver = FakeResolver(DNS, slow={"slow.example", "a1.slow.example", "a2.slow.example"})
    check = MailDomainCheck(
        resolver, ttl_seconds=60, unknown_ttl_seconds=30, cache_size=2, now=lambda: now[0]
    )
    for _ in range(3):
        assert check.receives_mail("example.com") is True
        assert check.receives_mail("a1.slow.example") is None
        assert check.receives_mail("a2.slow.example") is None  # the same registrable domain
    assert resolver.asked.count(("example.com", "MX")) == 1
    assert [n for n, _ in resolver.asked if n.endswith("slow.example")] == ["a1.slow.example"]
    now[0] = 31  # an unknown answer is kept a shorter while: asked again
    assert check.receives_mail("a2.slow.example") is None
    assert resolver.asked[-1] == ("a2.slow.example", "MX")
    now[0] = 61
    check.receives_mail("example.com")
    assert resolver.asked.count(("example.com", "MX")) == 2
    check.receives_mail("a-only.example")
    check.receives_mail("v6-only.example")  # evicts example.com (size 2)
    check.receives_mail("example.com")
    assert resolver.asked.count(("example.com", "MX")) == 3


def test_no_mail_domain_is_a_hard_bounce_without_a_send() -> None:
    w, _, metrics = deliverable_world()
    w.delivery.mail_domains = MailDomainCheck(FakeResolver(DNS))
    w.intake.register("Jane", "jane@no-records.example")
    assert w.drain() == 0
    assert w.mailer.sent == []
    entry = w.store.suppression(mailbox_key("jane@no-records.example"))
    assert entry is not None and entry.reason is SuppressionReason.NO_MAIL_DOMAIN
    (reg,) = w.store.by_id.values()
    assert (reg.status, reg.delivery_failure) == (Status.BOUNCED, "NoMailDomain")
    assert metrics.total("MessagesNoMailDomain") == 1


@pytest.mark.parametrize(
    ("name", "registrable"),
    [
        ("a1.evil.example", "evil.example"),
        ("Deep.A.B.Evil.Example.", "evil.example"),
        ("example.com", "example.com"),
        ("mail.example.co.uk", "example.co.uk"),
        ("x.y.example.com.au", "example.com.au"),
        ("localhost", "localhost"),
    ],
)
def test_registrable_domain(name: str, registrable: str) -> None:
    assert registrable_domain(name) == registrable


def test_mx_time_out_retries_the_message_never_drops_it() -> None:
    w, _, _ = deliverable_world()
    resolver = FakeResolver(DNS, slow={"example.com"})
    w.delivery.mail_domains = MailDomainCheck(resolver, now=lambda: w.clock().timestamp())
    w.intake.register("Jane", "jane@example.com")
    claims = w.store.claim_due(w.clock().timestamp(), 10)
    assert [w.delivery.deliver_claimed(c) for c in claims] == [Result.RETRY]
    assert w.mailer.sent == []
    assert len(w.store.owed()) == 1  # still owed, due after the policy's backoff
    assert w.store.suppressions() == []
    resolver.slow.clear()  # DNS answers again
    w.clock.advance(minutes=5)
    assert w.drain() == 1
    assert [m.to for m in w.mailer.sent] == ["jane@example.com"]


def test_mx_time_out_on_the_stream_path_parks_after_the_quick_retries() -> None:
    from regflow.domain import Message

    w, _, _ = deliverable_world()
    w.delivery.mail_domains = MailDomainCheck(FakeResolver(DNS, slow={"example.com"}))
    w.intake.register("Jane", "jane@example.com")
    (message,) = w.store.owed()
    assert isinstance(message, Message)
    slept: list[float] = []
    assert w.delivery.deliver_fresh(message, sleep=slept.append) is Result.PARKED
    assert slept == []  # issue 27: parked at once, retried from the outbox, never in process
    assert [p.last_error for p in w.store.parked()] == ["DnsUnavailable"]


class SlowResolver(FakeResolver):
    """Names in `slow` time out after `seconds` of real time, as dnspython's lifetime does."""

    def __init__(self, seconds: float, **kwargs: Any) -> None:
        super().__init__(DNS, **kwargs)
        self.seconds = seconds

    def lookup(self, name: str, rdtype: str) -> list[str] | None:
        if name in self.slow:
            time.sleep(self.seconds)
        return super().lookup(name, rdtype)


def test_wildcard_subdomains_that_time_out_do_not_hold_the_batch() -> None:
    """Issue 27: three posts to wildcard subdomains of a domain whose DNS times out held one
    AWS batch about 37 s (each lookup timed out, was retried in process, never cached) before
    a legitimate mail went out, and were parked as MessagesParked (the "SES refusing or down"
    alarm). Now: one time-out for the domain, parked at once, under their own metric."""
    from regflow.domain import Message

    w, _, metrics = deliverable_world()
    slow = {f"a{i}.wild.example" for i in range(3)}
    resolver = SlowResolver(0.3, slow=slow)
    w.delivery.mail_domains = MailDomainCheck(resolver)
    for i in range(3):
        w.intake.register("Bot", f"x@a{i}.wild.example")
    w.intake.register("Jane", "jane@example.com")
    messages = w.store.owed()
    assert all(isinstance(m, Message) for m in messages) and len(messages) == 4
    started = time.monotonic()
    results = [w.delivery.deliver_fresh(m, sleep=time.sleep) for m in messages]
    took = time.monotonic() - started
    assert results == [Result.PARKED] * 3 + [Result.SENT]
    assert took < 1.0, took  # one 0.3 s time-out for the whole domain, no sleeps
    assert [n for n, _ in resolver.asked if n.endswith("wild.example")] == ["a0.wild.example"]
    assert [m.to for m in w.mailer.sent] == ["jane@example.com"]
    assert (metrics.total("DnsParked"), metrics.total("MessagesParked")) == (3, 0)


def test_ses_mailer_sends_through_the_configuration_set_with_the_tags() -> None:
    import boto3
    from botocore.stub import ANY, Stubber

    from regflow.adapters.ses import SesMailer
    from regflow.domain import Email

    client = boto3.client(
        "sesv2", region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t"
    )
    stub = Stubber(client)
    stub.add_response(
        "send_email",
        {"MessageId": "m-1"},
        {
            "FromEmailAddress": "no-reply@example.org",
            "Destination": {"ToAddresses": ["jane@example.com"]},
            "Content": {"Raw": {"Data": ANY}},
            "ConfigurationSetName": "site-mail",
            "EmailTags": [
                {"Name": TAG_KIND, "Value": "verification"},
                {"Name": TAG_REGISTRATION, "Value": "abc_-1"},
            ],
        },
    )
    email = Email(
        sender="no-reply@example.org",
        to="jane@example.com",
        subject="s",
        text="t",
        html="<p>t</p>",
        tags=((TAG_KIND, "verification"), (TAG_REGISTRATION, "abc_-1")),
    )
    with stub:
        SesMailer(client, configuration_set="site-mail").send(email)
    stub.assert_no_pending_responses()
