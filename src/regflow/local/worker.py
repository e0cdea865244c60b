"""The outbox worker of the embedded server: a thread that delivers the mail each state change
owes (rows written in the same SQLite transaction as the change), with retry and exponential
backoff, and purges expired rows now and then."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable

from regflow.adapters.sqlite import OutboxRow, SQLiteStore
from regflow.domain import MailDeliveryError, StoreUnavailable
from regflow.service import RegistrationService

log = logging.getLogger("regflow.worker")


# Expired links keep answering `expired` (not `invalid`) for a week before their rows go.
PURGE_GRACE_SECONDS = 7 * 24 * 3600


class OutboxWorker:
    def __init__(
        self,
        store: SQLiteStore,
        service: RegistrationService,
        *,
        base_delay: float = 2.0,
        max_delay: float = 600.0,
        poll_interval: float = 0.5,
        purge_interval: float = 300.0,
        batch: int = 20,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.service = service
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.poll_interval = poll_interval
        self.purge_interval = purge_interval
        self.batch = batch
        self._now = now
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._next_purge = 0.0
        self.sent = 0

    # --- control ---------------------------------------------------------------------

    def start(self) -> None:
        released = self.store.recover_claims(self._now())
        if released:
            log.warning(
                "outbox rows claimed by a previous run are sent again",
                extra={"rows": released},
            )
        self._thread = threading.Thread(target=self._run, name="regflow-outbox", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Something may have been written to the outbox: look now instead of at the poll."""
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    # --- work --------------------------------------------------------------------------

    def backoff(self, attempts: int) -> float:
        """Seconds before attempt `attempts + 1`: exponential, capped, with jitter."""
        delay = min(self.max_delay, self.base_delay * float(2 ** max(0, attempts - 1)))
        return delay * random.uniform(0.8, 1.2)

    def run_once(self) -> int:
        """Deliver every due row (batch by batch). Returns rows handled."""
        handled = 0
        while not self._stop.is_set():
            rows = self.store.claim_due(self._now(), self.batch)
            if not rows:
                break
            for row in rows:
                self._deliver(row)
                handled += 1
        return handled

    def _deliver(self, row: OutboxRow) -> None:
        try:
            self.service.deliver(row.entry)
        except Exception as exc:
            # A transient failure (mail server down, throttling, a bug fixed by a restart) is
            # retried for as long as it takes, backing off to one try every `max_delay`
            # seconds: owed mail, the owner notification above all, is never dropped for an
            # outage. Only a message the mail server refuses for good is parked as dead.
            give_up = isinstance(exc, MailDeliveryError) and not exc.transient
            at = self._now() + self.backoff(row.attempts)
            self.store.retry_later(row.row_id, at=at, error=type(exc).__name__, give_up=give_up)
            log.warning(
                "mail not delivered; %s",
                "given up (see `regflow stats`)" if give_up else "will retry",
                extra={
                    "kind": row.entry.kind.value,
                    "registration_id": row.entry.registration.id,
                    "attempts": row.attempts,
                    "error": type(exc).__name__,
                    "cause": type(exc.__cause__).__name__ if exc.__cause__ else None,
                },
            )
            return
        self.store.delivered(row.row_id)
        self.sent += 1

    def _purge(self) -> None:
        now = self._now()
        if now < self._next_purge:
            return
        self._next_purge = now + self.purge_interval
        deleted = self.store.purge_expired(self.service.clock(), grace_seconds=PURGE_GRACE_SECONDS)
        if deleted:
            log.info("purged expired registrations", extra={"deleted": deleted})

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                self._purge()
                self.run_once()
                due = self.store.next_due_at()
            except StoreUnavailable:
                log.warning("store busy; the outbox worker retries shortly")
                due = None
            except Exception:
                log.exception("outbox worker error")
                due = None
            wait = self.poll_interval
            if due is not None:
                wait = max(0.0, min(wait, due - self._now()))
            self._wake.wait(wait)
