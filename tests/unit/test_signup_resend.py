"""The expired page's "send me a new link" (POST /resend) through the HTTP adapter: a fresh
link under the same limits, and one answer whatever happens."""

from __future__ import annotations

import json
from typing import Any

from regflow.domain import Status
from tests.support.events import form_post, http_event, json_post, say
from tests.unit.fakes import World, world

SUCCESS = "https://www.example.org/confirmed.html"


def register(w: World, email: str = "jane@example.com") -> str:
    """Register and deliver; the token of the link mailed."""
    response = w.api(json_post("/register", {"name": "Jane", "email": email}))
    assert response["statusCode"] == 202
    w.drain()
    reg = max(w.store.by_id.values(), key=lambda r: r.timestamp)
    return w.signer.issue(reg.id, reg.addr_key)


def resend(w: World, token: str, **kwargs: Any) -> dict[str, Any]:
    return w.api(json_post("/resend", {"token": token}, **kwargs))


def answer_of(response: dict[str, Any]) -> tuple[int, Any]:
    return response["statusCode"], json.loads(response["body"])


ACCEPTED = (202, {"message": say("api.signup_resend.accepted")})


def test_an_expired_link_lands_on_the_expired_page_with_its_token_in_the_fragment() -> None:
    w = world()
    token = register(w)
    w.clock.advance(hours=25)
    response = w.api(http_event("GET", "/confirm", query={"token": token}))
    assert response["headers"]["Location"] == f"{SUCCESS}?status=expired#resend={token}"
    invalid = w.api(http_event("GET", "/confirm", query={"token": "x" * 64}))
    assert invalid["headers"]["Location"] == f"{SUCCESS}?status=invalid"  # no fragment


def test_resend_mails_a_fresh_link_that_confirms() -> None:
    w = world(ADDRESS_MIN_INTERVAL_SECONDS="0")
    token = register(w)
    w.clock.advance(hours=25)
    assert answer_of(resend(w, token)) == ACCEPTED
    assert len(w.store.by_id) == 2
    w.drain()
    assert len(w.mailer.sent) == 2
    fresh = w.mailer.sent[-1]
    assert fresh.to == "jane@example.com"
    new = max(w.store.by_id.values(), key=lambda r: r.timestamp)
    new_token = w.signer.issue(new.id, new.addr_key)
    assert new_token != token and new_token in fresh.text
    assert new.name == "Jane" and new.language == "en"
    assert w.intake.confirm(new_token).value == "confirmed"


def test_beyond_the_address_limit_nothing_is_sent_and_the_answer_is_the_same() -> None:
    w = world(ADDRESS_MIN_INTERVAL_SECONDS="0", ADDRESS_LIMIT_PER_DAY="2", TOKEN_TTL_HOURS="1")
    token = register(w)
    w.clock.advance(hours=2)  # expired, and still inside the address's 24-hour window
    within = resend(w, token)  # the second send of the day
    w.clock.advance(minutes=1)
    beyond = resend(w, token)  # the third: limited
    w.drain()
    assert len(w.store.by_id) == 2 and len(w.mailer.sent) == 2
    assert answer_of(within) == answer_of(beyond) == ACCEPTED
    assert within["headers"] == beyond["headers"] and "cookies" not in beyond


def test_forged_confirmed_and_erased_registrations_get_the_same_answer() -> None:
    w = world(ADDRESS_MIN_INTERVAL_SECONDS="0")
    token = register(w)
    assert w.intake.confirm(token).value == "confirmed"
    confirmed = resend(w, token)
    forged = resend(w, token[:-2] + ("AA" if token[-2:] != "AA" else "BB"))
    missing = resend(w, "")
    other = register(w, "erased@example.com")
    (gone,) = [r for r in w.store.by_id.values() if r.email == "erased@example.com"]
    w.store.delete_address(gone.addr_key, gone.limit_key)
    erased = resend(w, other)
    for response in (confirmed, forged, missing, erased):
        assert answer_of(response) == ACCEPTED
    assert [r.status for r in w.store.by_id.values()] == [Status.CONFIRMED]


def test_client_limited_is_the_same_answer_too() -> None:
    w = world(ADDRESS_MIN_INTERVAL_SECONDS="0", IP_LIMIT_PER_HOUR="1")
    token = register(w)  # the client's one post of the hour
    limited = resend(w, token)
    assert answer_of(limited) == ACCEPTED
    assert len(w.store.by_id) == 1


def test_the_expired_pages_form_post_lands_on_the_resent_page() -> None:
    w = world(ADDRESS_MIN_INTERVAL_SECONDS="0")
    token = register(w)
    response = w.api(form_post("/resend", {"token": token, "lang": "de"}))
    assert response["statusCode"] == 303
    assert response["headers"]["Location"] == f"{SUCCESS}?status=resent&lang=de"
    plain = w.api(form_post("/resend", {"token": "nope"}))
    assert plain["headers"]["Location"] == f"{SUCCESS}?status=resent"
