"""Counters in CloudWatch's Embedded Metric Format (EMF): one JSON line on stdout per event.

On Lambda, stdout goes to the function's log group, and CloudWatch turns each line that
carries an `_aws.CloudWatchMetrics` block into metric data points: no SDK call, no client, no
network on the request path, nothing imported beyond `json`. The metrics (namespace
`regflow`, dimension `Stack`) are what the alarms and the dashboard of template.yaml watch:

| metric | emitted by | when |
| --- | --- | --- |
| RegistrationAccepted / Limited / Rejected | `api` | POST /register: accepted, 429, 4xx |
| Confirmation<Outcome> (Confirmed, AlreadyConfirmed, Expired, Invalid) | `api` | /confirm |
| Http2xx, Http3xx, Http4xx, Http5xx | `api` | every answer, by status class |
| MessagesSent / MessagesRetried / MessagesParked / MessagesDropped | `delivery` | each message |
| RecordsFailed | `aws.mail_sender` | a batch stopped at a record it could not handle |
| OldestParkedAgeSeconds (Seconds) | `aws.recovery` | each run that claimed parked messages |
| MailDelivered / MailBounced / MailSoftBounced / MailComplained | `feedback` | each report |
| MailRejected | `feedback` | SES refused to send a message (a virus, say) |
| AddressesSuppressed | `feedback` | an inbox put on the suppression list |
| OwnerAddressBounced | `feedback` | the owner's address bounced or complained (alarmed) |
| MessagesSuppressed / MessagesNoMailDomain | `delivery` | a send skipped (suppressed; no MX) |
| DnsParked | `delivery` | parked: its domain's DNS did not answer (not MessagesParked) |

Off by default (`NO_METRICS`): the embedded runtime prints no EMF; the template turns it on
with `METRICS=emf` and names the stack in `METRICS_STACK`.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Mapping
from typing import Protocol

NAMESPACE = "regflow"

# Every metric regflow emits (template.yaml's alarms and dashboard use only these).
METRIC_NAMES = frozenset(
    {
        "RegistrationAccepted",
        "RegistrationLimited",
        "RegistrationRejected",
        "ConfirmationConfirmed",
        "ConfirmationAlreadyConfirmed",
        "ConfirmationExpired",
        "ConfirmationInvalid",
        "Http2xx",
        "Http3xx",
        "Http4xx",
        "Http5xx",
        "MessagesSent",
        "MessagesNotNeeded",
        "MessagesRetried",
        "MessagesParked",
        "MessagesDropped",
        "RecordsFailed",
        "OldestParkedAgeSeconds",
        # deliverability (regflow.feedback, regflow.delivery)
        "MailDelivered",
        "MailBounced",
        "MailSoftBounced",
        "MailComplained",
        "MailRejected",
        "AddressesSuppressed",
        "OwnerAddressBounced",
        "MessagesSuppressed",
        "MessagesNoMailDomain",
        "DnsParked",
    }
)


class Metrics(Protocol):
    def emit(self, values: Mapping[str, float], *, unit: str = "Count", **properties: str) -> None:
        """Record `values` (metric name -> value) as one event; `properties` go along as
        searchable fields of the log line (never dimensions)."""


class NoMetrics:
    """The default: nothing recorded."""

    def emit(self, values: Mapping[str, float], *, unit: str = "Count", **properties: str) -> None:
        return None


NO_METRICS: Metrics = NoMetrics()


class EmfMetrics:
    """Writes one EMF line per event to `write` (default: stdout, which Lambda logs)."""

    def __init__(
        self,
        stack: str,
        *,
        namespace: str = NAMESPACE,
        write: Callable[[str], object] | None = None,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.stack = stack or "regflow"
        self.namespace = namespace
        self._write = write
        self._now = now

    def line(self, values: Mapping[str, float], *, unit: str = "Count", **properties: str) -> str:
        """The EMF JSON line for one event."""
        document: dict[str, object] = {
            "_aws": {
                "Timestamp": int(self._now() * 1000),
                "CloudWatchMetrics": [
                    {
                        "Namespace": self.namespace,
                        "Dimensions": [["Stack"]],
                        "Metrics": [{"Name": name, "Unit": unit} for name in values],
                    }
                ],
            },
            "Stack": self.stack,
        }
        for key, value in properties.items():
            if key not in document and key not in values:
                document[key] = value
        for name, amount in values.items():
            document[name] = amount
        return json.dumps(document, separators=(",", ":"))

    def emit(self, values: Mapping[str, float], *, unit: str = "Count", **properties: str) -> None:
        if not values:
            return
        text = self.line(values, unit=unit, **properties)
        if self._write is not None:
            self._write(text)
        else:
            sys.stdout.write(text + "\n")
            sys.stdout.flush()


def from_settings(enabled: bool, stack: str) -> Metrics:
    """The runtime's metrics: EMF on stdout when enabled, else none."""
    return EmfMetrics(stack) if enabled else NO_METRICS


def status_class(status: int) -> str:
    """`Http2xx` ... `Http5xx` for an HTTP status."""
    return f"Http{max(1, min(5, status // 100))}xx"


def outcome_metric(prefix: str, value: str) -> str:
    """`Confirmation` + `already-confirmed` -> `ConfirmationAlreadyConfirmed`."""
    return prefix + "".join(part.capitalize() for part in value.split("-"))
