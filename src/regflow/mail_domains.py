"""Can a domain receive mail? The check the mail sender makes before a verification mail
(`DeliveryService`), so that a mistyped domain (`gmial.con`) costs no send and no bounce.

The rule (RFC 5321 section 5.1, RFC 7505): the domain's MX records name where its mail goes;
a single MX with an empty exchange (".", the "null MX") says the domain accepts no mail; with
no MX at all, mail goes to the domain's own address (A or AAAA). No MX, no A, no AAAA, or a
domain that does not exist: it cannot receive mail.

DNS is a port (`DnsResolver`; `regflow.adapters.dns` over dnspython, a fake in the tests).
A lookup that cannot be answered (a time-out, SERVFAIL) is "unknown" (None), never "no": the
mail sender then parks the message (retried from the outbox, never in process) instead of
dropping it. Answers are cached (a small LRU, a few minutes) so that a burst of sign-ups at
one provider costs one lookup. An unknown answer is cached too, for the whole registrable
domain (`registrable_domain`: `a1.evil.example` and `a2.evil.example` are `evil.example`) and
for `UNKNOWN_TTL_SECONDS`: posts to many subdomains of a domain whose DNS times out cost one
time-out, not one each, and cannot hold the mail sender for everyone.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol


class DnsUnavailable(Exception):
    """The resolver could not answer (time-out, SERVFAIL, no nameserver reachable)."""


class DnsResolver(Protocol):
    def lookup(self, name: str, rdtype: str) -> list[str] | None:
        """The records of `rdtype` ("MX", "A", "AAAA") at `name` as text (MX as
        "<preference> <exchange>", the exchange with its trailing dot); [] when the name exists
        without such records; None when the name does not exist (NXDOMAIN). Raises
        `DnsUnavailable` when there is no answer."""
        ...


UNKNOWN_TTL_SECONDS = 180.0
# Second-level labels under which a country's registries hand out names (`example.co.uk`):
# without the public suffix list, these make `registrable_domain` keep three labels.
_SHARED_SECOND_LEVEL = frozenset(
    {"co", "com", "net", "org", "gov", "edu", "ac", "or", "ne", "go", "gob", "mil", "nom", "ltd"}
)


def registrable_domain(name: str) -> str:
    """The part of `name` one owner registers, roughly (no public suffix list): the last two
    labels, or three when the second-to-last is a shared second level under a country code
    (`mail.example.co.uk` -> `example.co.uk`)."""
    labels = name.strip().lower().rstrip(".").split(".")
    keep = 2
    if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in _SHARED_SECOND_LEVEL:
        keep = 3
    return ".".join(labels[-keep:])


def _is_null_mx(records: list[str]) -> bool:
    if len(records) != 1:
        return False
    parts = records[0].split()
    return len(parts) == 2 and parts[1] in (".", "")


class MailDomainCheck:
    """`receives_mail(domain)`: True, False, or None (unknown: retry later)."""

    def __init__(
        self,
        resolver: DnsResolver,
        *,
        cache_size: int = 512,
        ttl_seconds: float = 600.0,
        unknown_ttl_seconds: float = UNKNOWN_TTL_SECONDS,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self._resolver = resolver
        self._cache: OrderedDict[str, tuple[bool | None, float]] = OrderedDict()
        self._unknown_ttl = unknown_ttl_seconds
        self._size = cache_size
        self._ttl = ttl_seconds
        self._now = now
        self._lock = threading.Lock()

    def receives_mail(self, domain: str) -> bool | None:
        name = domain.strip().lower().rstrip(".")
        if not name:
            return False
        now = self._now()
        # an unknown answer is kept under the registrable domain ("?" + it), a known one
        # under the name itself
        unknown_key = "?" + registrable_domain(name)
        with self._lock:
            for key in (name, unknown_key):
                hit = self._cache.get(key)
                if hit is not None and hit[1] > now:
                    self._cache.move_to_end(key)
                    return hit[0]
        try:
            answer: bool | None = self._judge(name)
        except DnsUnavailable:
            answer = None
        key, ttl = (name, self._ttl) if answer is not None else (unknown_key, self._unknown_ttl)
        with self._lock:
            self._cache[key] = (answer, now + ttl)
            self._cache.move_to_end(key)
            while len(self._cache) > self._size:
                self._cache.popitem(last=False)
        return answer

    def _judge(self, name: str) -> bool:
        mx = self._resolver.lookup(name, "MX")
        if mx is None:
            return False  # NXDOMAIN
        if mx:
            return not _is_null_mx(mx)
        return any(self._resolver.lookup(name, rdtype) for rdtype in ("A", "AAAA"))
