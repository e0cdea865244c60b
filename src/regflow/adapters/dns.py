"""`mail_domains.DnsResolver` over dnspython (a dependency of email-validator already, so no
new package in the bundle). Imported lazily, on the first lookup: `dns.resolver` costs about
0.15-0.2 s of import time, paid once per mail-sender process and never by the request
handlers.

A short lifetime per query (default 2 s, all nameservers and retries included): the check
must never hold up the mail sender for long; a time-out is "unknown" and the message is
retried under the delivery policy.
"""

from __future__ import annotations

from typing import Any

from regflow.mail_domains import DnsUnavailable


class DnsPythonResolver:
    def __init__(self, *, lifetime: float = 2.0) -> None:
        self.lifetime = lifetime
        self._resolver: Any = None

    def _get(self) -> Any:
        if self._resolver is None:
            import dns.resolver

            resolver = dns.resolver.Resolver()
            resolver.lifetime = self.lifetime
            resolver.timeout = self.lifetime
            resolver.cache = dns.resolver.LRUCache(256)
            self._resolver = resolver
        return self._resolver

    def lookup(self, name: str, rdtype: str) -> list[str] | None:
        import dns.exception
        import dns.resolver

        resolver = self._get()
        try:
            answer = resolver.resolve(name + ".", rdtype, raise_on_no_answer=False)
        except dns.resolver.NXDOMAIN:
            return None
        except (dns.exception.Timeout, dns.resolver.NoNameservers) as exc:
            raise DnsUnavailable(type(exc).__name__) from exc
        except dns.exception.DNSException as exc:  # YXDOMAIN, a malformed name, ...
            raise DnsUnavailable(type(exc).__name__) from exc
        if answer.rrset is None:
            return []
        return [record.to_text() for record in answer.rrset]
