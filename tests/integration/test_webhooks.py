"""Webhooks (issue 12), embedded on a real SQLite file, against real HTTP receivers on
127.0.0.1 that verify the signature: every confirmation owes one event message per webhook,
written with the confirmation; the outbox worker delivers each under the delivery policy (a
5xx is retried with backoff, a 4xx parks it, nothing is lost), at least once, with one
idempotency id per event; one failing webhook never makes another receive an event twice."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import time
from pathlib import Path

import pytest

from regflow import logs
from regflow.adapters.sqlite import SQLiteStore
from regflow.adapters.webhook import (
    WebhookChannel,
    body_of,
    classify,
    signature_header,
    url_secret,
    verify,
    verify_v2,
)
from regflow.delivery import DeliveryService
from regflow.domain import (
    Channel,
    ConfigError,
    DeliveryError,
    Event,
    FailureClass,
    Message,
    MessageKind,
    Outcome,
    event_of,
    webhook_target,
)
from regflow.intake import IntakeService
from regflow.local.worker import OutboxWorker
from regflow.tokens import TokenSigner
from tests.support.sqlite import query
from tests.support.webhook import dribbling_receiver, webhook_receiver
from tests.unit.fakes import SECRET, START, Clock, Ids, RecordingMailer, settings

HOOK_SECRET = "w" * 40


class Stepped:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class Embedded:
    """What `regflow serve` wires, on a SQLite file, with a hand-moved clock."""

    def __init__(self, tmp_path: Path, urls: list[str], *, deadline: float = 10.0) -> None:
        config = settings(WEBHOOK_URL=" ,\n".join(urls), WEBHOOK_SECRET=HOOK_SECRET)
        assert config.events.webhook_urls == tuple(urls)
        self.path = tmp_path / "regflow.db"
        self.store = SQLiteStore(self.path)
        self.mailer = RecordingMailer()
        self.clock = Clock()
        self.now = Stepped()
        signer = TokenSigner(SECRET)
        self.intake = IntakeService(
            store=self.store, rules=config.rules, signer=signer, clock=self.clock, new_id=Ids()
        )
        secret = config.events.webhook_secret
        assert secret is not None
        self.delivery = DeliveryService(
            store=self.store,
            outbox=self.store,
            settings=config.mail,
            signer=signer,
            channels={Channel.EMAIL: self.mailer},
            events={Channel.WEBHOOK: WebhookChannel(urls, secret, timeout=2.0, deadline=deadline)},
            clock=self.clock,
            now=self.now,
        )
        self.store.event_targets = self.delivery.event_targets
        self.worker = OutboxWorker(self.store, self.delivery, now=self.now)

    def confirm(self, *people: tuple[str, str]) -> None:
        """Register `people`, deliver their links, confirm them all (nothing delivered since)."""
        for name, email in people:
            self.intake.register(name, email)
        self.worker.run_once()
        for mail in self.mailer.sent[-len(people) :]:
            token = re.search(r"token=([A-Za-z0-9_-]+)", mail.text)
            assert token is not None
            assert self.intake.confirm(token.group(1)) is Outcome.CONFIRMED

    def drain(self, rounds: int = 8) -> None:
        for _ in range(rounds):
            self.worker.run_once()
            self.now.now += 3600 * 1.2 + 1  # past any backoff


def test_each_event_reaches_every_webhook_once_despite_failures(tmp_path: Path) -> None:
    with (
        webhook_receiver(HOOK_SECRET.encode()) as healthy,
        webhook_receiver(HOOK_SECRET.encode(), fail_first=2) as flaky,
    ):
        app = Embedded(tmp_path, [healthy.url, flaky.url])
        app.confirm(("Jane Doe", "jane@example.com"), ("Bob", "bob@example.com"))
        # the confirmations owed the events in their own transactions: 2 per confirmation
        owed = query(
            app.path, "SELECT kind, target FROM outbox WHERE kind = 'registration-confirmed'"
        )
        assert sorted(t for _, t in owed) == sorted(
            [webhook_target(healthy.url), webhook_target(flaky.url)] * 2
        )
        app.worker.run_once()  # first attempts: the flaky receiver answers 503 twice
        assert len(healthy.accepted) == 2 and flaky.accepted == {}
        app.drain()
        app.store.close()

    ids = set(healthy.accepted)
    assert len(ids) == 2 and set(flaky.accepted) == ids
    assert healthy.accepted_once() and flaky.accepted_once()  # once per idempotency id
    assert healthy.attempts.count(next(iter(ids))) == 1  # the healthy one never saw a retry
    assert len(flaky.attempts) == 4  # two 503s, then each event once
    assert healthy.bad_signatures == flaky.bad_signatures == 0
    jane = next(b[0] for b in healthy.accepted.values() if b[0]["data"]["name"] == "Jane Doe")
    assert jane["type"] == "registration.confirmed"
    assert jane["data"]["email"] == "jane@example.com"
    assert jane["data"]["status"] == "CONFIRMED"
    assert jane["data"]["language"] == "en"
    assert jane["data"]["confirmedAt"] == jane["time"] == START.isoformat().replace("+00:00", "Z")
    assert set(jane["data"]) == {
        "id", "name", "email", "language", "status", "registeredAt", "confirmedAt"
    }  # fmt: skip
    assert query(app.path, "SELECT COUNT(*) FROM outbox") == [(0,)]  # nothing left owed


def test_a_refusing_webhook_parks_its_event_and_keeps_it(tmp_path: Path) -> None:
    with webhook_receiver(HOOK_SECRET.encode(), fail_first=1, status=410) as gone:
        app = Embedded(tmp_path, [gone.url])
        app.confirm(("Jane", "jane@example.com"))
        app.worker.run_once()
        parked = app.store.parked()
        assert [(p.message.kind, p.last_error) for p in parked] == [
            (MessageKind.REGISTRATION_CONFIRMED, "HTTP410")
        ]
        app.drain(2)  # parked messages are still retried: the owner fixed the receiver
        assert len(gone.accepted) == 1 and app.store.parked() == []
        app.store.close()


def test_unreachable_and_status_classes() -> None:
    assert classify(500) is classify(503) is classify(408) is classify(429)
    assert classify(503) is FailureClass.TRANSIENT
    assert classify(400) is classify(404) is classify(301) is FailureClass.ACCOUNT
    from regflow.domain import Registration, Status

    reg = Registration("id1", "N", "n@example.com", Status.CONFIRMED, START, None, START)
    url = "http://127.0.0.1:9/nothing-listens-here"
    message = Message(MessageKind.REGISTRATION_CONFIRMED, reg, webhook_target(url))
    channel = WebhookChannel([url], b"k" * 32, timeout=1.0)
    with pytest.raises(DeliveryError) as caught:
        channel.publish(event_of(message, now=START))
    assert caught.value.failure is FailureClass.TRANSIENT
    # a target no longer configured is no longer owed
    other = Message(MessageKind.REGISTRATION_CONFIRMED, reg, webhook_target("http://x.test/"))
    assert channel.publish(event_of(other, now=START)) is False


def test_v1_and_v2_verification_return_false_for_any_header() -> None:
    """Issue 27: `t=²` ("²".isdigit() is True, int("²") raises) and a non-ASCII signature
    (hmac.compare_digest raises TypeError for such a str) raised instead of returning False."""
    key, url = b"k" * 32, "https://a.test/hook"
    for hostile in ("t=\u00b2,v1=00,v2=00", "t=1700000000,v1=\u00e9,v2=\u00e9", "t", ",,=,"):
        assert verify(key, hostile, b"{}", now=1_700_000_000) is False
        assert verify_v2(key, url, hostile, b"{}", now=1_700_000_000) is False


def test_each_url_has_its_own_v2_secret_and_signature() -> None:
    secret, body, t = b"k" * 32, b'{"id":"x"}', 1_700_000_000
    a, b = "https://a.test/hook", "https://b.test/hook"
    assert url_secret(secret, a) != url_secret(secret, b)
    assert len(url_secret(secret, a)) == 64
    header = signature_header(secret, t, body, url=a)
    assert verify_v2(url_secret(secret, a), a, header, body, now=t)
    # b's receiver cannot take a's POST as its own (replay), nor sign one for a
    assert not verify_v2(url_secret(secret, b), b, header, body, now=t)
    assert not verify_v2(url_secret(secret, a), b, header, body, now=t)
    assert verify(secret, header, body, now=t)  # v1 still there for one release


def test_signature_scheme() -> None:
    from regflow.domain import Registration, Status

    reg = Registration("id1", "N", "n@example.com", Status.CONFIRMED, START, None, START)
    event = event_of(Message(MessageKind.REGISTRATION_CONFIRMED, reg, "webhook:x"), now=START)
    body = body_of(event)
    header = signature_header(b"k" * 32, 1_700_000_000, body)
    assert verify(b"k" * 32, header, body, now=1_700_000_100)
    assert not verify(b"k" * 32, header, body + b" ", now=1_700_000_100)  # body changed
    assert not verify(b"x" * 32, header, body, now=1_700_000_100)  # another key
    assert not verify(b"k" * 32, header, body, now=1_700_000_000 + 301)  # too old: replay
    assert event.id == "id1.confirmed"


@pytest.mark.parametrize(
    ("env", "error"),
    [
        ({"WEBHOOK_URL": "https://a.test/x"}, "WEBHOOK_SECRET is required when WEBHOOK_URL is set"),
        ({"WEBHOOK_URL": "https://a.test/x", "WEBHOOK_SECRET": "short"}, "at least 32"),
        (
            {"WEBHOOK_URL": "https://a.test/x ftp://b.test", "WEBHOOK_SECRET": HOOK_SECRET},
            "entry 2",
        ),
        ({"EVENT_BUS_NAME": "bad bus"}, "EVENT_BUS_NAME"),
        ({"EVENT_SOURCE": "aws.s3"}, "EVENT_SOURCE"),
    ],
)
def test_bad_event_settings_are_one_line_startup_errors(env: dict[str, str], error: str) -> None:
    with pytest.raises(ConfigError) as caught:
        settings(**env)
    message = str(caught.value)
    assert error in message and "\n" not in message
    assert "b.test" not in message  # URLs are never echoed (they may hold a credential)


def test_the_documented_verification_example_verifies_regflows_signatures() -> None:
    """docs/events.md's ten-line example, run as written, against a real signature."""
    import time
    from pathlib import Path

    from regflow.domain import Registration, Status

    doc = (Path(__file__).parents[2] / "docs" / "events.md").read_text()
    code = re.search(r"```python\n(.*?)```", doc, re.S)
    assert code is not None
    lines = [line for line in code.group(1).splitlines() if line.strip()]
    assert len(lines) <= 10
    namespace: dict[str, object] = {}
    exec(code.group(1), namespace)  # our own documentation
    check = namespace["verify"]
    assert callable(check)
    reg = Registration("id1", "N", "n@example.com", Status.CONFIRMED, START, None, START)
    body = body_of(
        event_of(Message(MessageKind.REGISTRATION_CONFIRMED, reg, "webhook:x"), now=START)
    )
    url = "https://hooks.example.com/regflow?src=1"
    configured = "https://u:p@hooks.example.com/regflow?src=1#frag"  # same URL: v2 signs it bare
    key = hmac.new(HOOK_SECRET.encode(), url.encode(), hashlib.sha256).hexdigest().encode()
    assert key == url_secret(HOOK_SECRET.encode(), configured)  # the documented derivation
    header = signature_header(HOOK_SECRET.encode(), int(time.time()), body, url=configured)
    assert check(key, url, header, body) is True
    assert check(key, url, header, body.replace(b"N", b"M")) is False
    assert check(key, "https://other.example.com/regflow?src=1", header, body) is False
    other_key = url_secret(HOOK_SECRET.encode(), "https://other.example.com/hook")
    assert check(other_key, url, header, body) is False
    stale = signature_header(HOOK_SECRET.encode(), int(time.time()) - 600, body, url=url)
    assert check(key, url, stale, body) is False
    # issue 27: a hostile header is False, never an exception
    now = int(time.time())
    for hostile in (
        "t=\u00b2,v2=00",
        f"t={now},v2=\u00e9\u00e9",
        f"t={now},v2=\ud800",
        "",
        "t=,v2=",
        f"t=-{now},v2=00",
        f"t= {now},v2=00",
    ):
        assert check(key, url, hostile, body) is False, hostile


# --- issue 27: a webhook can neither stall mail nor leak its URL -------------------------------


def _event_for(url: str) -> Event:
    from regflow.domain import Registration, Status

    reg = Registration("id1", "N", "n@example.com", Status.CONFIRMED, START, None, START)
    return event_of(
        Message(MessageKind.REGISTRATION_CONFIRMED, reg, webhook_target(url)), now=START
    )


def test_a_receiver_that_dribbles_its_answer_is_cut_off_at_the_deadline() -> None:
    """One byte every 0.2 s: each read is in time (per-operation time-out 1 s), only the
    wall-clock deadline (1.5 s) ends the POST."""
    with dribbling_receiver(0.2) as slow:
        channel = WebhookChannel([slow.url], b"k" * 32, timeout=1.0, deadline=1.5)
        started = time.monotonic()
        with pytest.raises(DeliveryError) as caught:
            channel.publish(_event_for(slow.url))
        took = time.monotonic() - started
    assert 1.4 <= took < 3.0, took
    assert (caught.value.failure, caught.value.code) == (FailureClass.TRANSIENT, "Deadline")


@pytest.mark.parametrize(
    "answer",
    [
        b"NOT HTTP AT ALL\r\n\r\n",  # BadStatusLine: an http.client error, not an OSError
        b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * 200 + b"\r\n",  # too many headers
        b"",  # closed without an answer
    ],
)
def test_every_client_error_is_a_delivery_failure(answer: bytes) -> None:
    with dribbling_receiver(answer=answer) as broken:
        channel = WebhookChannel([broken.url], b"k" * 32, timeout=2.0)
        with pytest.raises(DeliveryError) as caught:
            channel.publish(_event_for(broken.url))
    assert caught.value.failure is FailureClass.TRANSIENT
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_a_url_with_credentials_sends_them_as_basic_auth(tmp_path: Path) -> None:
    with webhook_receiver(HOOK_SECRET.encode()) as hook:
        url = hook.url.replace("http://", "http://hook%40user:p%3Ass@")
        channel = WebhookChannel([url], HOOK_SECRET.encode(), timeout=2.0)
        assert channel.publish(_event_for(url)) is True
    expected = "Basic " + base64.b64encode(b"hook@user:p:ss").decode()
    assert hook.authorization == [expected]
    assert hook.request_lines == ["POST /hooks/regflow HTTP/1.1"]


def test_no_log_line_carries_a_webhook_url_or_its_password(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The password of `http://user:pass@host/hook` reached ERROR tracebacks (InvalidURL)."""
    caplog.set_level(logging.DEBUG)
    with dribbling_receiver(answer=b"garbage\r\n\r\n") as broken:
        url = broken.url.replace("http://", "http://owner:Sw0rdfish-secret@")
        app = Embedded(tmp_path, [url])
        app.confirm(("Jane", "jane@example.com"))
        app.drain(4)
        app.store.close()
    assert broken.connections >= 4  # delivered, failed, retried: never stuck on an exception
    formatter = logs.JsonFormatter()
    text = "\n".join(formatter.format(r) for r in caplog.records)
    assert "Sw0rdfish-secret" not in text and "/hooks/slow" not in text
    assert all(r.exc_info is None for r in caplog.records if r.name.startswith("regflow"))


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:8080/x", "http://localhost/x", "http://[::1]:9/x", "https://a.test/x"],
)
def test_webhooks_may_use_http_only_to_this_machine(url: str) -> None:
    assert settings(WEBHOOK_URL=url, WEBHOOK_SECRET=HOOK_SECRET).events.webhook_urls == (url,)


def test_an_http_webhook_elsewhere_stops_start_up_with_one_line() -> None:
    with pytest.raises(ConfigError) as caught:
        settings(
            WEBHOOK_URL="https://a.test/x http://user:pw@hooks.example.com/x",
            WEBHOOK_SECRET=HOOK_SECRET,
        )
    message = str(caught.value)
    assert message.startswith("WEBHOOK_URL entry 2 is http://: webhooks go to https:// only")
    assert "\n" not in message and "hooks.example.com" not in message and "pw" not in message


def test_a_slow_receiver_never_delays_a_verification_mail(tmp_path: Path) -> None:
    """Issue 27: a receiver answering a byte at a time held the one outbox worker (mail and
    events alike); a verification mail left 60 s late. Events have their own thread now."""
    with dribbling_receiver(0.5) as slow:
        app = Embedded(tmp_path, [slow.url], deadline=60.0)
        app.worker = OutboxWorker(app.store, app.delivery, now=time.time, poll_interval=0.1)
        app.confirm(("Jane", "jane@example.com"))  # owes an event to the slow receiver
        app.worker.start()
        try:
            deadline = time.monotonic() + 5
            while slow.connections == 0 and time.monotonic() < deadline:
                time.sleep(0.02)
            assert slow.connections == 1  # the events thread is in the slow POST
            started = time.monotonic()
            app.intake.register("Bob", "bob@example.com")
            app.worker.wake()

            def to_bob() -> bool:
                return any(mail.to == "bob@example.com" for mail in app.mailer.sent)

            while not to_bob() and time.monotonic() - started < 10:
                time.sleep(0.02)
            took = time.monotonic() - started
            assert to_bob(), "the verification mail waited"
            assert took < 2.0, took
            assert slow.connections == 1 and not slow.stopped.is_set()  # still in that POST
        finally:
            slow.stopped.set()  # the receiver lets go: the events thread can stop
            app.worker.stop()
            app.store.close()
