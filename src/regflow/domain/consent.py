"""Proof of consent: what a registration records of the sign-up and of the confirmation
(CONSENT_IP, CONSENT_TEXT_VERSION). The times are the registration's own: `timestamp` (the
sign-up) and `confirmed_at` (the confirmation)."""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from enum import StrEnum

USER_AGENT_MAX_CHARS = 200  # a user agent is kept to its first 200 characters


class ConsentIp(StrEnum):
    FULL = "full"  # the client address as the limits see it
    TRUNCATED = "truncated"  # its network: IPv4 /24, IPv6 /48 (the default)
    NONE = "none"  # no address kept


@dataclass(frozen=True, slots=True)
class Consent:
    """One act of consent: from where (`ip`, as `CONSENT_IP` keeps it), with which browser
    (`user_agent`, truncated), and which version of the consent text was in force."""

    ip: str | None = None
    user_agent: str | None = None
    text_version: str | None = None

    def to_json(self) -> str:
        return json.dumps(
            {"ip": self.ip, "user_agent": self.user_agent, "text_version": self.text_version},
            ensure_ascii=False,
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str | None) -> Consent | None:
        if not text:
            return None
        data = json.loads(text)
        return cls(data.get("ip"), data.get("user_agent"), data.get("text_version"))


def consent_address(ip: str | None, mode: ConsentIp) -> str | None:
    """`ip` as `mode` keeps it: whole, its /24 (IPv4) or /48 (IPv6) network in CIDR
    notation, or nothing. An IPv4-mapped IPv6 address counts as IPv4."""
    if ip is None or mode is ConsentIp.NONE:
        return None
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if mode is ConsentIp.FULL:
        return str(address)
    prefix = 24 if isinstance(address, ipaddress.IPv4Address) else 48
    return str(ipaddress.ip_network((address, prefix), strict=False))


def consent_of(
    ip: str | None, user_agent: str | None, *, mode: ConsentIp, text_version: str
) -> Consent:
    agent = (user_agent or "").strip()[:USER_AGENT_MAX_CHARS] or None
    return Consent(consent_address(ip, mode), agent, text_version or None)
