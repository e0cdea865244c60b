"""Input rules for a registration: the same on AWS and embedded (and mirrored in web/app.js)."""

from __future__ import annotations

import re
import unicodedata

from regflow.domain import ValidationError

NAME_MAX = 100
EMAIL_MAX = 254
# Control characters, and separators that end a line in some readers (U+2028, U+2029, U+0085).
_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Zl", "Zp"})
_LINKISH = re.compile(r"://|www\.", re.IGNORECASE)


class EmailSyntaxError(ValueError):
    """The address is not a valid email address; `key` names the message for a person."""

    def __init__(self, key: str, **params: object) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


def clean_name(value: object) -> str:
    if not isinstance(value, str):
        raise ValidationError("name", "error.name.missing")
    name = value.strip()
    if not name:
        raise ValidationError("name", "error.name.missing")
    if len(name) > NAME_MAX:
        raise ValidationError("name", "error.name.too_long", max=NAME_MAX)
    if any(unicodedata.category(ch) in _FORBIDDEN_CATEGORIES for ch in name):
        raise ValidationError("name", "error.name.bad_chars")
    if _LINKISH.search(name):
        # The name is mailed, as text, to whatever address was typed: a web address in it
        # would turn the site's verified sender into a phishing relay.
        raise ValidationError("name", "error.name.link")
    return name


def normalize_email(value: str) -> str:
    """Syntax check and normalization by `email-validator`; no DNS lookups."""
    if len(value) > EMAIL_MAX:
        raise EmailSyntaxError("error.email.too_long", max=EMAIL_MAX)
    # Imported on first use: keeps it out of the confirm handler's cold start.
    from email_validator import EmailNotValidError, validate_email

    try:
        # No SMTPUTF8: SES (and many relays) cannot deliver to a non-ASCII local part.
        result = validate_email(value, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError:
        # email-validator's own explanations are English-only: one translated message
        raise EmailSyntaxError("error.email.invalid") from None
    normalized: str = result.normalized
    if len(normalized) > EMAIL_MAX:
        raise EmailSyntaxError("error.email.too_long", max=EMAIL_MAX)
    return normalized


def clean_email(value: object, blocked_domains: frozenset[str] = frozenset()) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError("email", "error.email.missing")
    try:
        email = normalize_email(value.strip())
    except EmailSyntaxError as exc:
        raise ValidationError("email", exc.key, **exc.params) from None
    domain = email.rpartition("@")[2].lower()
    if blocked_domains and any(domain == d or domain.endswith("." + d) for d in blocked_domains):
        raise ValidationError("email", "error.email.blocked_domain")
    return email
