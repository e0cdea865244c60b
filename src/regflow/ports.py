"""The ports the domain talks through. Adapters live in `regflow.adapters`."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from regflow.domain import (
    ClaimedMessage,
    Consent,
    CreateResult,
    Email,
    Event,
    Limit,
    Message,
    Outcome,
    ParkedMessage,
    Registration,
    SpentChallenge,
    Status,
    Suppression,
)
from regflow.domain.breaker import Breaker

Clock = Callable[[], datetime]
"""Returns the current time, timezone-aware UTC."""

IdFactory = Callable[[], str]
"""Returns a fresh registration id (at least 128 random bits, URL-safe)."""


class RegistrationStore(Protocol):
    """Durable state: registrations, the one-confirmed-per-address lock, limit counters, and
    the messages each state change owes (written in the same atomic step; delivered through
    the `Outbox`).

    Every adapter passes `tests/contract/test_store_contract.py`.
    """

    def create_pending(
        self,
        registration: Registration,
        *,
        address_limit: Limit,
        client_key: str | None,
        client_limit: Limit,
        challenge: SpentChallenge | None = None,
    ) -> CreateResult:
        """Atomically: check both limits, count the event in both, store `registration`
        (PENDING) and owe its verification message. All or nothing.

        The address limit (keyed by `registration.addr_key`) is exact over any rolling
        window: the event is allowed when the address's last counted event is at least
        `min_interval_seconds` old and fewer than `max_count` of its counted events lie in
        `(now - window_seconds, now]` (a sliding log, `domain.SendLog`). The client limit
        (keyed by `client_key`, skipped when None) is a fixed window (`domain.LimitState`):
        at most `max_count` events from the window's first event until `window_seconds`
        later, then a fresh window. The client limit counts every post it allows, a post the
        address limit refuses included (or counting posts would tell a limited address).

        Raises `ClientRateLimited` when the client limit says no (nothing written); returns
        `ADDRESS_LIMITED` when the address limit says no (only the client counted). The limits are
        judged at `registration.timestamp`. Raises `StoreUnavailable` when the store throttles
        or is down (nothing written).

        `challenge` (CHALLENGE=pow): the solution this post used, spent in the same atomic
        step whenever the post is counted (created or address-limited); one already spent
        raises `ValidationError` on the `challenge` field first, nothing written."""
        ...

    def confirm(
        self,
        registration_id: str,
        addr_key: str,
        now: datetime,
        *,
        consent: Consent | None = None,
    ) -> Outcome:
        """In one atomic conditional step (`consent`, when given, recorded as the
        registration's `confirm_consent` with the change): a PENDING registration with this
        id and address whose ttl is after `now`, for an address with no confirmed
        registration yet, becomes CONFIRMED (ttl removed, confirmed_at = now), the address
        is locked to it, and the owner notification is owed. Otherwise nothing changes and
        the outcome says why: INVALID (unknown id or address mismatch), EXPIRED,
        ALREADY_CONFIRMED (this one, or another registration of the same address)."""
        ...

    def confirm_code(
        self,
        registration_id: str,
        addr_key: str,
        now: datetime,
        *,
        matched: bool,
        max_tries: int,
        consent: Consent | None = None,
    ) -> Outcome:
        """A code was entered for this registration (CONFIRM_CODE); `matched`: it was the
        right one. In one atomic conditional step:

        - matched, and the registration has had fewer than `max_tries` wrong codes: exactly
          `confirm` (CONFIRMED, or EXPIRED / ALREADY_CONFIRMED / INVALID as there);
        - not matched: a PENDING, unexpired registration with this id and address, with fewer
          than `max_tries` wrong codes, counts one more; the outcome is INVALID;
        - a registration with `max_tries` wrong codes already: nothing changes, INVALID (its
          code is dead; its link still works).
        A not-matched code on a confirmed, expired or unknown registration changes nothing."""
        ...

    def get(self, registration_id: str) -> Registration | None: ...

    def confirmed_registration_id(self, addr_key: str) -> str | None:
        """The id of the address's CONFIRMED registration, if it has one."""
        ...


class Outbox(Protocol):
    """The messages owed, as a sender sees them.

    Embedded (SQLite, memory) every owed message is an outbox row written with its state
    change, and a worker claims and delivers them. On AWS the table's stream hands each new
    message to the mail sender once; the table keeps the messages that must wait (`park`), and
    those are what `claim_due` hands out there. The delivery policy
    (`regflow.domain.policy`) decides between `fail` (retry), `park` and `drop`.
    Every adapter passes `tests/contract/test_outbox_contract.py`."""

    def claim_due(self, now: float, limit: int) -> list[ClaimedMessage]:
        """Up to `limit` messages due at `now` (epoch seconds), oldest first, each claimed by
        this caller: not handed out again until `complete`, `fail`, `park` or `drop` settles
        it, or until its claim lease runs out (a sender that died). A message whose
        registration is gone (erased, purged) is settled silently, not returned."""
        ...

    def complete(self, claimed: ClaimedMessage) -> None:
        """Delivered (or no longer owed): forget it."""
        ...

    def fail(self, claimed: ClaimedMessage, *, at: float, error: str) -> None:
        """Not delivered; due again at `at`. `error` is an error code, never message text."""
        ...

    def park(
        self,
        message: Message,
        *,
        attempts: int,
        error: str,
        at: float | None,
        now: float,
        claimed: ClaimedMessage | None = None,
    ) -> None:
        """Keep `message` whole as parked: retried automatically at `at` (None: only when an
        operator asks). `claimed` settles the claim it came from, if any. Parking the same
        message again updates it (one parked copy per `Message.key`)."""
        ...

    def drop(self, message: Message, *, error: str, claimed: ClaimedMessage | None = None) -> None:
        """Give the message up for good and record `error` on its registration
        (`Registration.delivery_failure`)."""
        ...

    def parked(self) -> list[ParkedMessage]:
        """Every parked message, oldest first."""
        ...

    def requeue_parked(self, now: float) -> int:
        """Make every parked message due at `now` (the operator fixed the cause); how many."""
        ...


@dataclass(frozen=True, slots=True)
class Stats:
    """What `regflow stats` shows."""

    pending: int
    confirmed: int
    outbox_due: int  # owed messages not delivered yet (parked ones not included)
    outbox_parked: int


class OperatorQueries(Protocol):
    """What the site owner asks of the store (`regflow list|export|stats|delete`).
    Every adapter passes `tests/contract/test_operator_contract.py`."""

    def registrations(self, *, status: Status | None = None) -> Iterator[Registration]:
        """Every registration (optionally of one status), oldest first, streamed."""
        ...

    def stats(self) -> Stats: ...

    def delete_address(self, addr_key: str, limit_key: str | None = None) -> int:
        """Erase every record of an address: its registrations, its confirmed lock, the
        messages still owed to or about it (parked ones too) and, given its `mailbox_key`, its
        per-inbox send log. Returns how many registrations were deleted."""
        ...


class ErasureStore(Protocol):
    """Self-service erasure (docs/erasure.md). SQLite, memory and DynamoDB implement it."""

    def erase(self, registration_id: str, addr_key: str, now: datetime) -> Registration | None:
        """In one atomic step, when a registration with this id and address exists: erase
        every record of the address exactly as `OperatorQueries.delete_address(addr_key)`
        does (its registrations, its confirmed lock, the messages owed to or about it), and
        owe the owner's `ERASURE_NOTICE` and one `REGISTRATION_ERASED` event per event target,
        each carrying the registration as it was (`MessageKind.outlives_registration`).
        The per-inbox send log stays until it expires: it is keyed by a hash, names no
        address in clear, and keeps the mail limits honest across an erase and re-register.
        Returns the erased registration; None when there was nothing to erase."""
        ...


class MailChannel(Protocol):
    """Hands one rendered email to a mail service (SES, SMTP, the local mailbox). Raises
    `DeliveryError` with a `FailureClass`."""

    def send(self, email: Email) -> None: ...


class EventChannel(Protocol):
    """Publishes one event to one target (a webhook, an EventBridge bus). Raises
    `DeliveryError` with a `FailureClass`; returns False when the event's target is not
    configured any more (the owner removed the webhook: the message is no longer owed)."""

    @property
    def targets(self) -> tuple[str, ...]:
        """The targets this channel serves (`regflow.domain.events`)."""
        ...

    def publish(self, event: Event) -> bool: ...


class WorkerOutbox(Outbox, Protocol):
    """What the embedded worker needs beyond `Outbox` from a store it runs next to (SQLite,
    memory: `HOLDS_FRESH`, every owed message is an outbox row)."""

    def claim_due(
        self, now: float, limit: int, *, events: bool | None = None
    ) -> list[ClaimedMessage]:
        """`Outbox.claim_due`, of one sort only when `events` is given: True only events
        (webhooks), False only mail. The worker delivers each sort in its own thread, so no
        webhook receiver can hold a verification mail back."""
        ...

    def recover_claims(self, now: float) -> int:
        """Start-up, before any sender runs: release the claims of a process that died and
        make every message that is not parked due at `now` (the restart may have fixed what
        failed). A released message may have gone out before the crash: it is sent again
        (at-least-once). Returns how many claims were released."""
        ...

    def next_due_at(self) -> float | None:
        """Epoch seconds of the earliest automatic attempt of an unclaimed message (parked
        ones with a `next_attempt_at` included); None when nothing is due automatically."""
        ...

    def purge_expired(self, now: datetime, *, grace_seconds: int = 0) -> int:
        """Delete PENDING registrations whose ttl passed more than `grace_seconds` ago (with
        the messages they owe, parked ones too) and limit state that no longer limits
        anything. Returns how many registrations were deleted."""
        ...


class ExportQueries(Protocol):
    """What `regflow export` and `regflow resend` ask of a store beyond `OperatorQueries`
    (issue 12): the registrations of one status since a moment, read through an index, and
    the registrations of one address."""

    def registrations_since(
        self, status: Status, since: datetime | None = None
    ) -> Iterator[Registration]:
        """The registrations of `status` whose time is at or after `since` (inclusive; None:
        all), streamed. The time is `confirmed_at` for CONFIRMED ones and `timestamp` (the
        registration) for PENDING ones. SQL stores and DynamoDB's CONFIRMED ones come oldest
        first by that time (ties by id); DynamoDB's PENDING ones come a Scan page at a time,
        each page oldest first."""
        ...

    def registrations_of(self, addr_key: str) -> list[Registration]:
        """Every registration of an address (a handful at most: the per-address limit),
        oldest first."""
        ...


class SuppressionList(Protocol):
    """The inboxes that get no mail (`regflow.domain.suppression`), the soft-bounce counts,
    and the marking of a registration whose mail bounced or was reported as spam. Keyed by
    `mailbox_key`. Every adapter passes `tests/contract/test_suppression_contract.py`."""

    def suppression(self, key: str) -> Suppression | None:
        """The entry of the inbox `key`, if it is suppressed."""
        ...

    def suppress(self, entry: Suppression) -> bool:
        """Put the inbox on the list; an entry already there is kept as it is (its first
        reason and time). True when the inbox was not suppressed before."""
        ...

    def lift(self, key: str) -> bool:
        """Take the inbox off the list (and forget its soft bounces). True when it was on."""
        ...

    def suppressions(self) -> list[Suppression]:
        """Every entry, oldest first."""
        ...

    def count_soft_bounce(self, key: str, at: int, window_seconds: int) -> int:
        """Record one soft bounce of the inbox at `at` (epoch seconds); how many lie in
        `(at - window_seconds, at]`, this one included."""
        ...

    def mark_undeliverable(self, registration_id: str, status: Status, diagnostic: str) -> bool:
        """A PENDING registration becomes `status` (BOUNCED or COMPLAINED, never
        confirmable), with `diagnostic` as its `delivery_failure`. True when it changed;
        any other registration (confirmed, already marked, gone) is left alone."""
        ...

    def restore(self, key: str, registration_ids: Sequence[str], now: datetime) -> list[str]:
        """Undo a suppression, in one atomic step: the inbox `key` comes off the list (as
        `lift`), and each of `registration_ids` that is BOUNCED becomes PENDING again (its
        `delivery_failure` cleared) and, when its ttl is after `now`, owes its verification
        message again, due at once (SQL and memory: an outbox row; DynamoDB: a parked
        message due now, for the recovery). Registrations of any other status, or gone,
        are left alone. Returns the ids whose mail is owed again."""
        ...


class BreakerStore(Protocol):
    """Where the mail breaker's state lives (`regflow.domain.breaker`): the process embedded
    (`adapters.breaker.ProcessBreaker`: one outbox worker per process), the table on AWS
    (Lambda instances come and go)."""

    def load(self) -> Breaker: ...

    def save(self, breaker: Breaker) -> None: ...


class MailDomains(Protocol):
    """Whether a domain can receive mail (`regflow.mail_domains`: MX, else A/AAAA; a null
    MX cannot). None: could not tell now (a DNS time-out): the caller retries later."""

    def receives_mail(self, domain: str) -> bool | None: ...
