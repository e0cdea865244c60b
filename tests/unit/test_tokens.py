"""TokenSigner and registration ids."""

from __future__ import annotations

import base64
import re

import pytest

from regflow.domain import address_key
from regflow.tokens import TokenSigner, generate_secret, new_registration_id

SECRET = b"k" * 32
ADDR = address_key("jane@example.com")


def _alphabet() -> str:
    return "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def test_new_registration_id_is_128_random_bits_url_safe() -> None:
    ids = {new_registration_id() for _ in range(2000)}
    assert len(ids) == 2000
    for rid in list(ids)[:50]:
        assert re.fullmatch(r"[A-Za-z0-9_-]{22}", rid)
        assert len(base64.urlsafe_b64decode(rid + "==")) == 16
    # Every bit position takes both values across the sample: the bits are not fixed.
    raw = [int.from_bytes(base64.urlsafe_b64decode(r + "=="), "big") for r in ids]
    ones = 0
    zeros = 0
    for value in raw:
        ones |= value
        zeros |= ~value
    assert ones == (1 << 128) - 1
    assert zeros & ((1 << 128) - 1) == (1 << 128) - 1


def test_round_trip() -> None:
    signer = TokenSigner(SECRET)
    rid = new_registration_id()
    token = signer.issue(rid, ADDR)
    assert re.fullmatch(r"[A-Za-z0-9_-]{64}", token)
    assert signer.verify(token) == (rid, ADDR)
    # A second signer with the same secret (another process) accepts it too.
    assert TokenSigner(SECRET).verify(token) == (rid, ADDR)


def test_token_does_not_contain_the_address() -> None:
    token = TokenSigner(SECRET).issue(new_registration_id(), ADDR)
    assert "jane" not in token
    assert "example" not in token


def test_tampering_with_any_character_is_refused() -> None:
    signer = TokenSigner(SECRET)
    token = signer.issue(new_registration_id(), ADDR)
    alphabet = _alphabet()
    for i, ch in enumerate(token):
        replacement = alphabet[(alphabet.index(ch) + 1) % len(alphabet)]
        forged = token[:i] + replacement + token[i + 1 :]
        assert signer.verify(forged) is None, f"tampered position {i} accepted"


def test_wrong_secret_is_refused() -> None:
    token = TokenSigner(SECRET).issue(new_registration_id(), ADDR)
    assert TokenSigner(b"x" * 32).verify(token) is None


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "a",
        "A" * 63,
        "A" * 65,
        "A" * 128,
        "A" * 63 + "=",
        "A" * 63 + "+",
        "A" * 63 + "/",
        "A" * 63 + " ",
        "A" * 63 + "\u00e9",
        "A" * 63 + "\n",
    ],
)
def test_wrong_length_or_charset_is_refused(bad: str) -> None:
    assert TokenSigner(SECRET).verify(bad) is None


def test_valid_token_with_surrounding_text_is_refused() -> None:
    signer = TokenSigner(SECRET)
    token = signer.issue(new_registration_id(), ADDR)
    assert signer.verify(token + "A") is None
    assert signer.verify("A" + token) is None
    assert signer.verify(token + "\n") is None


def test_non_string_is_refused() -> None:
    assert TokenSigner(SECRET).verify(None) is None  # type: ignore[arg-type]
    assert TokenSigner(SECRET).verify(b"A" * 64) is None  # type: ignore[arg-type]


def test_secret_is_fetched_lazily_and_once() -> None:
    calls: list[int] = []

    def fetch() -> bytes:
        calls.append(1)
        return SECRET

    signer = TokenSigner(fetch)
    assert calls == []
    token = signer.issue(new_registration_id(), ADDR)
    assert calls == [1]
    assert signer.verify(token) is not None
    assert signer.verify("A" * 64) is None
    assert calls == [1]


def test_malformed_input_does_not_fetch_the_secret() -> None:
    calls: list[int] = []

    def fetch() -> bytes:
        calls.append(1)
        return SECRET

    signer = TokenSigner(fetch)
    assert signer.verify("not-a-token") is None
    assert calls == []


def test_short_secret_is_refused_on_use() -> None:
    signer = TokenSigner(b"short")
    with pytest.raises(ValueError, match="at least 32 bytes"):
        signer.issue(new_registration_id(), ADDR)


def test_issue_refuses_malformed_id_or_key() -> None:
    signer = TokenSigner(SECRET)
    with pytest.raises(ValueError, match="malformed"):
        signer.issue("abc", ADDR)
    with pytest.raises(ValueError, match="malformed"):
        signer.issue(new_registration_id(), "ab")


def test_generate_secret_is_random_and_long_enough() -> None:
    a, b = generate_secret(), generate_secret()
    assert len(a) >= 32
    assert a != b
