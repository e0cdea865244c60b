"""Delivery: send what an owed message says (composed by `regflow.composer`) through its
channel, off the request path, under the one delivery policy (`regflow.domain.policy`), and
settle every failure in one step (`_settle`: drop, retry or park in the outbox).

Used by every sender alike: the AWS mail sender (fresh messages from the table's stream), the
embedded outbox worker and the operator's `regflow redrive` / `retry-dead` (claimed messages
from an `Outbox`).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import TYPE_CHECKING

from regflow.composer import Composer
from regflow.config import MailSettings
from regflow.domain import (
    DEFAULT_POLICY,
    Action,
    Channel,
    ClaimedMessage,
    DeliveryError,
    DeliveryPolicy,
    Email,
    FailureClass,
    Message,
    Status,
    SuppressionReason,
    Verdict,
    event_of,
    mask_email,
    utcnow,
)
from regflow.domain.breaker import BREAKER_WINDOW_SECONDS, CLOSED, Breaker, Refusal
from regflow.feedback import TAG_KIND, TAG_REGISTRATION, suppress_inbox
from regflow.metrics import NO_METRICS, Metrics
from regflow.ports import (
    BreakerStore,
    Clock,
    EventChannel,
    MailChannel,
    MailDomains,
    Outbox,
    RegistrationStore,
    SuppressionList,
)
from regflow.tokens import TokenSigner

if TYPE_CHECKING:
    pass

log = logging.getLogger("regflow.delivery")

# A quick retry waits in process only when this much time is left after its backoff: the
# retry's worst case (read the address lock, send, park), see regflow.aws.budget.
RETRY_MARGIN_SECONDS = 25.0

# Error codes of the sends the sender itself refuses (deliverability): the registrant's inbox
# is on the suppression list; the address's domain cannot receive mail (no MX/A/AAAA, or a
# null MX); the domain check could not be answered now (a DNS time-out: retried).
SUPPRESSED = "Suppressed"
NO_MAIL_DOMAIN = "NoMailDomain"
DNS_UNAVAILABLE = "DnsUnavailable"
# A message parked by the open mail breaker until its next try (regflow.domain.breaker).
BREAKER_OPEN = "BreakerOpen"

# The metric each result counts under (regflow.metrics; EMF on AWS).
RESULT_METRICS = {
    "sent": "MessagesSent",
    "not-needed": "MessagesNotNeeded",
    "retry": "MessagesRetried",
    "parked": "MessagesParked",
    "dropped": "MessagesDropped",
}


class Result(StrEnum):
    """What became of one owed message."""

    SENT = "sent"
    NOT_NEEDED = "not-needed"  # no longer owed (confirmed or expired meanwhile, or erased)
    RETRY = "retry"  # not delivered; due again soon (a claimed message)
    PARKED = "parked"  # kept whole; retried by the outbox (automatically, then by an operator)
    DROPPED = "dropped"  # a final refusal of the registrant's address, recorded on it


class DeliveryService:
    def __init__(
        self,
        *,
        store: RegistrationStore,
        settings: MailSettings,
        signer: TokenSigner,
        channels: Mapping[Channel, MailChannel],
        outbox: Outbox | None = None,
        policy: DeliveryPolicy = DEFAULT_POLICY,
        clock: Clock = utcnow,
        now: Callable[[], float] = time.time,
        metrics: Metrics = NO_METRICS,
        suppressions: SuppressionList | None = None,
        mail_domains: MailDomains | None = None,
        events: Mapping[Channel, EventChannel] | None = None,
        breaker: BreakerStore | None = None,
    ) -> None:
        self.store = store
        # the mail breaker (regflow.domain.breaker): a run of the recipient's refusals over
        # several domains is the account's; None: off (no suppression list either)
        self.breaker = breaker
        self.events = dict(events or {})  # webhooks, EventBridge (regflow.domain.events)
        # deliverability: no mail to a suppressed inbox; a refusal of the registrant's
        # address suppresses it; a verification mail only to a domain that receives mail
        self.suppressions = suppressions
        self.mail_domains = mail_domains
        self.settings = settings
        self.signer = signer
        self.channels = dict(channels)
        self.outbox = outbox
        self.policy = policy
        self.clock = clock
        self._now = now
        self.metrics = metrics
        self.composer = Composer(store=store, settings=settings, signer=signer, clock=clock)

    # --- rendering -----------------------------------------------------------------------

    # --- composition (regflow.composer) ------------------------------------------------

    def render(self, message: Message) -> Email | None:
        """The email a message owes, or None when it no longer owes one."""
        return self.composer.compose(message)

    def recipient(self, message: Message) -> str:
        return self.composer.recipient(message)

    # --- sending -------------------------------------------------------------------------

    def send(self, message: Message) -> bool:
        """Render and send what `message` owes. True if something was sent. Raises
        `DeliveryError` (the caller applies the policy)."""
        to_registrant = message.kind.to_registrant
        if self._suppressed(message):
            raise DeliveryError(
                "the registrant's inbox is suppressed",
                failure=FailureClass.RECIPIENT,
                code=SUPPRESSED,
            )
        if message.kind.is_event:
            return self.publish(message)
        email = self.render(message)
        if email is None:
            return False
        if to_registrant and self.mail_domains is not None:
            receives = self.mail_domains.receives_mail(email.to.rpartition("@")[2])
            if receives is None:
                raise DeliveryError(
                    "the domain check timed out",
                    failure=FailureClass.TRANSIENT,
                    code=DNS_UNAVAILABLE,
                )
            if not receives:
                raise DeliveryError(
                    "the domain cannot receive mail",
                    failure=FailureClass.RECIPIENT,
                    code=NO_MAIL_DOMAIN,
                )
        channel = self.channels.get(message.channel)
        if channel is None:
            raise RuntimeError(f"this sender has no {message.channel.value} channel")
        email = dataclasses.replace(
            email,
            tags=(
                (TAG_KIND, message.kind.value),
                (TAG_REGISTRATION, message.registration.id),
            ),
        )
        channel.send(email)
        log.info(
            "message sent",
            extra={
                "kind": message.kind.value,
                "channel": message.channel.value,
                "registration_id": message.registration.id,
                "to": mask_email(email.to),
            },
        )
        return True

    def _suppressed(self, message: Message) -> bool:
        if self.suppressions is None or not message.kind.to_registrant:
            return False
        return self.suppressions.suppression(message.registration.limit_key) is not None

    @property
    def event_targets(self) -> tuple[str, ...]:
        """Every target this sender publishes events to (what a confirmation owes)."""
        return tuple(target for channel in self.events.values() for target in channel.targets)

    def publish(self, message: Message) -> bool:
        """Publish the event `message` owes to its one target. True if it went out; False
        when its target is not configured any more. Raises `DeliveryError`."""
        channel = self.events.get(message.channel)
        if channel is None:
            raise RuntimeError(f"this sender has no {message.channel.value} channel")
        event = event_of(message, now=self.clock())
        sent = channel.publish(event)
        if sent:
            log.info(
                "event published",
                extra={
                    "kind": message.kind.value,
                    "channel": message.channel.value,
                    "target": message.target,
                    "registration_id": message.registration.id,
                },
            )
        return sent

    def _outbox(self) -> Outbox:
        if self.outbox is None:
            raise RuntimeError("this sender was built without an outbox")
        return self.outbox

    def deliver_fresh(
        self,
        message: Message,
        *,
        sleep: Callable[[float], None] = time.sleep,
        time_left: Callable[[], float] | None = None,
    ) -> Result:
        """A message just owed (the AWS stream hands each one over once): the policy's quick
        retries in process, sleeping their backoff while `time_left()` (seconds) allows,
        then PARK or DROP settled in the outbox. Returns SENT, NOT_NEEDED, PARKED or DROPPED;
        raises only when the outbox itself fails (the caller retries the record)."""
        result = self._deliver_fresh(message, sleep=sleep, time_left=time_left)
        self._count(message, result)
        return result

    def _count(self, message: Message, result: Result) -> None:
        if result is Result.PARKED:
            return  # counted where it is parked (`_count_park`), by why
        self.metrics.emit({RESULT_METRICS[result.value]: 1.0}, kind=message.kind.value)

    def _count_park(self, message: Message, error: str) -> None:
        """MessagesParked (SES or the relay refusing or down: alarmed), or DnsParked: the
        address's domain did not answer (its own metric: a wildcard domain whose DNS times
        out says nothing of SES)."""
        name = "DnsParked" if error == DNS_UNAVAILABLE else RESULT_METRICS[Result.PARKED.value]
        self.metrics.emit({name: 1.0}, kind=message.kind.value)

    def _deliver_fresh(
        self,
        message: Message,
        *,
        sleep: Callable[[float], None],
        time_left: Callable[[], float] | None,
    ) -> Result:
        if self._held(message):
            return self._hold(message, attempts=1)
        attempts = 1
        while True:
            try:
                if not self.send(message):
                    return Result.NOT_NEEDED
                self._sent(message)
                return Result.SENT
            except DeliveryError as exc:
                verdict = self.policy.decide(message.kind, exc.failure, attempts)
                action = verdict.action
                if action is Action.RETRY and (
                    time_left is not None and time_left() < verdict.delay + RETRY_MARGIN_SECONDS
                ):
                    action = Action.PARK  # no time to wait in this invocation: the outbox waits
                if action is Action.RETRY and exc.code == DNS_UNAVAILABLE:
                    # a DNS time-out waits in the outbox, never in this batch: the domain's
                    # unknown answer is cached for minutes, a retry now would only wait again
                    action = Action.PARK
                self._log_failure(message, exc, attempts, action)
                if action is Action.RETRY:
                    self.metrics.emit({"MessagesRetried": 1.0}, kind=message.kind.value)
                    sleep(verdict.delay)
                    attempts += 1
                    continue
                return self._settle(message, exc, action, verdict, attempts=attempts)

    def deliver_claimed(self, claimed: ClaimedMessage) -> Result:
        """A message an outbox handed out: deliver it and settle it there by the policy."""
        result = self._deliver_claimed(claimed)
        self._count(claimed.message, result)
        return result

    def _deliver_claimed(self, claimed: ClaimedMessage) -> Result:
        outbox = self._outbox()
        message = claimed.message
        if self._held(message):
            return self._hold(message, attempts=claimed.attempts, claimed=claimed)
        try:
            try:
                sent = self.send(message)
            except DeliveryError:
                raise
            except Exception as exc:  # the store or the secret, say: this message stays owed
                log.exception("message not delivered: unexpected error")
                raise DeliveryError(
                    "unexpected error", failure=FailureClass.TRANSIENT, code=type(exc).__name__
                ) from exc
        except DeliveryError as exc:
            now = self._now()
            first = claimed.first_failed_at if claimed.first_failed_at is not None else now
            verdict = self.policy.decide(
                message.kind, exc.failure, claimed.attempts, failing_for=now - first
            )
            self._log_failure(message, exc, claimed.attempts, verdict.action)
            return self._settle(
                message, exc, verdict.action, verdict, attempts=claimed.attempts, claimed=claimed
            )
        outbox.complete(claimed)
        if sent:
            self._sent(message)
        return Result.SENT if sent else Result.NOT_NEEDED

    def _settle(
        self,
        message: Message,
        exc: DeliveryError,
        action: Action,
        verdict: Verdict,
        *,
        attempts: int,
        claimed: ClaimedMessage | None = None,
    ) -> Result:
        """The one settle step of a failed delivery, fresh or claimed: the policy's `action`
        written to the outbox (a fresh message's RETRY waits in process, never here)."""
        outbox = self._outbox()
        error = exc.code or exc.failure.value
        now = self._now()
        if action is Action.DROP and not self._breaker_parks(message, exc, now):
            outbox.drop(message, error=error, claimed=claimed)
            self.refused(message, exc)
            return Result.DROPPED
        if action is Action.DROP:  # the breaker's: the account's problem, kept for the fix
            return self._hold(message, attempts=attempts, claimed=claimed, error=error)
        if action is Action.RETRY and claimed is not None:
            outbox.fail(claimed, at=now + verdict.delay, error=error)
            return Result.RETRY
        outbox.park(
            message,
            attempts=attempts,
            error=error,
            at=now + verdict.delay if verdict.automatic else None,
            now=now,
            claimed=claimed,
        )
        self._count_park(message, error)
        return Result.PARKED

    # --- the breaker (regflow.domain.breaker) ---------------------------------------------

    def _held(self, message: Message) -> bool:
        """The breaker is open and this is not the one message it tries now."""
        if self.breaker is None or message.kind.is_event:
            return False
        state = self.breaker.load()
        if not state.open:
            return False
        after, may = state.probe(self._now())
        if may:
            self.breaker.save(after)
            log.info("mail breaker open: trying one message", extra={"kind": message.kind.value})
        return not may

    def _hold(
        self,
        message: Message,
        *,
        attempts: int,
        claimed: ClaimedMessage | None = None,
        error: str = BREAKER_OPEN,
    ) -> Result:
        """Park `message` until the breaker's next try."""
        assert self.breaker is not None
        now = self._now()
        at = max(self.breaker.load().probe_at, now)
        self._outbox().park(
            message, attempts=attempts, error=error, at=at, now=now, claimed=claimed
        )
        self._count_park(message, error)
        return Result.PARKED

    def _sent(self, message: Message) -> None:
        """A successful send: the breaker closes (written only when it changes)."""
        if self.breaker is None or message.kind.is_event:
            return
        state = self.breaker.load()
        if state == CLOSED:
            return
        self.breaker.save(state.sent())
        if state.open:
            self.metrics.emit({"MailBreakerClosed": 1.0})
            log.warning("mail breaker closed: a message was sent; parked mail goes out now")

    def _breaker_parks(self, message: Message, exc: DeliveryError, now: float) -> bool:
        """A refusal the classifier calls the recipient's, seen by the breaker: False while
        it stands (drop and suppress); True when the breaker is or just became open (the
        message parks; on opening, the window's earlier refusals are undone)."""
        if (
            self.breaker is None
            or self.suppressions is None
            or not message.kind.to_registrant
            or exc.code == SUPPRESSED
        ):
            return False
        reg = message.registration
        state = self.breaker.load()
        refusal = Refusal(
            at=now,
            domain=reg.email.rpartition("@")[2].lower(),
            key=reg.limit_key,
            registration_id=reg.id,
        )
        after, undo = state.refused(refusal)
        if after != state:
            self.breaker.save(after)
        if undo is None:
            return False
        if not state.open:
            self._open(after, undo, refusal)
        return True

    def _open(self, state: Breaker, undo: tuple[Refusal, ...], refusal: Refusal) -> None:
        """The breaker just opened: lift the window's suppressions, their registrations
        PENDING again with their mail owed, and tell the owner (an ERROR line; on AWS the
        `MailBreakerOpened` metric, which an alarm watches)."""
        assert self.suppressions is not None
        by_key: dict[str, list[str]] = {}
        for r in undo:
            by_key.setdefault(r.key, []).append(r.registration_id)
        owed = 0
        for key, ids in by_key.items():
            owed += len(self.suppressions.restore(key, ids, self.clock()))
        self.metrics.emit({"MailBreakerOpened": 1.0})
        domains = {r.domain for r in (*undo, refusal)}
        log.error(
            "mail breaker open: %d refusals of recipients at %d domains within %d minutes and"
            " no mail sent: read as the account's (the relay, the sender, DNS), not the"
            " recipients'; nobody is suppressed, %d suppressions lifted, %d messages owed"
            " again; fix the cause and the parked mail goes out by itself",
            len(undo) + 1,
            len(domains),
            int(BREAKER_WINDOW_SECONDS // 60),
            len(by_key),
            owed,
        )

    def refused(self, message: Message, exc: DeliveryError) -> None:
        """A message to the registrant was refused for good (DROP): a suppressed inbox is
        only counted; any other final refusal of the address (an SMTP 5xx, SES refusing the
        recipient, a domain without mail servers) is a hard bounce: the inbox is suppressed
        and the registration marked BOUNCED, never confirmable."""
        if self.suppressions is None or not message.kind.to_registrant:
            return
        if exc.code == SUPPRESSED:
            self.metrics.emit({"MessagesSuppressed": 1.0}, kind=message.kind.value)
            return
        no_domain = exc.code == NO_MAIL_DOMAIN
        if no_domain:
            self.metrics.emit({"MessagesNoMailDomain": 1.0}, kind=message.kind.value)
        reg = message.registration
        diagnostic = exc.code or exc.failure.value
        suppress_inbox(
            self.suppressions,
            email=reg.email,
            reason=SuppressionReason.NO_MAIL_DOMAIN if no_domain else SuppressionReason.REFUSED,
            diagnostic=diagnostic,
            at=self.clock(),
            metrics=self.metrics,
        )
        self.suppressions.mark_undeliverable(reg.id, Status.BOUNCED, diagnostic)

    def _log_failure(
        self, message: Message, exc: DeliveryError, attempts: int, action: Action
    ) -> None:
        level = logging.WARNING if action is Action.RETRY else logging.ERROR
        if exc.code == SUPPRESSED:
            level = logging.INFO  # the list doing its job
        log.log(
            level,
            "message not delivered: %s",
            action.value,
            extra={
                "kind": message.kind.value,
                "registration_id": message.registration.id,
                "failure": exc.failure.value,
                "code": exc.code,
                "attempts": attempts,
                "to": mask_email(self.recipient(message)),
            },
        )
