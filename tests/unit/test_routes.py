"""The one route table (`regflow.routes`) against the two documents that must agree with it,
both ways: `template.yaml` (the HTTP API's RouteKeys and the function each one reaches, the
distribution's CacheBehaviors that send a path to the API) and `openapi.yaml` (its paths and
methods). A route added to one and not the others fails here and names it."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from regflow import routes
from tests.support.aws import load_template

OPENAPI = routes.__file__.rsplit("/", 1)[0] + "/openapi.yaml"


@pytest.fixture(scope="module")
def resources() -> dict[str, Any]:
    res: dict[str, Any] = load_template()["Resources"]
    return res


def _of_type(resources: dict[str, Any], kind: str) -> dict[str, Any]:
    return {k: v for k, v in resources.items() if v["Type"] == kind}


def test_every_route_key_of_the_template_reaches_the_tables_function(
    resources: dict[str, Any],
) -> None:
    integrations = _of_type(resources, "AWS::ApiGatewayV2::Integration")
    in_template = {}
    for route in _of_type(resources, "AWS::ApiGatewayV2::Route").values():
        target = route["Properties"]["Target"]["Fn::Sub"]
        integration = target.removeprefix("integrations/${").removesuffix("}")
        uri = integrations[integration]["Properties"]["IntegrationUri"]["Fn::GetAtt"]
        function = uri[0] if isinstance(uri, list) else uri.split(".")[0]
        in_template[route["Properties"]["RouteKey"]] = function
    in_table = {route.key: route.function for route in routes.ROUTES}
    assert in_template == in_table


def test_each_function_of_the_table_is_a_function_of_the_template(
    resources: dict[str, Any],
) -> None:
    functions = _of_type(resources, "AWS::Serverless::Function")
    for route in routes.ROUTES:
        assert route.function in functions, route.key


def test_the_distribution_sends_exactly_the_tables_paths_to_the_api(
    resources: dict[str, Any],
) -> None:
    config = resources["Distribution"]["Properties"]["DistributionConfig"]
    to_api = {b["PathPattern"] for b in config["CacheBehaviors"] if b["TargetOriginId"] == "api"}
    assert to_api == {route.cdn for route in routes.ROUTES if route.cdn is not None}
    assert all(b["TargetOriginId"] == "api" for b in config["CacheBehaviors"])


def test_the_openapi_document_has_exactly_the_tables_operations() -> None:
    with open(OPENAPI, encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    documented = {(method.upper(), path) for path, item in doc["paths"].items() for method in item}
    # HEAD is no route: the HTTP layer refuses it (405) on every routed path, and the document
    # shows that refusal on each path with a GET route (where a link checker would try it)
    heads = {(m, p) for m, p in documented if m == "HEAD"}
    assert documented - heads == {(route.method, route.path) for route in routes.ROUTES}
    assert {p for _, p in heads} == {route.path for route in routes.ROUTES if route.method == "GET"}
    for _, path in heads:
        assert set(doc["paths"][path]["head"]["responses"]) == {"405"}


def test_the_table_declares_each_route_once_with_a_view_name() -> None:
    keys = [route.key for route in routes.ROUTES]
    assert len(keys) == len(set(keys))
    for route in routes.ROUTES:
        module, _, name = route.view.partition(":")
        assert module.isidentifier() and name.isidentifier(), route.view
    assert routes.methods("/confirm") == ("GET", "POST")
    assert routes.find("POST", "/register") is routes.ROUTES[0]
    assert routes.find("GET", "/register") is None
    assert {r.key for r in routes.of_function(routes.REGISTRATION)} == {
        "POST /register",
        "GET /challenge",
    }
