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
    # not "Dr. Jane" (a space after the dot). One-letter first labels: `_ONE_LETTER_DOMAIN`.
    r"|(?<![\w.-])[^\W_][\w-]*[^\W_]\.(?:[\w-]+\.)*[^\W\d_]{2,}(?![\w-])"
    # a dotted IPv4 address ("185.199.1.2"), or a shortened one before a path ("127.1/x")
    r"|(?<![\w.])[0-9]{1,10}(?:\.[0-9]{1,3}){3}(?![\w]|\.[0-9])"
    r"|(?<![\w.])[0-9]{1,10}(?:\.[0-9]{1,8}){1,2}(?=[/\\?#]|:[0-9])",
    re.IGNORECASE,
)
# A domain whose first label is one letter or digit: the short-link hosts ("v.gd/Ab12Cd", "t.ly",
# "s.id", "x.com", "t.co"). Initials look alike ("J.R.R. Tolkien", "A.Smith"): see `_initials`.
_ONE_LETTER_DOMAIN = re.compile(
    r"(?<![\w.-])(?P<labels>[^\W_](?:\.[^\W_](?:[\w-]*[^\W_])?)*)"
    r"\.(?P<tld>[^\W\d_]{2,}|xn--[a-z0-9-]+)(?![\w-])(?P<path>[/\\?#@]|:[0-9])?",
    re.IGNORECASE,
)


def _initials(match: re.Match[str]) -> bool:
    """Initials glued to a surname ("A.Smith", "J.R.R.Tolkien", "M.Sc"), not a host name:
    single capital letters, then one capitalized word, and no path, port or query after it.
    A host is written in lower case or all capitals ("x.com", "X.COM"); "X.Com" without a
    path is the bare home page of a one-letter domain (nobody's phishing page)."""
    tld = match.group("tld")
    return (
        match.group("path") is None
        and all(len(label) == 1 and label.isupper() for label in match.group("labels").split("."))
        and tld[0].isupper()
        and tld[1:].islower()
    )


def contains_link(text: str) -> bool:
    """Whether a reader, or a mail client that makes links of what it sees, would take part
    of `text` for a web address: a scheme (`https:`, `x://`), `www.`, a domain name (also
    with one-letter labels: "v.gd/Ab12Cd", "x.com"), a dotted IPv4 address. Judged on the
    NFKC form (a one-dot leader U+2024 is a full stop) with look-alike dots mapped. The rule
    for any free text regflow mails: names today, custom fields tomorrow. Meant for short
    fields (a name is checked after its 100-character limit): the work grows with the square
    of the length, about 60 ms at 1,000 characters."""
    folded = unicodedata.normalize("NFKC", text).translate(_DOTS)
    if _LINKISH.search(folded):
        return True
    return any(not _initials(match) for match in _ONE_LETTER_DOMAIN.finditer(folded))


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
    if contains_link(name):
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
