"""Feedback: what the mail service reports back about sent messages (bounces, complaints,
deliveries, rejects), applied to the suppression list and the registrations. Off the request
path; one rule for both runtimes:

- a hard (permanent) bounce or a complaint suppresses the recipient's exact address
  (`domain.suppression.suppression_key`: `carol+zz@x` bouncing leaves `carol@x` mailed) and
  marks the registration whose message it was BOUNCED or COMPLAINED, with the service's
  diagnostic; it can no longer be confirmed;
- a soft (transient) bounce is counted once per report (`domain.suppression.event_key`: a
  report delivered three times counts once), at the report's own time; the
  `SOFT_BOUNCE_LIMIT`-th inside `SOFT_BOUNCE_WINDOW_SECONDS` suppresses the address like a
  hard bounce;
- a bounce or complaint of the owner's own address (an owner notification) never suppresses
  the owner: it counts `OwnerAddressBounced`, which the stack alarms on, and is logged;
- deliveries and rejects are counted only (the reputation dashboard and alarms).

On AWS the SES events function feeds SES's notifications in (`regflow.aws.ses_events`);
embedded, the outbox worker's SMTP refusals arrive through `DeliveryService` (`refused`).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from datetime import datetime

from regflow.domain import (
    SOFT_BOUNCE_LIMIT,
    SOFT_BOUNCE_WINDOW_SECONDS,
    MailEvent,
    MailEventType,
    MessageKind,
    Status,
    Suppression,
    SuppressionReason,
    mailbox_key,
    mask_email,
    utcnow,
)
from regflow.domain.suppression import event_key, lookup_keys, names, suppression_key
from regflow.metrics import NO_METRICS, Metrics
from regflow.ports import SuppressionList

log = logging.getLogger("regflow.feedback")

# Names of the tags every sent message carries (SES EmailTags; values: [A-Za-z0-9_.-]).
TAG_KIND = "regflow-kind"
TAG_REGISTRATION = "regflow-registration"

EVENT_METRICS = {
    MailEventType.DELIVERY: "MailDelivered",
    MailEventType.COMPLAINT: "MailComplained",
    MailEventType.REJECT: "MailRejected",
}


def suppressed(store: SuppressionList, email: str) -> Suppression | None:
    """The entry that suppresses `email`, if any: the one under its own key, or one an older
    release wrote under its inbox key (`mailbox_key`) for this very address."""
    for key in lookup_keys(email):
        entry = store.suppression(key)
        if entry is not None and names(entry, email):
            return entry
    return None


def suppress_address(store: SuppressionList, entry: Suppression) -> bool:
    """Put `entry.email` on the list under its own key (`entry.key` is ignored); True when it
    was not suppressed yet. A legacy entry of another address of the same inbox holding that
    key (`carol+zz@x` written under `carol@x`'s key) first moves to its own key, so both stay
    suppressed (that address stays suppressed throughout: moved before it is deleted)."""
    if suppressed(store, entry.email) is not None:
        return False
    entry = dataclasses.replace(entry, key=suppression_key(entry.email))
    if store.suppress(entry):
        return True
    held = store.suppression(entry.key)
    if held is None or names(held, entry.email):
        return False
    store.suppress(dataclasses.replace(held, key=suppression_key(held.email)))
    store.lift(entry.key)
    return store.suppress(entry)


def lift_address(store: SuppressionList, email: str) -> bool:
    """Take `email` off the list (its own entry, and a legacy one naming it). True when it
    was on."""
    lifted = False
    for key in lookup_keys(email):
        entry = store.suppression(key)
        if entry is not None and names(entry, email):
            lifted = store.lift(key) or lifted
    return lifted


def suppress_inbox(
    store: SuppressionList,
    *,
    email: str,
    reason: SuppressionReason,
    diagnostic: str,
    at: datetime,
    metrics: Metrics = NO_METRICS,
) -> bool:
    """Put the address `email` on the suppression list (`suppress_address`); True when it
    was not on it yet."""
    added = suppress_address(
        store,
        Suppression(
            key=suppression_key(email), email=email, reason=reason, diagnostic=diagnostic, since=at
        ),
    )
    if added:
        metrics.emit({"AddressesSuppressed": 1.0}, reason=reason.value)
        log.warning(
            "address suppressed",
            extra={"to": mask_email(email), "reason": reason.value},
        )
    return added


class FeedbackService:
    def __init__(
        self,
        *,
        store: SuppressionList,
        owner_email: str,
        metrics: Metrics = NO_METRICS,
        clock: Callable[[], datetime] = utcnow,
        soft_bounce_limit: int = SOFT_BOUNCE_LIMIT,
        soft_bounce_window: int = SOFT_BOUNCE_WINDOW_SECONDS,
    ) -> None:
        self.store = store
        self.owner_key = mailbox_key(owner_email)
        self.metrics = metrics
        self.clock = clock
        self.soft_bounce_limit = soft_bounce_limit
        self.soft_bounce_window = soft_bounce_window

    def _metric(self, event: MailEvent) -> str:
        if event.type is MailEventType.BOUNCE:
            return "MailBounced" if event.permanent else "MailSoftBounced"
        return EVENT_METRICS[event.type]

    def handle(self, event: MailEvent) -> list[Suppression]:
        """Apply one report; the inboxes it newly suppressed."""
        self.metrics.emit({self._metric(event): 1.0}, kind=event.message_kind or "")
        if event.type in (MailEventType.DELIVERY, MailEventType.REJECT):
            return []
        to_owner = event.message_kind == MessageKind.OWNER_NOTIFICATION.value or any(
            mailbox_key(r) == self.owner_key for r in event.recipients
        )
        if to_owner:
            self.metrics.emit({"OwnerAddressBounced": 1.0}, type=event.type.value)
            log.error(
                "the owner's address %s: not suppressed, fix the address (OWNER_EMAIL)",
                "bounced" if event.type is MailEventType.BOUNCE else "complained",
                extra={"permanent": event.permanent, "diagnostic": event.diagnostic[:200]},
            )
            return []
        now = event.at  # the report's own time, not when it is processed
        added: list[Suppression] = []
        status: Status | None = None
        for email in event.recipients:
            reason = self._reason(event, email, now)
            if reason is None:
                continue
            status = Status.COMPLAINED if reason is SuppressionReason.COMPLAINT else Status.BOUNCED
            entry = Suppression(suppression_key(email), email, reason, event.diagnostic, now)
            if suppress_inbox(
                self.store,
                email=email,
                reason=reason,
                diagnostic=event.diagnostic,
                at=now,
                metrics=self.metrics,
            ):
                added.append(entry)
        if status is not None and event.registration_id:
            diagnostic = event.diagnostic or event.type.value
            if self.store.mark_undeliverable(event.registration_id, status, diagnostic):
                log.info(
                    "registration marked %s",
                    status.value,
                    extra={"registration_id": event.registration_id},
                )
        return added

    def _reason(self, event: MailEvent, email: str, now: datetime) -> SuppressionReason | None:
        if event.type is MailEventType.COMPLAINT:
            return SuppressionReason.COMPLAINT
        if event.permanent:
            return SuppressionReason.BOUNCE
        count = self.store.count_soft_bounce(
            suppression_key(email),
            int(now.timestamp()),
            self.soft_bounce_window,
            event_key(event.event_id, email),
        )
        log.info(
            "soft bounce %d of %d", count, self.soft_bounce_limit, extra={"to": mask_email(email)}
        )
        return SuppressionReason.SOFT_BOUNCES if count >= self.soft_bounce_limit else None
