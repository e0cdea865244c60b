"""The HTTP layer (`regflow.http`): the request over the v2 event, the dispatch through the one
route table (on Lambda: a function answers only its own routes; embedded: every route), the
one place that refuses HEAD, maps errors to statuses and counts metrics."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest
from starlette.testclient import TestClient

from regflow import routes
from regflow.domain import StoreUnavailable
from regflow.http import HttpApi, Request, View
from regflow.http.app import view_of
from regflow.local.app import GatewayConfig, create_app
from tests.support.events import http_event, json_post
from tests.unit.fakes import world


class Lines:
    """A metrics sink that keeps what it is given."""

    def __init__(self) -> None:
        self.values: list[dict[str, float]] = []
        self.routes: list[str] = []

    def emit(self, values: Mapping[str, float], *, unit: str = "Count", **dims: str) -> None:
        self.values.append(dict(values))
        self.routes.append(dims["route"])


# --- the request -------------------------------------------------------------------------


def test_the_request_reads_the_event_once_and_never_raises() -> None:
    event = http_event(
        "POST",
        "/register",
        body="name=J&lang=de",
        headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": "a=1; b=2"},
        query="x=1&x=2&y=3",
        source_ip="198.51.100.7",
    )
    request = Request.from_event(event)
    assert (request.method, request.path) == ("POST", "/register")
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert request.cookie("a") == "1" and request.cookie("b") == "2"
    assert request.query("x") is None and request.query("y") == "3"  # twice: as absent
    assert request.client_ip == "198.51.100.7"
    assert request.fields == ({"name": "J", "lang": "de"}, True)
    assert request.language == "de"
    for junk in ({}, {"requestContext": "x", "headers": [], "body": 42, "routeKey": 7}):
        odd = Request.from_event(junk)
        assert odd.method == "GET" and odd.client_ip is None and odd.language == "en"


def test_the_language_is_the_links_then_the_forms_then_the_headers() -> None:
    german = {"accept-language": "de"}
    link = http_event("POST", "/confirm", query="lang=fr", body="lang=es", headers=german)
    assert Request.from_event(link).language == "fr"
    form = http_event(
        "POST",
        "/register",
        body="lang=es",
        headers={**german, "content-type": "application/x-www-form-urlencoded"},
    )
    assert Request.from_event(form).language == "es"
    unreadable = http_event(
        "POST", "/register", body="{", headers={**german, "content-type": "application/json"}
    )
    assert Request.from_event(unreadable).language == "de"
    assert Request.from_event({}, default_language="fr").language == "fr"


# --- the route table, served -------------------------------------------------------------


def test_every_route_of_the_table_names_a_view() -> None:
    for route in routes.ROUTES:
        assert isinstance(view_of(route), View), route.key


def _event(route: routes.Route) -> dict[str, Any]:
    if route.method == "POST":
        return json_post(route.path, {})
    return http_event(route.method, route.path)


@pytest.mark.parametrize("route", routes.ROUTES, ids=lambda r: r.key)
def test_a_lambda_function_answers_its_own_routes_only(route: routes.Route) -> None:
    api = world().api
    assert api.handle(_event(route), route.function)["statusCode"] != 404
    for other in {r.function for r in routes.ROUTES} - {route.function}:
        answer = api.handle(_event(route), other)
        assert answer["statusCode"] == 404
        assert set(json.loads(answer["body"])) == {"error"}


def test_the_embedded_server_serves_every_route_of_the_table() -> None:
    w = world()
    client = TestClient(create_app(GatewayConfig(api=w.api)), follow_redirects=False)
    lines = Lines()
    w.api.metrics = lines
    for route in routes.ROUTES:
        client.request(route.method, route.path, json={} if route.method == "POST" else None)
    assert lines.routes == [route.name for route in routes.ROUTES]  # each reached its view


@pytest.mark.parametrize("path", routes.paths())
def test_head_is_refused_on_every_route(path: str) -> None:
    w = world()
    answer = w.api(http_event("HEAD", path))
    assert answer["statusCode"] == 405
    assert answer["headers"]["Allow"] == ", ".join(routes.methods(path))
    assert w.store.by_id == {}


def test_a_method_the_table_lacks_is_refused_with_the_paths_methods() -> None:
    answer = world().api(http_event("PUT", "/confirm"))
    assert answer["statusCode"] == 405
    assert answer["headers"]["Allow"] == "GET, POST"


def test_an_unknown_path_is_not_found() -> None:
    answer = world().api(http_event("GET", "/nowhere"))
    assert answer["statusCode"] == 404


# --- errors and metrics, in one place ----------------------------------------------------


def _observed(**env: str) -> tuple[HttpApi, Lines, Any]:
    w = world(**env)
    lines = Lines()
    w.api.metrics = lines
    return w.api, lines, w


def test_a_store_that_is_down_is_a_503_page_for_the_erasure_and_counts_http5xx_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    api, lines, w = _observed()

    def down(*args: object, **kwargs: object) -> None:
        raise StoreUnavailable(retry_after=2)

    monkeypatch.setattr(w.intake, "erase", down)
    answer = api(
        http_event(
            "POST",
            "/erase",
            body="token=x",
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
    )
    assert answer["statusCode"] == 503
    assert answer["headers"]["Retry-After"] == "2"
    assert answer["headers"]["Content-Type"].startswith("text/html")
    assert lines.values == [{"Http5xx": 1.0}]


def test_a_refused_request_counts_the_views_otherwise() -> None:
    api, lines, _ = _observed()
    api(http_event("HEAD", "/erase"))
    api(json_post("/register", {"name": "", "email": "x"}))
    api(http_event("POST", "/register", body="x", headers={"content-type": "text/plain"}))
    assert lines.values == [
        {"Http4xx": 1.0, "ErasureInvalid": 1.0},
        {"Http4xx": 1.0, "RegistrationRejected": 1.0},
        {"Http4xx": 1.0, "RegistrationRejected": 1.0},
    ]


def test_an_unexpected_error_is_a_plain_500_without_its_text(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    api, lines, w = _observed()

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret detail")

    monkeypatch.setattr(w.intake, "issue_challenge", broken)
    answer = api(http_event("GET", "/challenge"))
    assert answer["statusCode"] == 500
    assert "secret detail" not in answer["body"]
    assert set(json.loads(answer["body"])) == {"error"}
    assert lines.values == [{"Http5xx": 1.0}]
