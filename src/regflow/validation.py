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
    """The address is not a valid email address; the message is for a person."""


def clean_name(value: object) -> str:
    if not isinstance(value, str):
        raise ValidationError("name", "Please enter your name.")
    name = value.strip()
    if not name:
        raise ValidationError("name", "Please enter your name.")
    if len(name) > NAME_MAX:
        raise ValidationError("name", f"Your name can be at most {NAME_MAX} characters long.")
    if any(unicodedata.category(ch) in _FORBIDDEN_CATEGORIES for ch in name):
        raise ValidationError("name", "Your name contains characters that are not allowed.")
    if _LINKISH.search(name):
        # The name is mailed, as text, to whatever address was typed: a web address in it
        # would turn the site's verified sender into a phishing relay.
        raise ValidationError("name", "Your name cannot contain a web address.")
    return name


def normalize_email(value: str) -> str:
    """Syntax check and normalization by `email-validator`; no DNS lookups."""
    if len(value) > EMAIL_MAX:
        raise EmailSyntaxError(f"An email address can be at most {EMAIL_MAX} characters long.")
    # Imported on first use: keeps it out of the confirm handler's cold start.
    from email_validator import EmailNotValidError, validate_email

    try:
        # No SMTPUTF8: SES (and many relays) cannot deliver to a non-ASCII local part.
        result = validate_email(value, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        raise EmailSyntaxError(str(exc)) from None
    normalized: str = result.normalized
    if len(normalized) > EMAIL_MAX:
        raise EmailSyntaxError(f"An email address can be at most {EMAIL_MAX} characters long.")
    return normalized


def clean_email(value: object, blocked_domains: frozenset[str] = frozenset()) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError("email", "Please enter your email address.")
    try:
        email = normalize_email(value.strip())
    except EmailSyntaxError as exc:
        raise ValidationError("email", str(exc)) from None
    domain = email.rpartition("@")[2].lower()
    if blocked_domains and any(domain == d or domain.endswith("." + d) for d in blocked_domains):
        raise ValidationError("email", "Addresses at this domain are not accepted here.")
    return email
