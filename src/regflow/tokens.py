"""Verification tokens: a random registration id and the address key, signed with a secret.

A token is `base64url(id[16] | address key[16] | HMAC-SHA256(secret, ...)[:16])`, 64 characters.
The table stores only the id, so a leaked table (or stream, or log) confirms nothing: making a
token takes the secret, which lives outside the table (Secrets Manager on AWS, a 0600 key file
embedded).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable

_ID_BYTES = 16
_MAC_BYTES = 16
_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{64}")
_CONTEXT = b"regflow/confirm/v1\x00"
MIN_SECRET_BYTES = 32


def new_registration_id() -> str:
    """128 random bits from `secrets`, URL-safe (22 characters)."""
    return _b64(secrets.token_bytes(_ID_BYTES))


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenSigner:
    """Issues and verifies tokens. The secret is fetched on first use only, so code paths
    that never sign or verify (registration) never pay for fetching it."""

    context = _CONTEXT  # what the MAC is for: a token of one purpose never passes for another

    def __init__(self, secret: bytes | Callable[[], bytes]) -> None:
        self._secret_source = secret
        self._secret: bytes | None = None

    def for_erasure(self) -> TokenSigner:
        """The signer of erasure links (docs/erasure.md): the same secret, another purpose, so
        a confirmation token never erases and an erasure token never confirms."""
        signer = ErasureSigner(self._secret_source)
        signer._secret = self._secret
        return signer

    def _key(self) -> bytes:
        if self._secret is None:
            source = self._secret_source
            secret = source if isinstance(source, bytes) else source()
            if len(secret) < MIN_SECRET_BYTES:
                raise ValueError(f"token secret must be at least {MIN_SECRET_BYTES} bytes")
            self._secret = secret
        return self._secret

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._key(), self.context + payload, hashlib.sha256).digest()[:_MAC_BYTES]

    def issue(self, registration_id: str, addr_key: str) -> str:
        payload = _unb64(registration_id) + bytes.fromhex(addr_key)
        if len(payload) != 2 * _ID_BYTES:
            raise ValueError("malformed registration id or address key")
        return _b64(payload + self._mac(payload))

    def verify(self, token: str) -> tuple[str, str] | None:
        """`(registration_id, addr_key)` for a genuine token, else None. Constant-time."""
        if not isinstance(token, str) or not _TOKEN_RE.fullmatch(token):
            return None
        try:
            raw = _unb64(token)
        except (binascii.Error, ValueError):
            return None
        payload, mac = raw[: 2 * _ID_BYTES], raw[2 * _ID_BYTES :]
        if not hmac.compare_digest(mac, self._mac(payload)):
            return None
        return _b64(payload[:_ID_BYTES]), payload[_ID_BYTES:].hex()


class ErasureSigner(TokenSigner):
    """Erasure links: bound to one registration and its address, like confirmation tokens,
    under their own purpose. They do not expire: an erasure link works for as long as there
    is a registration of that id and address to erase (docs/erasure.md)."""

    context = b"regflow/erase/v1\x00"


def generate_secret() -> bytes:
    return secrets.token_bytes(MIN_SECRET_BYTES)
