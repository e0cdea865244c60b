"""CHALLENGE=pow through the HTTP adapter: GET /challenge, and POST /register with a solution
that is solved, unsolved, replayed, expired, forged or of another difficulty (the stores'
single use: tests/contract/test_challenge_contract.py)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import pytest

from regflow.challenge import ChallengeIssuer, challenge_key, issuer_for
from tests.support.events import http_event, json_post, say
from tests.unit.fakes import World, world

SECRET = b"c" * 32
REFUSED = {"error": say("error.signup_challenge.invalid"), "field": "challenge"}


def pow_world(**env: str) -> World:
    w = world(CHALLENGE="pow", CHALLENGE_DIFFICULTY="200", **env)
    w.intake.challenges = issuer_for(w.settings.rules, SECRET)
    return w


def fetch(w: World) -> dict[str, Any]:
    response = w.api(http_event("GET", "/challenge"))
    assert response["statusCode"] == 200
    task: dict[str, Any] = json.loads(response["body"])
    return task


def solve(task: dict[str, Any], **override: Any) -> str:
    number = next(
        n
        for n in range(task["maxnumber"] + 1)
        if hashlib.sha256(f"{task['salt']}{n}".encode()).hexdigest() == task["challenge"]
    )
    payload = {k: task[k] for k in ("algorithm", "challenge", "salt", "signature")}
    payload["number"] = number
    payload.update(override)
    return base64.b64encode(json.dumps(payload).encode()).decode()


def post(w: World, email: str, solution: str | None, ip: str = "198.51.100.1") -> Any:
    body: dict[str, Any] = {"name": "Jane", "email": email}
    if solution is not None:
        body["challenge"] = solution
    response = w.api(json_post("/register", body, source_ip=ip))
    return response["statusCode"], json.loads(response["body"])


def test_the_challenge_is_altcha_shaped_and_signed() -> None:
    w = pow_world()
    task = fetch(w)
    assert set(task) == {"algorithm", "challenge", "maxnumber", "salt", "signature"}
    assert task["algorithm"] == "SHA-256" and task["maxnumber"] == 200
    expires = int(w.clock().timestamp()) + 300
    assert task["salt"].endswith(f"?expires={expires}&max=200")
    key = challenge_key(SECRET)
    assert task["signature"] == hmac.new(key, task["challenge"].encode(), "sha256").hexdigest()


def test_solved_registers_once_and_a_replay_is_refused() -> None:
    w = pow_world(ADDRESS_MIN_INTERVAL_SECONDS="0")
    solution = solve(fetch(w))
    assert post(w, "jane@example.com", solution)[0] == 202
    assert post(w, "john@example.com", solution) == (400, REFUSED)  # replayed
    assert [r.email for r in w.store.by_id.values()] == ["jane@example.com"]


@pytest.mark.parametrize("missing", [None, "", "not base64!", base64.b64encode(b"[1]").decode()])
def test_without_a_solution_the_api_refuses(missing: str | None) -> None:
    w = pow_world()
    assert post(w, "jane@example.com", missing) == (400, REFUSED)
    assert not w.store.by_id


def test_unsolved_forged_expired_and_other_difficulty_are_refused() -> None:
    w = pow_world()
    task = fetch(w)
    good = solve(task)
    wrong_number = json.loads(base64.b64decode(good))["number"] + 1
    unsolved = solve(task, number=wrong_number)
    forged = solve(task, signature="0" * 64)
    other_key = ChallengeIssuer(challenge_key(b"x" * 32), difficulty=200).issue(
        w.clock().timestamp()
    )
    easier = ChallengeIssuer(challenge_key(SECRET), difficulty=10).issue(w.clock().timestamp())
    for solution in (unsolved, forged, solve(other_key), solve(easier)):
        assert post(w, "jane@example.com", solution) == (400, REFUSED)
    w.clock.advance(seconds=301)
    assert post(w, "jane@example.com", good) == (400, REFUSED)  # expired
    assert not w.store.by_id


def test_a_limited_post_spends_its_solution_too() -> None:
    w = pow_world(ADDRESS_LIMIT_PER_DAY="1", ADDRESS_MIN_INTERVAL_SECONDS="0")
    assert post(w, "jane@example.com", solve(fetch(w)))[0] == 202
    limited = solve(fetch(w))
    assert post(w, "jane@example.com", limited)[0] == 202  # the same answer: limited
    assert post(w, "john@example.com", limited) == (400, REFUSED)


def test_a_form_post_without_javascript_is_sent_back_with_the_field() -> None:
    w = pow_world()
    from tests.support.events import form_post

    response = w.api(form_post("/register", {"name": "J", "email": "j@example.com"}))
    assert response["statusCode"] == 303
    assert response["headers"]["Location"].endswith("?status=error&field=challenge")


def test_off_by_default() -> None:
    w = world()
    assert w.settings.rules.challenge is False
    off = w.api(http_event("GET", "/challenge"))
    assert (off["statusCode"], off["body"]) == (204, "")
    assert post(w, "jane@example.com", None)[0] == 202
