"""Issue 9: the input rules an attacker walked around, the export that changed ids, log lines
that broke on bad text, and the IAM sender condition. Each failed before its fix."""

from __future__ import annotations

import csv
import io
import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from regflow import logs
from regflow.adapters.sqlite import SQLiteStore
from regflow.cli import main
from regflow.domain import Limit, Registration, Status, ValidationError
from regflow.validation import LOCAL_PART_MAX, clean_email, clean_name, contains_link
from tests.support import iam
from tests.support.aws import load_template
from tests.support.events import http_event
from tests.support.names import INITIALS_NAMES, LINK_NAMES
from tests.unit.fakes import world

# --- names -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "Jean-Luc O'Neill",
        "José María",
        "李小龙",
        "Dr. Jane Doe",
        "J. R. R. Tolkien",
        "J.R.R. Tolkien",
        "Mary-Kate St. John",
        "Ph.D. Jane",
        "Zoë Ñúñez-Łukasz",
        "Александр Пушкин",
        "محمد",
        "O'Brien & Sons",
        "Jane (she/her)",
        "A. B.",
    ],
)
def test_legitimate_names_pass(name: str) -> None:
    assert clean_name(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "Claim your prize at evil-site.com/win",
        "evil.example",
        "visit bit.ly/abc",
        "http:\u200b//evil.example",  # zero-width space
        "http\uff1a//evil.example",  # full-width colon
        "https\uff1a\uff0f\uff0fevil",  # full-width colon and slashes
        "evil\uff0ecom",  # full-width full stop
        "evil\u3002com",  # ideographic full stop
        "Jane \u202emoc.live\u202c",  # a bidi override
        "Ja\u200dne",  # zero-width joiner
        "Jane\ufeff",  # BOM
        "Jane\u2066Doe\u2069",  # bidi isolates
        "=?utf-8?q?visit_http=3A//evil.example/login?=",
        "=?UTF-8?B?aHR0cDovL2V2aWwuZXhhbXBsZQ==?=",
        "Jane\ud800x",  # a lone surrogate
        "\ud800",
        "Jane\ue000",  # private use
        "Jane\u0378",  # unassigned
        "www.example",
        "WWW .example",
        "javascript:alert(1)",
        "hxxp://evil",
        "mail me: jane@evil.example",
        "".join(chr(ord(c) + 0xFEE0) for c in "WWW.evil.com"),  # all full-width
    ],
)
def test_hostile_names_are_refused(name: str) -> None:
    with pytest.raises(ValidationError) as info:
        clean_name(name)
    assert info.value.field == "name"


@pytest.mark.parametrize("name", LINK_NAMES)
def test_names_with_one_letter_labels_or_an_ip_address_are_refused(name: str) -> None:
    """Issue 27: one-letter labels (short-link hosts) and dotted IPv4 fell through the rule
    kept for initials, and were mailed from the site's sender."""
    assert contains_link(name)
    with pytest.raises(ValidationError) as info:
        clean_name(name)
    assert (info.value.field, info.value.key) == ("name", "error.name.link")


@pytest.mark.parametrize("name", INITIALS_NAMES)
def test_initials_and_numbers_still_pass(name: str) -> None:
    assert not contains_link(name)
    assert clean_name(name) == name


def test_the_link_rule_stays_fast_on_hostile_text_ten_times_a_name() -> None:
    import time

    started = time.perf_counter()
    for text in ("a." * 500 + "!", "A.B" * 300 + "-", "1." * 400, "a-" * 500 + ".com!"):
        contains_link(text)
    assert time.perf_counter() - started < 1.0


def test_names_are_stored_in_nfkc() -> None:
    assert clean_name("\uff2aane") == "Jane"  # full-width J
    assert clean_name("ﬁona") == "fiona"  # the ligature


# --- addresses -----------------------------------------------------------------------------------


def test_local_part_over_64_octets_is_refused() -> None:
    ok = "a" * LOCAL_PART_MAX + "@example.com"
    assert clean_email(ok) == ok
    with pytest.raises(ValidationError) as info:
        clean_email("a" * (LOCAL_PART_MAX + 1) + "@example.com")
    assert info.value.field == "email"


@pytest.mark.parametrize(
    "email", ["jane\ud800@example.com", "jane@exa\udfffmple.com", "\ud800", "jane@\x00.com"]
)
def test_bad_text_in_the_address_is_a_field_error(email: str) -> None:
    with pytest.raises(ValidationError) as info:
        clean_email(email)
    assert info.value.field == "email"


def test_surrogate_json_is_a_400_with_a_field_error_and_stores_nothing() -> None:
    w = world()
    before = w.snapshot()
    for body, field in [
        ('{"name": "\\ud800x", "email": "jane@example.com"}', "name"),
        ('{"name": "Jane", "email": "jane\\udc00@example.com"}', "email"),
    ]:
        event = http_event(
            "POST", "/register", body=body, headers={"content-type": "application/json"}
        )
        response = w.api(event)
        assert response["statusCode"] == 400
        assert json.loads(response["body"])["field"] == field
    assert w.snapshot() == before


# --- HEAD and POST /confirm (the adapter, both paths) -------------------------------------------


def test_head_confirm_changes_nothing() -> None:
    w = world()
    w.intake.register("Jane", "jane@example.com")
    [entry] = w.owed()
    token = w.signer.issue(entry.registration.id, entry.registration.addr_key)
    before = w.snapshot()
    response = w.api(http_event("HEAD", "/confirm", query={"token": token}))
    assert response["statusCode"] == 405
    assert w.snapshot() == before


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/json", "multipart/form-data; boundary=x", ""]
)
def test_post_confirm_wants_a_form(content_type: str) -> None:
    w = world()
    w.intake.register("Jane", "jane@example.com")
    [entry] = w.owed()
    token = w.signer.issue(entry.registration.id, entry.registration.addr_key)
    before = w.snapshot()
    headers = {"content-type": content_type} if content_type else {}
    event = http_event("POST", "/confirm", body=f"token={token}", headers=headers)
    assert w.api(event)["statusCode"] == 415
    assert w.snapshot() == before


# --- logs -------------------------------------------------------------------------------------


def test_a_log_record_with_a_lone_surrogate_is_one_valid_line() -> None:
    record = logging.LogRecord("regflow.x", logging.INFO, __file__, 1, "bad %s", ("\ud800",), None)
    line = logs.JsonFormatter().format(record)
    line.encode("utf-8")  # writable to any UTF-8 stream
    assert json.loads(line)["message"] == "bad \ud800"


# --- export ---------------------------------------------------------------------------------------


def test_export_keeps_ids_exact_and_guards_free_text(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "regflow.db")
    off = Limit(max_count=0, window_seconds=60)
    at = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    ids = ["-AAAAAAAAAAAAAAAAAAAAA", "=AAAAAAAAAAAAAAAAAAAAB"[1:] + "-", "+" + "C" * 21]
    for i, rid in enumerate(ids):
        r = Registration(
            id=rid,
            name="-1+1" if i == 0 else "Jane",
            email=f"u{i}@example.com",
            status=Status.PENDING,
            timestamp=at + timedelta(seconds=i),
            ttl=int((at + timedelta(hours=24)).timestamp()),
        )
        store.create_pending(r, address_limit=off, client_key=None, client_limit=off)
        store.confirm(r.id, r.addr_key, at + timedelta(minutes=1))
    store.close()
    out = io.StringIO()
    assert main(["export", "--data-dir", str(tmp_path)], out=out) == 0
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    # in confirmation order (all at one moment here: then by id)
    assert [r["id"] for r in rows] == sorted(ids)
    by_id = {r["id"]: r for r in rows}
    assert by_id[ids[0]]["name"] == "'-1+1"  # the free text is still guarded


# --- the IAM sender condition ------------------------------------------------------------------


def test_ses_sender_condition_matches_what_the_code_sends() -> None:
    """The code lowercases the configured sender's domain; the policy must still match when
    SenderEmail was typed with capitals."""
    from regflow.config import Settings

    typed = "No-Reply@Regflow.EXAMPLE"
    settings = Settings.from_env(
        {
            "SENDER_EMAIL": typed,
            "OWNER_EMAIL": "o@example.com",
            "API_BASE_URL": "https://x.example",
            "SUCCESS_URL": "https://x.example/ok",
        }
    )
    template = load_template()
    raws = [
        s
        for r in template["Resources"].values()
        if r.get("Type") == "AWS::IAM::Role"
        for p in r["Properties"].get("Policies", [])
        for s in p["PolicyDocument"]["Statement"]
        if s.get("Sid") == "SendMail"
    ]
    assert len(raws) == 3  # the mail sender's, the parked-message recovery's, the owner digest's
    for raw in raws:
        _allows_the_sender(raw, typed, settings.mail.sender_email)


def _allows_the_sender(raw: dict[str, Any], typed: str, sender: str) -> None:
    conditions = {
        op: dict.fromkeys(keys, (typed,)) for op, keys in raw["Condition"].items()
    }  # SenderEmail resolved as typed
    statement = iam.Statement("SendMail", ("ses:SendRawEmail",), ("*",), conditions)
    sent = iam.Request("ses:SendRawEmail", "x", {"ses:FromAddress": (sender,)})
    assert sender != typed  # the code did change it
    assert iam.statement_allows(statement, sent)
    other = iam.Request("ses:SendRawEmail", "x", {"ses:FromAddress": ("ceo@regflow.example",)})
    assert not iam.statement_allows(statement, other)
