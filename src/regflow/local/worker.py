"""The outbox worker of the embedded server: threads that deliver the messages each state
change owes (written in the same transaction as the change) under the delivery policy
(`regflow.domain.policy`: retry, park, drop), and purge expired rows now and then.

Mail and events go apart: one thread claims and sends only mail (and purges, and owes the
digest), another claims and publishes only events (webhooks), in small batches. A webhook
receiver that answers slowly (each POST has a wall-clock deadline: `regflow.adapters.webhook`)
delays other events, never a verification mail.

It sees the store through the ports only (`WorkerOutbox`)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from regflow.delivery import DeliveryService, Result
from regflow.domain import StoreUnavailable
from regflow.ports import WorkerOutbox

log = logging.getLogger("regflow.worker")


# Expired links keep answering `expired` (not `invalid`) for a week before their rows go.
PURGE_GRACE_SECONDS = 7 * 24 * 3600
# Events claimed at a time: a claim is a 600 s lease, and each POST may take its deadline (10 s).
EVENT_BATCH = 5


class OutboxWorker:
    def __init__(
        self,
        outbox: WorkerOutbox,
        delivery: DeliveryService,
        *,
        poll_interval: float = 0.5,
        purge_interval: float = 300.0,
        batch: int = 20,
        now: Callable[[], float] = time.time,
        digest: bool = False,
    ) -> None:
        self.outbox = outbox
        self.delivery = delivery
        self.poll_interval = poll_interval
        self.purge_interval = purge_interval
        self.batch = batch
        self._now = now
        self._wake = threading.Event()
        self._wake_events = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._next_purge = 0.0
        self._sent_lock = threading.Lock()
        self.sent = 0
        self.digest = digest  # OWNER_DIGEST=daily: owe yesterday's digest once a day
        self._digest_day = ""

    # --- control ---------------------------------------------------------------------

    def start(self) -> None:
        released = self.outbox.recover_claims(self._now())
        if released:
            log.warning(
                "outbox rows claimed by a previous run are sent again",
                extra={"rows": released},
            )
        self._threads = [
            threading.Thread(target=self._run, name="regflow-outbox", daemon=True),
            threading.Thread(target=self._run_events, name="regflow-events", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def wake(self) -> None:
        """Something may have been written to the outbox: look now instead of at the poll."""
        self._wake.set()
        self._wake_events.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        self._wake_events.set()
        for thread in self._threads:
            thread.join(timeout)

    # --- work --------------------------------------------------------------------------

    def run_once(self, *, events: bool | None = None) -> int:
        """Deliver every due message (batch by batch): only events, only mail (`events`
        True, False) or both. Returns messages handled."""
        handled = 0
        batch = EVENT_BATCH if events else self.batch
        while not self._stop.is_set():
            claims = self.outbox.claim_due(self._now(), batch, events=events)
            if not claims:
                break
            for claimed in claims:
                if self.delivery.deliver_claimed(claimed) is Result.SENT:
                    with self._sent_lock:
                        self.sent += 1
                handled += 1
        return handled

    def owe_digest(self) -> bool:
        """OWNER_DIGEST=daily: owe the digest of the previous UTC day, once (the store
        remembers the days, so a restart owes no second one); the worker then delivers it
        like any owed message. True when it was owed now."""
        from regflow.domain.digest import digest_day, digest_message

        day = digest_day(self.delivery.clock())
        if not self.digest or day == self._digest_day:
            return False
        owe = getattr(self.outbox, "owe_digest", None)
        if owe is None:
            raise RuntimeError("this store cannot owe the owner digest (OWNER_DIGEST=daily)")
        owed = bool(owe(digest_message(day)))
        self._digest_day = day
        if owed:
            log.info("owner digest owed", extra={"day": day})
        return owed

    def _purge(self) -> None:
        now = self._now()
        if now < self._next_purge:
            return
        self._next_purge = now + self.purge_interval
        deleted = self.outbox.purge_expired(
            self.delivery.clock(), grace_seconds=PURGE_GRACE_SECONDS
        )
        if deleted:
            log.info("purged expired registrations", extra={"deleted": deleted})

    def _run(self) -> None:
        """The mail thread: mail, the purge and the digest."""

        def work() -> None:
            self._purge()
            self.owe_digest()
            self.run_once(events=False)

        self._loop(work, self._wake)

    def _run_events(self) -> None:
        """The events thread: webhooks (and any other event channel)."""
        self._loop(lambda: self.run_once(events=True), self._wake_events)

    def _loop(self, work: Callable[[], object], wake: threading.Event) -> None:
        while not self._stop.is_set():
            wake.clear()
            try:
                work()
                due = self.outbox.next_due_at()
            except StoreUnavailable:
                log.warning("store busy; the outbox worker retries shortly")
                due = None
            except Exception:
                log.exception("outbox worker error")
                due = None
            wait = self.poll_interval
            if due is not None:
                wait = max(0.0, min(wait, due - self._now()))
            wake.wait(wait)
