"""Input rules for a registration: the same on AWS and embedded (and mirrored in web/app.js)."""

from __future__ import annotations

import re
import unicodedata

from regflow.domain import ValidationError

NAME_MAX = 100
EMAIL_MAX = 254
LOCAL_PART_MAX = 64  # octets (RFC 5321 4.5.3.1.1): strict SMTP servers refuse longer ones
# Control characters, separators that end a line in some readers (U+2028, U+2029, U+0085),
# invisible format characters (zero-width, bidi overrides such as U+202E), private-use,
# lone surrogates and unassigned code points. Judged after NFKC.
_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Co", "Cs", "Cn"})
# Dots that NFKC leaves alone but a reader takes for one (ideographic, halfwidth ideographic).
_DOTS = str.maketrans({"\u3002": ".", "\uff61": ".", "\ufe52": ".", "\u2e33": "."})
_LINKISH = re.compile(
    r"[a-z][a-z0-9+.-]*\s*:\s*[/\\]{2}"  # any scheme://, also with a backslash or spaces
    r"|\b(?:https?|ftp|mailto|javascript|data|file)\s*:"
    r"|\bwww\s*\."
    # a domain name: a label of 2+ letters/digits, dot, (labels, dot,) a letters-only TLD of
    # 2+ (any script), not glued to more word characters: "evil-site.com/win", "bit.ly";
    # not "J.R.R. Tolkien" (one-letter labels) nor "Dr. Jane" (a space after the dot)
    r"|(?<![\w.-])[^\W_][\w-]*[^\W_]\.(?:[\w-]+\.)*[^\W\d_]{2,}(?![\w-])",
    re.IGNORECASE,
)
# RFC 2047 encoded words (=?charset?q?...?=): a mail client decodes them in a Subject.
_ENCODED_WORD = re.compile(r"=\?.*\?=", re.DOTALL)

# Message keys of the catalog (`regflow.render`): every word a person reads lives there.
NAME_REQUIRED = "error.name.missing"
NAME_BAD_CHARACTERS = "error.name.bad_chars"
NAME_LINK = "error.name.link"
EMAIL_BAD_CHARACTERS = "error.email.bad_chars"


class EmailSyntaxError(ValueError):
    """The address is not a valid email address; `key` names the message for a person."""

    def __init__(self, key: str, **params: object) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


def clean_name(value: object) -> str:
    """The name as stored and mailed: NFKC-normalized and trimmed. Everything is judged on
    that form, so look-alikes (full-width colons, ligatures) cannot walk around a rule."""
    if not isinstance(value, str):
        raise ValidationError("name", NAME_REQUIRED)
    if any(unicodedata.category(ch) == "Cs" for ch in value):  # NFKC cannot take them
        raise ValidationError("name", NAME_BAD_CHARACTERS)
    name = unicodedata.normalize("NFKC", value).strip()
    if not name:
        raise ValidationError("name", NAME_REQUIRED)
    if len(name) > NAME_MAX:
        raise ValidationError("name", "error.name.too_long", max=NAME_MAX)
    if any(unicodedata.category(ch) in _FORBIDDEN_CATEGORIES for ch in name):
        raise ValidationError("name", NAME_BAD_CHARACTERS)
    if _ENCODED_WORD.search(name):
        raise ValidationError("name", NAME_BAD_CHARACTERS)
    if _LINKISH.search(name.translate(_DOTS)):
        # The name is mailed, as text, to whatever address was typed: a web address in it
        # would turn the site's verified sender into a phishing relay.
        raise ValidationError("name", NAME_LINK)
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
    if any(unicodedata.category(ch) in ("Cs", "Cc") for ch in value.strip()):
        raise ValidationError("email", EMAIL_BAD_CHARACTERS)
    try:
        email = normalize_email(value.strip())
    except EmailSyntaxError as exc:
        raise ValidationError("email", exc.key, **exc.params) from None
    except ValueError:  # e.g. an IDNA codec error the library lets through: bad text
        raise ValidationError("email", EMAIL_BAD_CHARACTERS) from None
    if len(email.rpartition("@")[0].encode("utf-8")) > LOCAL_PART_MAX:
        raise ValidationError("email", "error.email.local_part_too_long", max=LOCAL_PART_MAX)
    domain = email.rpartition("@")[2].lower()
    if blocked_domains and any(domain == d or domain.endswith("." + d) for d in blocked_domains):
        raise ValidationError("email", "error.email.blocked_domain")
    return email
