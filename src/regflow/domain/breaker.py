"""The mail breaker: a guard above every refusal classifier (`adapters.refusals`, the MX
check). One mistake of the operator's (a relay refusing this host with a bare `550`, a resolver
that answers NXDOMAIN for everything) must not read as every visitor's address refusing mail.

When at least `BREAKER_REFUSALS` refusals classified as the recipient's hit at least
`BREAKER_DOMAINS` different domains within `BREAKER_WINDOW_SECONDS`, with no successful send in
that window, they are the account's problem: the breaker opens. The refusal that opened it
parks instead of suppressing; the window's earlier refusals are undone (their inboxes lifted
from the suppression list, their registrations PENDING again, their mail owed again); while
open, every refusal parks, and one message at a time is tried (`probe`, at most one every
`BREAKER_PROBE_SECONDS`), the others park until then. The next successful send closes it.

Pure: the state is a value; where it lives is the runtime's (`ports.BreakerStore`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

BREAKER_REFUSALS = 5
BREAKER_DOMAINS = 3
BREAKER_WINDOW_SECONDS = 600.0
BREAKER_PROBE_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class Refusal:
    """A refusal of a registrant's address, classified as the recipient's and acted on (the
    inbox suppressed, the registration BOUNCED): what undoing it needs."""

    at: float  # epoch seconds
    domain: str
    key: str  # the suppressed inbox (`mailbox_key`)
    registration_id: str


@dataclass(frozen=True, slots=True)
class Breaker:
    refusals: tuple[Refusal, ...] = ()  # since the last successful send, inside the window
    opened_at: float | None = None
    probe_at: float = 0.0  # while open: when the next message may be tried

    @property
    def open(self) -> bool:
        return self.opened_at is not None

    def sent(self) -> Breaker:
        """A successful send: the account works; the breaker closes, the window restarts."""
        return CLOSED

    def refused(self, refusal: Refusal) -> tuple[Breaker, tuple[Refusal, ...] | None]:
        """A refusal classified as the recipient's. Returns the new state, and None while the
        refusal stands (suppress as usual), or the earlier refusals to undo when this one
        opens the breaker (park this one). While open, every refusal parks: `()`."""
        if self.open:
            return self, ()
        now = refusal.at
        window = tuple(r for r in self.refusals if now - r.at < BREAKER_WINDOW_SECONDS)
        window += (refusal,)
        domains = {r.domain for r in window}
        if len(window) >= BREAKER_REFUSALS and len(domains) >= BREAKER_DOMAINS:
            opened = Breaker(refusals=(), opened_at=now, probe_at=now + BREAKER_PROBE_SECONDS)
            return opened, window[:-1]
        return replace(self, refusals=window), None

    def probe(self, now: float) -> tuple[Breaker, bool]:
        """May a message be tried now? Closed: always. Open: one every
        `BREAKER_PROBE_SECONDS` (the state records the try)."""
        if not self.open:
            return self, True
        if now < self.probe_at:
            return self, False
        return replace(self, probe_at=now + BREAKER_PROBE_SECONDS), True


CLOSED = Breaker()
