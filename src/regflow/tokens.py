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


# --- the code beside the link and the registration handle (CONFIRM_CODE) -------------------

_CODE_CONTEXT = b"regflow/code/v1\x00"
CODE_DIGITS = 6
_HANDLE_RE = re.compile(r"[A-Za-z0-9_-]{43}")


def confirmation_code(signer: TokenSigner, registration_id: str, addr_key: str) -> str:
    """The registration's one-time code: 6 digits derived from the secret, the registration
    id and the address key (HMAC-SHA256, a separate context from the link's). Nothing of it
    is stored: the store keeps only the count of wrong tries, and the code dies with the
    registration (confirmed, expired, erased) or after the last allowed wrong try."""
    payload = _unb64(registration_id) + bytes.fromhex(addr_key)
    mac = hmac.new(signer._key(), _CODE_CONTEXT + payload, hashlib.sha256).digest()
    # 64 bits reduced mod 10^6: the bias (< 10^-13) is far below anything a guesser can use
    return str(int.from_bytes(mac[:8], "big") % 10**CODE_DIGITS).zfill(CODE_DIGITS)


def code_matches(signer: TokenSigner, registration_id: str, addr_key: str, code: str) -> bool:
    """Constant-time comparison of a submitted code with the registration's."""
    expected = confirmation_code(signer, registration_id, addr_key)
    return hmac.compare_digest(expected.encode(), code.encode("utf-8", "surrogatepass"))


def issue_handle(registration_id: str, addr_key: str) -> str:
    """What the browser that submitted the form keeps (an HttpOnly cookie) to name its
    registration when it sends the code: `base64url(id[16] | address key[16])`, 43
    characters. Not signed and needing no secret (the registration function has none): the
    id is 128 random bits, fresh for every post, written or not, and the handle alone
    confirms nothing (the code, which only the inbox gets, does)."""
    payload = _unb64(registration_id) + bytes.fromhex(addr_key)
    if len(payload) != 2 * _ID_BYTES:
        raise ValueError("malformed registration id or address key")
    return _b64(payload)


def read_handle(handle: object) -> tuple[str, str] | None:
    """`(registration_id, addr_key)` of a well-formed handle, else None."""
    if not isinstance(handle, str) or not _HANDLE_RE.fullmatch(handle):
        return None
    try:
        raw = _unb64(handle)
    except (binascii.Error, ValueError):
        return None
    if len(raw) != 2 * _ID_BYTES:
        return None
    return _b64(raw[:_ID_BYTES]), raw[_ID_BYTES:].hex()


# --- the registration cookie, signed (CONFIRM_MODE=button's same-browser proof) -------------

_COOKIE_CONTEXT = b"regflow/browser/v1\x00"
_COOKIE_MAC_BYTES = 16


def browser_key(secret: bytes) -> bytes:
    """The key that signs the registration cookie, derived from a secret of 32+ bytes."""
    return hmac.new(secret, _COOKIE_CONTEXT, hashlib.sha256).digest()


def seal_handle(key: bytes, handle: str) -> str:
    """`<handle>.<base64url HMAC-SHA256(key, handle)[:16]>`: a link token, which holds the
    same id and address key in the clear, cannot be turned into this without the key."""
    mac = hmac.new(key, handle.encode("ascii"), hashlib.sha256).digest()[:_COOKIE_MAC_BYTES]
    return f"{handle}.{_b64(mac)}"


def open_handle(key: bytes, value: object) -> str | None:
    """The handle of a genuinely sealed cookie value, else None. Constant-time."""
    if not isinstance(value, str) or value.count(".") != 1:
        return None
    handle, _, _ = value.partition(".")
    if read_handle(handle) is None:
        return None
    return handle if hmac.compare_digest(seal_handle(key, handle), value) else None
