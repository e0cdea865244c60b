"""Hypothesis strategies for the fuzzer (issue 9): raw bytes, all of Unicode including lone
surrogates and controls, huge and nested JSON, odd header sets, methods and paths."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

from tests.support.names import INITIALS_NAMES, LINK_NAMES

# Every code point, surrogates and controls included, plus the characters that matter here.
any_char = st.one_of(
    st.characters(codec=None, exclude_categories=()),
    st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF),
    st.sampled_from(
        ["\x00", "\r", "\n", "\u2028", "\u202e", "\u200b", "\ufeff", "\uff1a", "%", "=", "?"]
    ),
)
any_text = st.text(any_char, max_size=80)

json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), any_text
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(any_text, children, max_size=4)
    ),
    max_leaves=25,
)
names = st.one_of(
    any_text,
    st.sampled_from(
        [
            "Jane",
            "\ud800x",
            "evil.example/login",
            "http\uff1a//x",
            "=?utf-8?q?x?=",
            "J. R. R. Tolkien",
            "x" * 101,
            *LINK_NAMES,  # issue 27: one-letter labels, dotted IPv4, a one-dot leader
            *INITIALS_NAMES,
        ]
    ),
)
emails = st.one_of(
    any_text,
    st.sampled_from(
        [
            "jane@example.com",
            "a" * 65 + "@example.com",
            "jane\udc00@example.com",
            "jane@\ud800.com",
            "jane@xn--.com",
            "jane@" + "a" * 250 + ".com",
        ]
    ),
)


def _dumps(value: Any) -> str:
    return json.dumps(value)  # ensure_ascii: lone surrogates travel as \ud800 escapes


@st.composite
def register_bodies(draw: st.DrawFn) -> bytes:
    kind = draw(st.integers(0, 5))
    if kind == 0:
        return draw(st.binary(max_size=300))
    if kind == 1:
        depth = draw(st.sampled_from([10, 1000, 100_000]))
        return ("[" * depth + "]" * depth).encode()
    if kind == 2:
        return _dumps(draw(json_values)).encode()
    if kind == 3:
        return b'{"name": "' + b"x" * draw(st.sampled_from([100, 17_000])) + b'"}'
    obj: dict[str, Any] = {"name": draw(names), "email": draw(emails)}
    if draw(st.booleans()):
        obj[draw(any_text)] = draw(json_values)
    return _dumps(obj).encode()


content_types = st.sampled_from(
    [
        "application/json",
        "application/json; charset=utf-16",
        "application/x-www-form-urlencoded",
        "text/plain",
        "multipart/form-data; boundary=x",
        "application/vnd.api+json",
        "",
        "\x7f",
    ]
)
header_names = st.one_of(
    st.sampled_from(
        [
            "x-forwarded-for",
            "host",
            "accept",
            "cookie",
            "content-encoding",
            "transfer-encoding",
            "expect",
            "x-origin-verify",
            "cloudfront-viewer-address",
            "connection",
            "upgrade",
        ]
    ),
    st.text(
        st.characters(min_codepoint=33, max_codepoint=126, exclude_characters=":"),
        min_size=1,
        max_size=20,
    ),
)
header_values = st.one_of(
    st.binary(max_size=60).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b"")),
    st.sampled_from(
        [b"1.2.3.4, 5.6.7.8", b"::1", b"gzip", b"chunked", b"100-continue", b"x" * 9000]
    ),
)
methods = st.sampled_from(
    [
        b"GET",
        b"POST",
        b"HEAD",
        b"PUT",
        b"DELETE",
        b"OPTIONS",
        b"PATCH",
        b"TRACE",
        b"G\x00T",
        b"CONNECT",
    ]
)
paths = st.one_of(
    st.sampled_from(
        [
            b"/",
            b"/register",
            b"/confirm",
            b"/confirm?token=" + b"A" * 64,
            b"/_mailbox",
            b"/_mailbox/../../etc/passwd",
            b"/%00",
            b"/" + b"a" * 300,
            b"/%2e%2e/%2e%2e/secret.key",
            b"/.git/config",
            b"/index.html%00.js",
            b"/%ff%fe%fd",
            b"//evil.example/",
            b"/openapi.yaml",
            b"*",
            b"http://evil.example/",
        ]
    ),
    st.binary(min_size=1, max_size=120).map(
        lambda b: b"/" + b.replace(b" ", b"%20").replace(b"\r", b"").replace(b"\n", b"")
    ),
    st.text(any_char, max_size=60).map(
        lambda s: b"/" + s.encode("utf-8", "surrogatepass").replace(b" ", b"")
    ),
)
