"""A proof-of-work challenge in the ALTCHA format (CHALLENGE=pow), verified with no outbound
call.

`GET /challenge` hands out `{"algorithm": "SHA-256", "challenge", "maxnumber", "salt",
"signature"}`: `salt` is `<random hex>?expires=<epoch>&max=<maxnumber>`, the browser finds
the `number` in `[0, maxnumber]` with `SHA-256(salt + number) == challenge` (web/app.js, by
WebCrypto), and sends back the ALTCHA payload, `base64(JSON {"algorithm", "challenge",
"number", "salt", "signature"})`, with the form. `signature` is
`HMAC-SHA256(key, challenge)`, so the server keeps nothing until a solution is used; single
use is then the store's job (`SpentChallenge`, written in the registration's own atomic
write). The salt's `max` ties a challenge to the difficulty it was issued for: one from a
lower `CHALLENGE_DIFFICULTY` is refused after a change.

Why not the `altcha` package from PyPI: the protocol is this module (about 40 lines of
`hashlib`, `hmac` and `secrets`); the package would add a dependency to the Lambda bundle for
no check this does not make.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from urllib.parse import parse_qs

from regflow.config import Rules
from regflow.domain import ConfigError, SpentChallenge, ValidationError
from regflow.domain.challenge import FIELD, REFUSED

ALGORITHM = "SHA-256"
SALT_BLOCK = 64  # bytes: one SHA-256 block
_CONTEXT = b"regflow/challenge/v1\x00"


def challenge_key(secret: bytes) -> bytes:
    """The signing key, derived from a secret of at least 32 bytes (its own context: a
    challenge signature is never a token MAC)."""
    return hmac.new(secret, _CONTEXT, hashlib.sha256).digest()


class ChallengeIssuer:
    def __init__(self, key: bytes, *, difficulty: int, ttl_seconds: int = 300) -> None:
        self.key = key
        self.difficulty = difficulty
        self.ttl_seconds = ttl_seconds

    def issue(self, now: float) -> dict[str, object]:
        expires = int(now) + self.ttl_seconds
        rest = f"?expires={expires}&max={self.difficulty}"
        # at least 96 random bits, and a salt of whole 64-byte SHA-256 blocks: the page hashes
        # it once and then one block per number tried (web/app.js); the work is the numbers
        size = 24 + (-(24 + len(rest)) % SALT_BLOCK)
        salt = secrets.token_hex((size + 1) // 2)[:size] + rest
        number = secrets.randbelow(self.difficulty + 1)
        challenge = hashlib.sha256(f"{salt}{number}".encode()).hexdigest()
        return {
            "algorithm": ALGORITHM,
            "challenge": challenge,
            "maxnumber": self.difficulty,
            "salt": salt,
            "signature": self._sign(challenge),
        }

    def _sign(self, challenge: str) -> str:
        return hmac.new(self.key, challenge.encode(), hashlib.sha256).hexdigest()

    def verify(self, payload: object, now: float) -> SpentChallenge:
        """The solution in `payload` (the ALTCHA payload: base64 JSON), or raises
        `ValidationError` on the `challenge` field: missing, malformed, forged (signature),
        unsolved (wrong number), expired, or issued for another difficulty."""
        data = _decode(payload)
        if data is None:
            raise ValidationError(FIELD, REFUSED)
        algorithm, challenge, number, salt, signature = (
            data.get(k) for k in ("algorithm", "challenge", "number", "salt", "signature")
        )
        if (
            algorithm != ALGORITHM
            or not isinstance(challenge, str)
            or not isinstance(salt, str)
            or not isinstance(signature, str)
            or not isinstance(number, int)
            or isinstance(number, bool)
        ):
            raise ValidationError(FIELD, REFUSED)
        if not hmac.compare_digest(signature.encode(), self._sign(challenge).encode()):
            raise ValidationError(FIELD, REFUSED)  # forged
        params = parse_qs(salt.partition("?")[2])
        try:
            expires = int(params["expires"][0])
            maxnumber = int(params["max"][0])
        except (KeyError, ValueError, IndexError):
            raise ValidationError(FIELD, REFUSED) from None
        if maxnumber != self.difficulty or not 0 <= number <= maxnumber:
            raise ValidationError(FIELD, REFUSED)  # another difficulty
        if expires <= now:
            raise ValidationError(FIELD, REFUSED)  # expired
        digest = hashlib.sha256(f"{salt}{number}".encode()).hexdigest()
        if not hmac.compare_digest(digest, challenge):
            raise ValidationError(FIELD, REFUSED)  # not solved
        return SpentChallenge(challenge, expires)


def issuer_for(rules: Rules, secret: bytes | None) -> ChallengeIssuer | None:
    """The issuer CHALLENGE=pow needs (None when off), keyed by `secret` (CHALLENGE_SECRET,
    or embedded the token secret)."""
    if not rules.challenge:
        return None
    if secret is None:
        raise ConfigError("CHALLENGE=pow needs CHALLENGE_SECRET (32 characters or more)")
    return ChallengeIssuer(challenge_key(secret), difficulty=rules.challenge_difficulty)


def _decode(payload: object) -> dict[str, object] | None:
    if not isinstance(payload, str) or not payload or len(payload) > 2048:
        return None
    try:
        data = json.loads(base64.b64decode(payload, validate=True))
    except (binascii.Error, ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None
