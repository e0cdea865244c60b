"""A used proof-of-work solution (CHALLENGE=pow; `regflow.challenge`): what the store keeps
so that one solution registers once."""

from __future__ import annotations

from dataclasses import dataclass

from regflow.domain.model import ValidationError

FIELD = "challenge"  # the form field, and the `field` of a refusal
REFUSED = "error.signup_challenge.invalid"  # its message in the catalog


def replayed() -> ValidationError:
    """What every store raises for a solution spent already: refused like a bad field."""
    return ValidationError(FIELD, REFUSED)


@dataclass(frozen=True, slots=True)
class SpentChallenge:
    """The store refuses a second registration with the same `id` (the challenge's hex
    digest) until `expires` (epoch seconds), after which the salt's own expiry refuses it;
    a replay raises `ValidationError(FIELD, REFUSED)`, like a bad field."""

    id: str
    expires: int
