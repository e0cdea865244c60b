"""Which language a request gets: `regflow.render.negotiate_language`."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from regflow.render import SUPPORTED_LANGUAGES, negotiate_language


@pytest.mark.parametrize(
    ("explicit", "header", "default", "expected"),
    [
        ("de", None, "en", "de"),
        ("de-AT", None, "en", "de"),
        ("DE", None, "en", "de"),
        ("de_at", None, "en", "de"),
        (" fr ", None, "en", "fr"),
        ("es-419", "de", "en", "es"),
        ("pt", "fr", "en", "fr"),  # unsupported explicit: the header decides
        ("", "fr", "en", "fr"),
        (None, "fr", "de", "fr"),
        (42, "es", "en", "es"),  # not a string (a JSON number): ignored
        (["de"], None, "en", "en"),
        ("de;q=1", None, "en", "en"),  # not a language tag
        ("deutsch-de", None, "fr", "fr"),  # an unknown primary subtag
        (None, "de-CH,de;q=0.9,en;q=0.8", "en", "de"),
        (None, "pt-BR,pt;q=0.9,es;q=0.8,en;q=0.7", "en", "es"),
        (None, "en;q=0.5,fr;q=0.9", "de", "fr"),  # q-values, not order
        (None, "fr;q=0.8,es;q=0.8", "en", "fr"),  # a tie: the first listed
        (None, "de;q=0", "en", "en"),  # q=0: not acceptable
        (None, "de;q=0.000,fr", "en", "fr"),
        (None, "de;q=1.5,fr;q=0.1", "en", "fr"),  # a malformed q drops its part only
        (None, "de;q=abc,es", "en", "es"),
        (None, "de;q=nan,es;q=inf,fr;q=-1", "en", "en"),
        (None, "de;q", "en", "en"),
        (None, "*", "fr", "fr"),
        (None, "*;q=0.1,de;q=0.5", "es", "de"),
        (None, "", "es", "es"),
        (None, ",,,;;;===", "es", "es"),
        (None, "zh-Hant-TW, ja", "de", "de"),
        (None, "EN-gb", "de", "en"),
        (None, "de;level=1;q=0.7,fr;q=0.6", "en", "de"),  # other parameters are ignored
        (None, "  es  ;  q = 0.4 , de ; q=0.3", "en", "es"),
        (None, "x-klingon,i-default,de", "en", "de"),
    ],
)
def test_examples(explicit: object, header: str | None, default: str, expected: str) -> None:
    assert negotiate_language(explicit, header, default) == expected


def test_the_default_is_returned_as_given() -> None:
    assert negotiate_language(None, "pt", "xx") == "xx"


def test_bounded_work_on_huge_headers() -> None:
    header = "x" * 5_000_000 + ",de"
    many = ",".join(["zz;q=0.9"] * 200_000) + ",fr"
    nested = "de" + "-a" * 1_000_000
    started = time.perf_counter()
    assert negotiate_language(None, header, "en") == "en"  # beyond the bound: not read
    assert negotiate_language(None, many, "en") == "en"
    assert negotiate_language(nested, nested, "es") == "es"
    assert time.perf_counter() - started < 1.0


_TAGS = st.sampled_from(
    ["de", "de-AT", "DE", "fr", "fr-CA", "es", "es-419", "en", "en-US", "pt", "zh-Hant", "*"]
)
_QS = st.one_of(
    st.none(),
    st.sampled_from(["0", "0.1", "0.5", "0.55", "0.999", "1", "1.0", "1.000", "0."]),
)


@st.composite
def well_formed(draw: st.DrawFn) -> tuple[str, list[tuple[str, float]]]:
    parts = draw(st.lists(st.tuples(_TAGS, _QS), max_size=8))
    header = ",".join(tag if q is None else f"{tag};q={q}" for tag, q in parts)
    return header, [(tag, 1.0 if q is None else float(q)) for tag, q in parts]


@settings(max_examples=300, deadline=None)
@given(well_formed(), st.sampled_from(SUPPORTED_LANGUAGES))
def test_well_formed_headers_pick_the_highest_q(
    case: tuple[str, list[tuple[str, float]]], default: str
) -> None:
    header, parts = case
    best, best_q = default, 0.0
    for tag, q in parts:
        lang = default if tag == "*" else tag.split("-")[0].lower()
        if lang in SUPPORTED_LANGUAGES and q > best_q:
            best, best_q = lang, q
    assert negotiate_language(None, header, default) == best


_ANYTHING = st.one_of(
    st.none(),
    st.text(),
    st.text(alphabet="deDEfrsn-_;q=.,* 0123456789\t\r\n"),
    st.integers(),
    st.floats(),
    st.booleans(),
    st.lists(st.text(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2),
    st.binary(max_size=10),
)


@settings(max_examples=500, deadline=None)
@given(
    _ANYTHING,
    st.one_of(st.none(), st.text(), st.text(alphabet="deDEfrsn-_;q=.,* 0123456789\t\r\n")),
    st.sampled_from([*SUPPORTED_LANGUAGES, "xx"]),
)
def test_never_raises_and_answers_a_supported_language_or_the_default(
    explicit: object, header: str | None, default: str
) -> None:
    result = negotiate_language(explicit, header, default)
    assert result in SUPPORTED_LANGUAGES or result == default
