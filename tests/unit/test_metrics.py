"""The CloudWatch metrics (Embedded Metric Format): the lines each path prints, parsed as
CloudWatch would and checked. Off unless asked for (the embedded runtime prints none)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from regflow import metrics
from regflow.aws.recovery import recover
from regflow.domain import DeliveryError, FailureClass, StoreUnavailable
from regflow.metrics import METRIC_NAMES, EmfMetrics
from tests.support.events import http_event, json_post
from tests.unit.fakes import World, settings, world
from tests.unit.test_mail_sender import Harness, insert, transient


class Lines:
    """An EMF sink that keeps what it would print, parsed and validated."""

    def __init__(self, stack: str = "site-a") -> None:
        self.raw: list[str] = []
        self.sink = EmfMetrics(stack, write=self.raw.append, now=lambda: 1_700_000_000.5)

    @property
    def events(self) -> list[dict[str, Any]]:
        return [check_emf(json.loads(line)) for line in self.raw]

    def values(self) -> list[dict[str, float]]:
        """Each line's metrics: {name: value}."""
        out = []
        for doc in self.events:
            names = [m["Name"] for m in doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]]
            out.append({n: doc[n] for n in names})
        return out

    def total(self) -> dict[str, float]:
        sums: dict[str, float] = {}
        for values in self.values():
            for name, value in values.items():
                sums[name] = sums.get(name, 0) + value
        return sums


def check_emf(doc: dict[str, Any]) -> dict[str, Any]:
    """What CloudWatch requires of an EMF line (the specification's rules)."""
    meta = doc["_aws"]
    assert isinstance(meta["Timestamp"], int) and meta["Timestamp"] == 1_700_000_000_500
    [directive] = meta["CloudWatchMetrics"]
    assert directive["Namespace"] == "regflow"
    assert directive["Dimensions"] == [["Stack"]]
    assert doc["Stack"] == "site-a"  # every dimension is a top-level string
    assert directive["Metrics"]
    for metric in directive["Metrics"]:
        assert metric["Name"] in METRIC_NAMES
        assert metric["Unit"] in ("Count", "Seconds")
        assert isinstance(doc[metric["Name"]], (int, float))  # every metric has its value
    return doc


def observed_world(**env: str) -> tuple[World, Lines]:
    w = world(**env)
    lines = Lines()
    w.api.metrics = lines.sink
    w.delivery.metrics = lines.sink
    return w, lines


# --- the HTTP API ---------------------------------------------------------------------------


def test_an_accepted_registration() -> None:
    w, lines = observed_world()
    w.api(json_post("/register", {"name": "Jane", "email": "jane@example.com"}))
    assert lines.values() == [{"Http2xx": 1, "RegistrationAccepted": 1}]
    assert lines.events[0]["route"] == "register"


def test_a_rejected_and_a_limited_registration() -> None:
    w, lines = observed_world(IP_LIMIT_PER_HOUR="1")
    w.api(json_post("/register", {"name": "", "email": "nope"}))
    ip = {"source_ip": "198.51.100.7"}
    w.api(json_post("/register", {"name": "A", "email": "a@example.com"}, **ip))
    w.api(json_post("/register", {"name": "B", "email": "b@example.com"}, **ip))
    assert lines.values() == [
        {"Http4xx": 1, "RegistrationRejected": 1},
        {"Http2xx": 1, "RegistrationAccepted": 1},
        {"Http4xx": 1, "RegistrationLimited": 1},
    ]


def test_a_5xx_answer_counts_as_http5xx_only(monkeypatch: pytest.MonkeyPatch) -> None:
    w, lines = observed_world()

    def down(*args: object, **kwargs: object) -> None:
        raise StoreUnavailable(retry_after=1)

    monkeypatch.setattr(w.store, "create_pending", down)
    response = w.api(json_post("/register", {"name": "J", "email": "j@example.com"}))
    assert response["statusCode"] == 503
    assert lines.values() == [{"Http5xx": 1}]


def test_confirmations_by_outcome() -> None:
    w, lines = observed_world()
    w.api(json_post("/register", {"name": "Jane", "email": "jane@example.com"}))
    reg = next(iter(w.store.by_id.values()))
    token = w.signer.issue(reg.id, reg.addr_key)
    for query in ({"token": token}, {"token": token}, {"token": "garbage"}):
        w.api(http_event("GET", "/confirm", query=query))
    assert lines.values()[1:] == [
        {"Http3xx": 1, "ConfirmationConfirmed": 1},
        {"Http3xx": 1, "ConfirmationAlreadyConfirmed": 1},
        {"Http3xx": 1, "ConfirmationInvalid": 1},
    ]
    assert {e["route"] for e in lines.events[1:]} == {"confirm"}


# --- delivery: the mail sender and the recovery --------------------------------------------------


def observed_harness() -> tuple[Harness, Lines]:
    h = Harness()
    lines = Lines()
    h.delivery.metrics = lines.sink
    return h, lines


def test_sent_retried_and_parked_messages() -> None:
    h, lines = observed_harness()
    h.fail(1, transient())  # one quick retry, then sent
    h.fail(2, *(transient() for _ in range(5)))  # retried, then parked
    h.run([insert(h, 1, 10), insert(h, 2, 11)])
    assert lines.total() == {"MessagesSent": 1, "MessagesRetried": 3, "MessagesParked": 1}
    assert {e["kind"] for e in lines.events} == {"verification"}


def test_a_dropped_message() -> None:
    h, lines = observed_harness()
    h.fail(1, DeliveryError("no such mailbox", failure=FailureClass.RECIPIENT, code="Bad"))
    h.run([insert(h, 1, 10)])
    assert lines.values() == [{"MessagesDropped": 1}]


def test_a_record_that_cannot_be_handled(monkeypatch: pytest.MonkeyPatch) -> None:
    h, lines = observed_harness()
    h.fail(1, DeliveryError("paused", failure=FailureClass.ACCOUNT, code="SendingPaused"))

    def refuse(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the table refused the park")

    monkeypatch.setattr(h.store, "park", refuse)
    response = h.run([insert(h, 1, 10)])
    assert response["batchItemFailures"] == [{"itemIdentifier": "10"}]
    assert lines.values() == [{"RecordsFailed": 1}]


def test_the_recovery_reports_the_oldest_parked_message() -> None:
    h, lines = observed_harness()
    h.fail(1, DeliveryError("paused", failure=FailureClass.ACCOUNT, code="SendingPaused"))
    h.run([insert(h, 1, 10)])
    first_failure = h.now
    h.now += 7200  # two hours later the recovery finds it due, and it is sent
    counts = recover(h.delivery, h.store, now=lambda: h.now)
    assert counts["sent"] == 1
    *_, sent, age = lines.events
    assert sent["MessagesSent"] == 1
    assert age["_aws"]["CloudWatchMetrics"][0]["Metrics"] == [
        {"Name": "OldestParkedAgeSeconds", "Unit": "Seconds"}
    ]
    assert age["OldestParkedAgeSeconds"] == pytest.approx(h.now - first_failure)
    recover(h.delivery, h.store, now=lambda: h.now)  # nothing due: 0, so the alarm clears
    assert lines.values()[-1] == {"OldestParkedAgeSeconds": 0}


# --- on and off -------------------------------------------------------------------------------


def test_off_by_default_and_on_with_metrics_emf() -> None:
    assert settings().aws.metrics is False
    assert metrics.from_settings(False, "x") is metrics.NO_METRICS
    on = settings(METRICS="emf", METRICS_STACK="site-a")
    assert on.aws.metrics is True and on.aws.metrics_stack == "site-a"
    emf = metrics.from_settings(True, "site-a")
    assert isinstance(emf, EmfMetrics) and emf.stack == "site-a"


def test_emf_goes_to_stdout_one_line_per_event(capsys: pytest.CaptureFixture[str]) -> None:
    EmfMetrics("site-a", now=lambda: 1_700_000_000.5).emit({"Http2xx": 1}, route="register")
    [line] = capsys.readouterr().out.splitlines()
    check_emf(json.loads(line))


def test_the_embedded_runtime_prints_no_metrics(capsys: pytest.CaptureFixture[str]) -> None:
    w = world()
    w.api(json_post("/register", {"name": "Jane", "email": "jane@example.com"}))
    w.drain()
    assert "CloudWatchMetrics" not in capsys.readouterr().out


def test_the_metrics_module_imports_nothing_heavy() -> None:
    import subprocess
    import sys

    code = (
        "import sys; before = set(sys.modules); import regflow.metrics; "
        "print(sorted(m for m in set(sys.modules) - before if not m.startswith('regflow')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "boto" not in out.stdout and "botocore" not in out.stdout


def test_the_aws_wiring_turns_them_on_from_the_templates_variables() -> None:
    from regflow import compose

    on = compose.metrics(settings(METRICS="emf", METRICS_STACK="site-a"))
    assert isinstance(on, EmfMetrics) and on.stack == "site-a"
    assert compose.metrics(settings()) is metrics.NO_METRICS
