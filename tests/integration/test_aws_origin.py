"""Issue 27: the API cannot be called past CloudFront (and so past its web ACL). CloudFront
adds the origin-verify value to every request it sends the API; a request to the execute-api
address without it, or with a wrong one, gets 403 from every function behind a route, before
any work is done."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from regflow.http.request import ORIGIN_VERIFY_HEADER
from tests.support.aws import ORIGIN_VALUE, Stack, aws_stack, count_calls, load_template
from tests.support.events import http_event, json_post, say

EDGE = ORIGIN_VALUE  # the stack's OriginVerifySecret, read by the functions at run time
THROUGH_CLOUDFRONT = {ORIGIN_VERIFY_HEADER: EDGE, "cloudfront-viewer-address": "198.51.100.7:4"}


@pytest.fixture
def stack() -> Iterator[Stack]:
    with aws_stack(CHALLENGE="off") as s:
        yield s


def requests(headers: dict[str, str]) -> list[tuple[str, dict[str, Any]]]:
    """One request of every route, as the function behind it gets it."""
    person = {"name": "Jane", "email": "jane@example.com"}
    return [
        ("register", json_post("/register", person, headers=headers)),
        ("register", http_event("GET", "/challenge", headers=headers)),
        ("confirm", http_event("GET", "/confirm", query={"token": "x" * 64}, headers=headers)),
        ("confirm", http_event("POST", "/confirm-code", body="{}", headers=headers)),
        ("confirm", http_event("POST", "/resend", body="{}", headers=headers)),
        ("erase", http_event("GET", "/erase", query={"token": "x" * 64}, headers=headers)),
    ]


def call(stack: Stack, function: str, event: dict[str, Any]) -> dict[str, Any]:
    """The function's handler, called straight (not through the stack's stand-in CloudFront,
    which would add the value)."""
    from regflow.handlers import confirm, erase, register

    handler = {"register": register, "confirm": confirm, "erase": erase}[function]
    response: dict[str, Any] = handler.lambda_handler(event, None)
    return response


@pytest.mark.parametrize(
    "headers",
    [{}, {ORIGIN_VERIFY_HEADER: "guess"}, {ORIGIN_VERIFY_HEADER: EDGE[:-1]}],
    ids=["no value", "a guess", "all but one character"],
)
def test_a_request_past_cloudfront_is_refused_before_any_work(
    stack: Stack, headers: dict[str, str]
) -> None:
    calls = count_calls([stack.clients.dynamodb()])
    for function, event in requests(headers):
        response = call(stack, function, event)
        assert response["statusCode"] == 403, event["routeKey"]
        assert json.loads(response["body"]) == {"error": say("error.origin")}
    assert calls == {}  # nothing read or written
    assert stack.items("REG#") == []


def test_a_request_through_cloudfront_is_served(stack: Stack) -> None:
    for function, event in requests(THROUGH_CLOUDFRONT):
        assert call(stack, function, event)["statusCode"] != 403, event["routeKey"]
    assert len(stack.items("REG#")) == 1


def test_without_a_value_nothing_is_refused() -> None:
    """Not behind CloudFront (no origin-verify value configured): no gate."""
    with aws_stack(CHALLENGE="off", ORIGIN_VERIFY_SECRET_ARN="") as stack:
        event = json_post("/register", {"name": "J", "email": "j@example.com"})
        assert call(stack, "register", event)["statusCode"] == 202


def test_every_function_behind_a_route_has_the_value() -> None:
    """The template gives the origin-verify value to every function an API route invokes (a
    new route's function without it would be open to direct calls), and the API's own
    address is published as what it is."""
    resources = load_template()["Resources"]
    integrations = {
        name: r["Properties"]["IntegrationUri"]["Fn::GetAtt"][0]
        for name, r in resources.items()
        if r["Type"] == "AWS::ApiGatewayV2::Integration"
    }
    routed = set()
    for r in resources.values():
        if r["Type"] == "AWS::ApiGatewayV2::Route":
            target = r["Properties"]["Target"]["Fn::Sub"]
            routed.add(integrations[target.removeprefix("integrations/${").rstrip("}")])
    assert routed == {"RegistrationHandler", "ConfirmationHandler", "ErasureHandler"}
    for function in routed:
        env = resources[function]["Properties"]["Environment"]["Variables"]
        assert env["ORIGIN_VERIFY_SECRET_ARN"] == {"Ref": "OriginVerifySecret"}, function
    assert "403" in load_template()["Outputs"]["ApiUrl"]["Description"]
