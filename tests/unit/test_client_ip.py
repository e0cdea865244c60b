"""Which address the per-IP limit counts: API Gateway's source IP, or behind our CloudFront the
viewer's address, but only on requests that prove they came through the distribution."""

from __future__ import annotations

import pytest

from regflow.api import client_ip
from tests.support.events import http_event

SECRET = "s3cr3t-value-only-cloudfront-and-the-function-know"
EDGE = "130.176.1.1"  # a CloudFront edge server: what API Gateway sees behind CloudFront


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
