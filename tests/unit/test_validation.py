"""Input rules: names and addresses."""

from __future__ import annotations

import pytest

from regflow.domain import ValidationError, address_key
from regflow.validation import EMAIL_MAX, NAME_MAX, clean_email, clean_name


def _field_error(fn: object, *args: object) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        fn(*args)  # type: ignore[operator]
    return info.value


# --- names ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("Jane", "Jane"),
        ("  Jane Doe \t", "Jane Doe"),
        ("Zoë Ñúñez-Łukasz", "Zoë Ñúñez-Łukasz"),
        ("李小龍", "李小龍"),
        ("<b>Jane</b> & co", "<b>Jane</b> & co"),  # kept as typed; escaped where rendered
        ("J", "J"),
        ("x" * NAME_MAX, "x" * NAME_MAX),
        (" " + "x" * NAME_MAX + " ", "x" * NAME_MAX),
    ],
)
def test_names_accepted(raw: str, clean: str) -> None:
    assert clean_name(raw) == clean


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "\t\n",
        "x" * (NAME_MAX + 1),
        "Jane\nBcc: victim@example.com",
        "Jane\rDoe",
        "Jane\x00",
        "Jane\x1b[31m",
        "Jane\x7f",
        "Jane\u0085Doe",
        "Jane\u2028Doe",
        "Jane\u2029Doe",
        None,
        42,
        ["Jane"],
        {"first": "Jane"},
        True,
    ],
)
def test_names_refused(raw: object) -> None:
    err = _field_error(clean_name, raw)
    assert err.field == "name"
    assert err.key.startswith("error.name.")


def test_name_length_counts_characters_not_bytes() -> None:
    assert clean_name("é" * NAME_MAX) == "é" * NAME_MAX


# --- addresses --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("jane@example.com", "jane@example.com"),
        ("  jane@example.com  ", "jane@example.com"),
        ("Jane.Doe@EXAMPLE.COM", "Jane.Doe@example.com"),
        ("jane+tag@sub.example.co.uk", "jane+tag@sub.example.co.uk"),
        ("jane@münchen.de", "jane@münchen.de"),
    ],
)
def test_addresses_normalized(raw: str, clean: str) -> None:
    assert clean_email(raw) == clean


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "jane",
        "jane@",
        "@example.com",
        "jane@@example.com",
        "jane doe@example.com",
        "jane@example",
        "jane@localhost",
        "jane@example.com\nBcc: x@example.com",
        "Jane <jane@example.com>",
        '"jane doe"@example.com',
        "jane@-example.com",
        "jane@exa_mple.com",
        "jäne@example.com",  # SES takes no SMTPUTF8 local parts: refuse rather than lose mail
        "a" * 250 + "@example.com",
        None,
        5,
        ["jane@example.com"],
        {"email": "jane@example.com"},
    ],
)
def test_addresses_refused(raw: object) -> None:
    err = _field_error(clean_email, raw)
    assert err.field == "email"
    assert err.key.startswith("error.email.")


def test_address_length_limit() -> None:
    # A valid address of exactly 254 characters passes; one more character is refused.
    domain = ".".join(["a" * 63, "b" * 63, "c" * 57]) + ".com"
    ok = "x" * 64 + "@" + domain
    assert len(ok) == EMAIL_MAX
    assert clean_email(ok) == ok
    err = _field_error(clean_email, "x" * 64 + "@d" + domain)
    assert err.field == "email"
    assert (err.key, err.params) == ("error.email.too_long", {"max": 254})


def test_address_over_254_characters_refused_before_parsing() -> None:
    err = _field_error(clean_email, "x" * 64 + "@" + "a" * 190 + ".com")
    assert (err.key, err.params) == ("error.email.too_long", {"max": 254})


def test_no_dns_lookups(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("DNS lookup attempted")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "gethostbyname", refuse)
    assert clean_email("jane@no-such-domain-regflow-test.example") == (
        "jane@no-such-domain-regflow-test.example"
    )


def test_address_key_is_case_insensitive() -> None:
    a = clean_email("Jane@Example.com")
    b = clean_email("jane@example.COM")
    c = clean_email("JANE@EXAMPLE.COM")
    assert address_key(a) == address_key(b) == address_key(c)
    assert address_key(a) != address_key(clean_email("jane2@example.com"))
    assert len(address_key(a)) == 32
    assert "jane" not in address_key(a)


@pytest.mark.parametrize(
    "raw",
    ["jane@spam.example", "jane@SPAM.example", "jane@mx.spam.example", "jane@a.b.spam.example"],
)
def test_blocked_domains_and_their_subdomains(raw: str) -> None:
    err = _field_error(clean_email, raw, frozenset({"spam.example"}))
    assert err.field == "email"


@pytest.mark.parametrize(
    "raw", ["jane@notspam.example", "jane@spam.example.org", "jane@ok.example"]
)
def test_similar_domains_are_not_blocked(raw: str) -> None:
    assert clean_email(raw, frozenset({"spam.example"})) == raw
