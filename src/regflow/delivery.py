"""Delivery: render what an owed message says and send it through its channel, off the request
path, under the one delivery policy (`regflow.domain.policy`).

Used by every sender alike: the AWS mail sender (fresh messages from the table's stream), the
embedded outbox worker and the operator's `regflow redrive` / `retry-dead` (claimed messages
from an `Outbox`).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

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
    MessageKind,
    Registration,
    Status,
    SuppressionReason,
    event_of,
    mask_email,
    utcnow,
)
from regflow.feedback import TAG_KIND, TAG_REGISTRATION, suppress_inbox
from regflow.metrics import NO_METRICS, Metrics
from regflow.ports import (
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
    from regflow.render.templates import Renderer

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
    ) -> None:
        self.store = store
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
        self._renderer: Renderer | None = None
        self._erasure_signer: TokenSigner | None = None

    # --- rendering -----------------------------------------------------------------------

    @property
    def renderer(self) -> Renderer:
        # Imported here, not at module level: only senders render, and the template engine
        # would add to the register/confirm handlers' cold start.
        if self._renderer is None:
            from regflow.render.catalog import Catalog
            from regflow.render.templates import Renderer

            s = self.settings
            self._renderer = Renderer(
                Catalog(s.templates_dir, s.default_language), s.templates_dir, site=s.site_name
            )
        return self._renderer

    def recipient(self, message: Message) -> str:
        if message.kind.is_event:
            return message.target
        if message.kind in (
            MessageKind.OWNER_NOTIFICATION,
            MessageKind.ERASURE_NOTICE,
            MessageKind.OWNER_DIGEST,
        ):
            return self.settings.owner_email
        return message.registration.email

    def confirm_link(self, registration: Registration) -> str:
        token = self.signer.issue(registration.id, registration.addr_key)
        link = f"{self.settings.confirm_url}?token={token}"
        if registration.language != self.settings.default_language:
            link += f"&lang={registration.language}"
        return link

    def erase_link(self, registration_id: str, addr_key: str, lang: str) -> str:
        """The signed self-service erasure link every mail to a registrant carries."""
        if self._erasure_signer is None:
            self._erasure_signer = self.signer.for_erasure()
        token = self._erasure_signer.issue(registration_id, addr_key)
        link = f"{self.settings.erase_url}?token={token}"
        if lang != self.settings.default_language:
            link += f"&lang={lang}"
        return link

    def render(self, message: Message) -> Email | None:
        """The email a message owes, or None when it no longer owes one."""
        from regflow import emails

        if message.kind.is_event:
            return None  # not an email (`publish`)
        reg = message.registration
        s = self.settings
        if message.kind is MessageKind.OWNER_DIGEST:
            return self._digest(message)
        if message.kind is MessageKind.OWNER_NOTIFICATION:
            if s.owner_digest == "daily":
                return None  # the day's digest tells the owner (OWNER_DIGEST=daily)
            return emails.owner_notification(
                reg, sender=s.sender_email, owner=s.owner_email, renderer=self.renderer
            )
        if message.kind is MessageKind.ERASURE_NOTICE:
            return emails.erasure_notice(
                reg,
                erased_at=self.clock(),
                sender=s.sender_email,
                owner=s.owner_email,
                renderer=self.renderer,
            )
        confirmed_id = self.store.confirmed_registration_id(reg.addr_key)
        if confirmed_id == reg.id:
            return None  # confirmed already (a retried stream record): the link is not needed
        if confirmed_id is not None:
            return emails.already_registered(
                reg,
                sender=s.sender_email,
                site=s.site_name,
                lang=reg.language,
                renderer=self.renderer,
                # bound to the confirmed registration: it outlives this pending one
                erase_link=self.erase_link(confirmed_id, reg.addr_key, reg.language),
            )
        if reg.ttl is None or reg.expired(self.clock()):
            log.warning(
                "verification message not sent: registration expired before delivery",
                extra={"registration_id": reg.id},
            )
            return None
        return emails.verification(
            reg,
            link=self.confirm_link(reg),
            expires_at=datetime.fromtimestamp(reg.ttl, tz=reg.timestamp.tzinfo),
            hours=s.token_ttl_hours,
            sender=s.sender_email,
            site=s.site_name,
            lang=reg.language,
            renderer=self.renderer,
            erase_link=self.erase_link(reg.id, reg.addr_key, reg.language),
            code=self.confirm_code(reg) if s.confirm_code else None,
        )

    def _digest(self, message: Message) -> Email:
        """The owner's digest of one UTC day: the confirmations in its window, read from the
        store through its index of confirmations (`ExportQueries.registrations_since`,
        oldest first, read only up to the window's end; on DynamoDB the ConfirmedRegistrations
        index, one Query per shard, never a Scan of the table)."""
        from itertools import takewhile

        from regflow import emails
        from regflow.domain import Status
        from regflow.domain.digest import window_of
        from regflow.ports import ExportQueries

        since, until = window_of(message)
        queries: ExportQueries = self.store  # type: ignore[assignment]
        in_order = queries.registrations_since(Status.CONFIRMED, since)
        confirmed = [
            r
            for r in takewhile(lambda r: r.confirmed_at is None or r.confirmed_at < until, in_order)
            if r.confirmed_at is not None and since <= r.confirmed_at
        ]
        confirmed.sort(key=lambda r: (r.confirmed_at or r.timestamp, r.id))
        s = self.settings
        return emails.owner_digest(
            since.date().isoformat(),
            confirmed,
            sender=s.sender_email,
            owner=s.owner_email,
            renderer=self.renderer,
        )

    def confirm_code(self, registration: Registration) -> str:
        """The 6-digit code beside the link (CONFIRM_CODE; `tokens.confirmation_code`)."""
        from regflow.tokens import confirmation_code

        return confirmation_code(self.signer, registration.id, registration.addr_key)

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
        self.metrics.emit({RESULT_METRICS[result.value]: 1.0}, kind=message.kind.value)

    def _deliver_fresh(
        self,
        message: Message,
        *,
        sleep: Callable[[float], None],
        time_left: Callable[[], float] | None,
    ) -> Result:
        attempts = 1
        while True:
            try:
                return Result.SENT if self.send(message) else Result.NOT_NEEDED
            except DeliveryError as exc:
                verdict = self.policy.decide(message.kind, exc.failure, attempts)
                action = verdict.action
                if action is Action.RETRY and (
                    time_left is not None and time_left() < verdict.delay + RETRY_MARGIN_SECONDS
                ):
                    action = Action.PARK  # no time to wait in this invocation: the outbox waits
                self._log_failure(message, exc, attempts, action)
                error = exc.code or exc.failure.value
                if action is Action.RETRY:
                    self.metrics.emit({"MessagesRetried": 1.0}, kind=message.kind.value)
                    sleep(verdict.delay)
                    attempts += 1
                    continue
                if action is Action.DROP:
                    self._outbox().drop(message, error=error)
                    self.refused(message, exc)
                    return Result.DROPPED
                now = self._now()
                self._outbox().park(
                    message,
                    attempts=attempts,
                    error=error,
                    at=now + verdict.delay,
                    now=now,
                )
                return Result.PARKED

    def deliver_claimed(self, claimed: ClaimedMessage) -> Result:
        """A message an outbox handed out: deliver it and settle it there by the policy."""
        result = self._deliver_claimed(claimed)
        self._count(claimed.message, result)
        return result

    def _deliver_claimed(self, claimed: ClaimedMessage) -> Result:
        outbox = self._outbox()
        message = claimed.message
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
            error = exc.code or exc.failure.value
            if verdict.action is Action.DROP:
                outbox.drop(message, error=error, claimed=claimed)
                self.refused(message, exc)
                return Result.DROPPED
            if verdict.action is Action.RETRY:
                outbox.fail(claimed, at=now + verdict.delay, error=error)
                return Result.RETRY
            outbox.park(
                message,
                attempts=claimed.attempts,
                error=error,
                at=now + verdict.delay if verdict.automatic else None,
                now=now,
                claimed=claimed,
            )
            return Result.PARKED
        outbox.complete(claimed)
        return Result.SENT if sent else Result.NOT_NEEDED

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
