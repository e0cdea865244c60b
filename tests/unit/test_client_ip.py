"""Which address the per-IP limit counts: API Gateway's source IP, or behind our CloudFront the
viewer's address, but only on requests that prove they came through the distribution."""

from __future__ import annotations

import pytest

from regflow.http import HttpApi
from regflow.http.request import Request, rate_limit_key
from tests.support.events import http_event

SECRET = "s3cr3t-value-only-cloudfront-and-the-function-know"
EDGE = "130.176.1.1"  # a CloudFront edge server: what API Gateway sees behind CloudFront


def client_ip(event: dict[str, object], secret: str | None = None) -> str | None:
    """The client address the HTTP layer decides for `event` (in one place: the request)."""
    return Request.from_event(event, origin_verify_secret=secret).client_ip


def test_source_ip_without_origin_verification() -> None:
    event = http_event("POST", "/register", source_ip="198.51.100.7")
    assert client_ip(event) == "198.51.100.7"
    assert client_ip(event, SECRET) == "198.51.100.7"


@pytest.mark.parametrize(
    ("viewer", "expected"),
    [("198.51.100.7:46532", "198.51.100.7"), ("2001:db8::7:443", "2001:db8::7")],
)
def test_viewer_address_through_cloudfront(viewer: str, expected: str) -> None:
    event = http_event(
        "POST",
        "/register",
        source_ip=EDGE,
        headers={"CloudFront-Viewer-Address": viewer, "X-Origin-Verify": SECRET},
    )
    assert client_ip(event, SECRET) == expected


@pytest.mark.parametrize("presented", ["", "guess", SECRET + "x", SECRET[:-1]])
def test_viewer_address_is_not_trusted_without_the_secret(presented: str) -> None:
    headers = {"CloudFront-Viewer-Address": "192.0.2.55:1234"}
    if presented:
        headers["X-Origin-Verify"] = presented
    event = http_event("POST", "/register", source_ip="198.51.100.7", headers=headers)
    assert client_ip(event, SECRET) == "198.51.100.7"


def test_viewer_address_is_not_trusted_when_not_configured() -> None:
    event = http_event(
        "POST",
        "/register",
        source_ip="198.51.100.7",
        headers={"CloudFront-Viewer-Address": "192.0.2.55:1234", "X-Origin-Verify": SECRET},
    )
    assert client_ip(event, None) == "198.51.100.7"


def test_garbage_viewer_address_falls_back_to_source_ip() -> None:
    event = http_event(
        "POST",
        "/register",
        source_ip=EDGE,
        headers={"CloudFront-Viewer-Address": "not-an-ip", "X-Origin-Verify": SECRET},
    )
    assert client_ip(event, SECRET) == EDGE


@pytest.mark.parametrize(
    ("ip", "key"),
    [
        ("198.51.100.7", "198.51.100.7"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
        ("::ffff:198.51.100.7", "198.51.100.7"),
        (None, None),
    ],
)
def test_rate_limit_key_groups_an_ipv6_subscriber(ip: str | None, key: str | None) -> None:
    assert rate_limit_key(ip) == key


def test_ipv6_rotation_within_a_64_hits_the_client_limit() -> None:
    from regflow.adapters.memory import MemoryStore
    from regflow.config import Settings
    from regflow.intake import IntakeService
    from regflow.tokens import TokenSigner

    settings = Settings.from_env(
        {
            "SENDER_EMAIL": "no-reply@example.com",
            "OWNER_EMAIL": "owner@example.com",
            "API_BASE_URL": "https://example.com",
            "SUCCESS_URL": "https://example.com/confirmed.html",
            "IP_LIMIT_PER_HOUR": "3",
        }
    )
    http_api = HttpApi(
        IntakeService(store=MemoryStore(), rules=settings.rules, signer=TokenSigner(b"k" * 32)),
        settings.http,
    )
    statuses = [
        http_api(
            http_event(
                "POST",
                "/register",
                body=f'{{"name": "N", "email": "u{i}@example.com"}}',
                headers={"content-type": "application/json"},
                source_ip=f"2001:db8:1:2::{i + 1:x}",
            ),
        )["statusCode"]
        for i in range(4)
    ]
    assert statuses == [202, 202, 202, 429]
