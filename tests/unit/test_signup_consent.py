"""Proof of consent through the HTTP adapter (CONSENT_IP, CONSENT_TEXT_VERSION), in
`regflow export`, and gone after `regflow delete`."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from regflow.adapters.sqlite import SQLiteStore
from regflow.cli import main
from regflow.domain import Consent, ConsentIp, Limit, Registration, Status, consent_address
from regflow.tokens import new_registration_id
from tests.support.events import http_event, json_post
from tests.unit.fakes import world

UA = "Mozilla/5.0 " + "x" * 300


@pytest.mark.parametrize(
    ("ip", "mode", "kept"),
    [
        ("198.51.100.77", ConsentIp.FULL, "198.51.100.77"),
        ("198.51.100.77", ConsentIp.TRUNCATED, "198.51.100.0/24"),
        ("198.51.100.77", ConsentIp.NONE, None),
        ("2001:db8:abcd:12:1::7", ConsentIp.FULL, "2001:db8:abcd:12:1::7"),
        ("2001:db8:abcd:12:1::7", ConsentIp.TRUNCATED, "2001:db8:abcd::/48"),
        ("2001:db8:abcd:12:1::7", ConsentIp.NONE, None),
        ("::ffff:198.51.100.77", ConsentIp.TRUNCATED, "198.51.100.0/24"),
        ("not an address", ConsentIp.FULL, None),
        (None, ConsentIp.FULL, None),
    ],
)
def test_truncation_modes(ip: str | None, mode: ConsentIp, kept: str | None) -> None:
    assert consent_address(ip, mode) == kept


@pytest.mark.parametrize(
    ("mode", "signup_ip", "confirm_ip"),
    [
        ("full", "198.51.100.77", "2001:db8:abcd:12:1::7"),
        ("truncated", "198.51.100.0/24", "2001:db8:abcd::/48"),
        ("none", None, None),
    ],
)
def test_sign_up_and_confirmation_are_recorded(
    mode: str, signup_ip: str | None, confirm_ip: str | None
) -> None:
    w = world(CONSENT_IP=mode, CONSENT_TEXT_VERSION="2026-11")
    post = json_post(
        "/register",
        {"name": "Jane", "email": "jane@example.com"},
        source_ip="198.51.100.77",
        headers={"user-agent": UA},
    )
    assert w.api(post)["statusCode"] == 202
    (reg,) = w.store.by_id.values()
    assert reg.signup_consent == Consent(signup_ip, UA[:200], "2026-11")
    w.clock.advance(minutes=3)
    token = w.signer.issue(reg.id, reg.addr_key)
    click = http_event(
        "GET",
        "/confirm",
        query={"token": token},
        source_ip="2001:db8:abcd:12:1::7",
        headers={"user-agent": "Phone/1.0"},
    )
    assert w.api(click)["headers"]["Location"].endswith("status=confirmed")
    done = w.store.by_id[reg.id]
    assert done.status is Status.CONFIRMED and done.confirmed_at == w.clock()
    assert done.timestamp == reg.timestamp  # the sign-up's time
    assert done.confirm_consent == Consent(confirm_ip, "Phone/1.0", "2026-11")


def test_defaults_truncate_and_version_one() -> None:
    w = world()
    post = json_post("/register", {"name": "J", "email": "j@example.com"}, source_ip="192.0.2.9")
    w.api(post)
    (reg,) = w.store.by_id.values()
    assert reg.signup_consent is not None
    assert (reg.signup_consent.ip, reg.signup_consent.text_version) == ("192.0.2.0/24", "1")


T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
OFF = Limit(max_count=0, window_seconds=60)


def _run(*argv: str) -> str:
    out = io.StringIO()
    assert main(list(argv), out=out) == 0
    return out.getvalue()


def test_export_carries_consent_and_delete_erases_it(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "regflow.db")
    r = Registration(
        id=new_registration_id(),
        name="Jane",
        email="jane@example.com",
        status=Status.PENDING,
        timestamp=T0,
        ttl=int((T0 + timedelta(hours=24)).timestamp()),
        signup_consent=Consent("198.51.100.0/24", "=cmd|' /C calc'!A0", "7"),
    )
    store.create_pending(r, address_limit=OFF, client_key=None, client_limit=OFF)
    confirm = Consent("2001:db8:1::/48", "Phone/1.0", "7")
    store.confirm(r.id, r.addr_key, T0 + timedelta(minutes=2), consent=confirm)
    store.close()
    (row,) = csv.DictReader(io.StringIO(_run("export", "--data-dir", str(tmp_path))))
    assert row["signup_ip"] == "198.51.100.0/24"
    assert row["signup_user_agent"] == "'=cmd|' /C calc'!A0"  # no formula in a spreadsheet
    assert row["signup_consent_version"] == row["confirm_consent_version"] == "7"
    assert (row["confirm_ip"], row["confirm_user_agent"]) == ("2001:db8:1::/48", "Phone/1.0")
    (item,) = json.loads(_run("export", "--data-dir", str(tmp_path), "--format", "json"))
    assert item["signup_user_agent"] == "=cmd|' /C calc'!A0"
    assert item["timestamp"] == T0.isoformat()
    _run("delete", "--data-dir", str(tmp_path), "--email", "jane@example.com")
    store = SQLiteStore(tmp_path / "regflow.db")
    try:
        assert list(store.registrations()) == []
    finally:
        store.close()
