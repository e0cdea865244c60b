"""Settings.from_env: every variable, its default, and errors that name the variable."""

from __future__ import annotations

import dataclasses
import ipaddress
from pathlib import Path

import pytest

from regflow.config import EMBEDDED_DEFAULTS, ConfirmMode, Settings
from regflow.domain import ConfigError, Limit

REQUIRED = {
    "SENDER_EMAIL": "no-reply@example.org",
    "OWNER_EMAIL": "owner@example.org",
    "API_BASE_URL": "https://api.example.org",
    "SUCCESS_URL": "https://www.example.org/confirmed.html",
}


def test_defaults() -> None:
    s = Settings.from_env(REQUIRED)
    assert s.mail.sender_email == "no-reply@example.org"
    assert s.mail.owner_email == "owner@example.org"
    assert s.mail.api_base_url == "https://api.example.org"
    assert s.http.success_url == "https://www.example.org/confirmed.html"
    assert s.aws.table_name == "UserRegistrations"
    assert s.http.register_page_url == "/"
    assert s.rules.token_ttl_hours == 24
    assert s.aws.token_secret_arn is None
    assert s.token_secret is None
    assert s.rules.address_min_interval_seconds == 60
    assert s.rules.address_limit_per_day == 5
    assert s.rules.ip_limit_per_hour == 20
    assert s.rules.blocked_email_domains == frozenset()
    assert s.http.confirm_mode is ConfirmMode.LINK
    assert s.http.trusted_proxies == ()
    assert s.http.origin_verify_secret is None
    assert s.http.site_name == "regflow"
    assert s.log_level == "INFO"
    assert s.rules.address_limit == Limit(
        max_count=5, window_seconds=86400, min_interval_seconds=60
    )
    assert s.rules.client_limit == Limit(max_count=20, window_seconds=3600)
    assert s.mail.confirm_url == "https://api.example.org/confirm"


def test_every_variable_is_read() -> None:
    env = {
        **REQUIRED,
        "API_BASE_URL": "https://api.example.org/prod/",
        "TABLE_NAME": "OtherTable",
        "REGISTER_PAGE_URL": "https://www.example.org/register.html",
        "TOKEN_TTL_HOURS": "48",
        "TOKEN_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:regflow",
        "TOKEN_SECRET": "z" * 40,
        "ADDRESS_MIN_INTERVAL_SECONDS": "30",
        "ADDRESS_LIMIT_PER_DAY": "3",
        "IP_LIMIT_PER_HOUR": "0",
        "BLOCKED_EMAIL_DOMAINS": " Mailinator.com, @spam.example ,,",
        "CONFIRM_MODE": "BUTTON",
        "TRUSTED_PROXIES": "10.0.0.0/8, 127.0.0.1, ::1",
        "ORIGIN_VERIFY_SECRET": "origin-verify-value",
        "SITE_NAME": "Example Club",
        "LOG_LEVEL": "debug",
    }
    s = Settings.from_env(env)
    assert s.mail.api_base_url == "https://api.example.org/prod"
    assert s.mail.confirm_url == "https://api.example.org/prod/confirm"
    assert s.aws.table_name == "OtherTable"
    assert s.http.register_page_url == "https://www.example.org/register.html"
    assert s.rules.token_ttl_hours == 48
    assert s.aws.token_secret_arn == env["TOKEN_SECRET_ARN"]
    assert s.token_secret == b"z" * 40
    assert s.rules.address_min_interval_seconds == 30
    assert s.rules.address_limit_per_day == 3
    assert s.rules.ip_limit_per_hour == 0
    assert not s.rules.client_limit.enabled
    assert s.rules.blocked_email_domains == frozenset({"mailinator.com", "spam.example"})
    assert s.http.confirm_mode is ConfirmMode.BUTTON
    assert s.http.trusted_proxies == (
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("127.0.0.1/32"),
        ipaddress.ip_network("::1/128"),
    )
    assert s.http.origin_verify_secret == "origin-verify-value"
    assert "origin-verify-value" not in repr(s)
    assert s.http.site_name == "Example Club"
    assert s.log_level == "DEBUG"


def test_settings_are_frozen_and_secret_not_in_repr() -> None:
    s = Settings.from_env({**REQUIRED, "TOKEN_SECRET": "topsecret-" * 4})
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.aws.table_name = "x"  # type: ignore[misc]
    assert "topsecret" not in repr(s)


def test_addresses_are_normalized() -> None:
    s = Settings.from_env({**REQUIRED, "OWNER_EMAIL": " Owner@EXAMPLE.org "})
    assert s.mail.owner_email == "Owner@example.org"


def test_empty_values_count_as_unset() -> None:
    s = Settings.from_env({**REQUIRED, "TABLE_NAME": "", "TOKEN_TTL_HOURS": ""})
    assert s.aws.table_name == "UserRegistrations"
    assert s.rules.token_ttl_hours == 24


@pytest.mark.parametrize("name", sorted(REQUIRED))
@pytest.mark.parametrize("value", [None, "", "   "])
def test_missing_required_variable_is_named(name: str, value: str | None) -> None:
    env = dict(REQUIRED)
    if value is None:
        del env[name]
    else:
        env[name] = value
    with pytest.raises(ConfigError, match=name):
        Settings.from_env(env)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SENDER_EMAIL", "not-an-address"),
        ("OWNER_EMAIL", "owner@"),
        ("API_BASE_URL", "api.example.org"),
        ("API_BASE_URL", "ftp://api.example.org"),
        ("SUCCESS_URL", "/confirmed.html"),
        ("SUCCESS_URL", "https://"),
        ("TOKEN_TTL_HOURS", "abc"),
        ("TOKEN_TTL_HOURS", "0"),
        ("TOKEN_TTL_HOURS", "721"),
        ("TOKEN_TTL_HOURS", "1.5"),
        ("TOKEN_SECRET", "too-short"),
        ("ADDRESS_MIN_INTERVAL_SECONDS", "-1"),
        ("ADDRESS_MIN_INTERVAL_SECONDS", "86401"),
        ("ADDRESS_LIMIT_PER_DAY", "-1"),
        ("ADDRESS_LIMIT_PER_DAY", "five"),
        ("IP_LIMIT_PER_HOUR", "-5"),
        ("IP_LIMIT_PER_HOUR", "1000001"),
        ("CONFIRM_MODE", "click"),
        ("TRUSTED_PROXIES", "10.0.0.0/8,not-a-network"),
        ("LOG_LEVEL", "LOUD"),
    ],
)
def test_bad_value_is_named(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({**REQUIRED, name: value})


@pytest.mark.parametrize(
    ("name", "low", "high"),
    [
        ("TOKEN_TTL_HOURS", 1, 720),
        ("ADDRESS_MIN_INTERVAL_SECONDS", 0, 86400),
        ("ADDRESS_LIMIT_PER_DAY", 0, 10000),
        ("IP_LIMIT_PER_HOUR", 0, 1_000_000),
    ],
)
def test_integer_bounds_are_inclusive(name: str, low: int, high: int) -> None:
    attr = {
        "TOKEN_TTL_HOURS": "token_ttl_hours",
        "ADDRESS_MIN_INTERVAL_SECONDS": "address_min_interval_seconds",
        "ADDRESS_LIMIT_PER_DAY": "address_limit_per_day",
        "IP_LIMIT_PER_HOUR": "ip_limit_per_hour",
    }[name]
    for value in (low, high):
        assert getattr(Settings.from_env({**REQUIRED, name: str(value)}).rules, attr) == value


def test_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in REQUIRED.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("IP_LIMIT_PER_HOUR", "7")
    assert Settings.from_env().rules.ip_limit_per_hour == 7


def test_embedded_defaults_fill_only_missing_values() -> None:
    env = {"API_BASE_URL": "http://127.0.0.1:8000", "SUCCESS_URL": "http://127.0.0.1:8000/c"}
    s = Settings.from_env(env, defaults=EMBEDDED_DEFAULTS)
    assert s.mail.sender_email == "no-reply@localhost"
    assert s.mail.owner_email == "owner@localhost"
    s = Settings.from_env({**env, "OWNER_EMAIL": "me@example.org"}, defaults=EMBEDDED_DEFAULTS)
    assert s.mail.owner_email == "me@example.org"
    # An empty variable does not hide the default.
    s = Settings.from_env({**env, "SENDER_EMAIL": ""}, defaults=EMBEDDED_DEFAULTS)
    assert s.mail.sender_email == "no-reply@localhost"


def test_without_embedded_defaults_sender_is_required() -> None:
    env = {"API_BASE_URL": "http://127.0.0.1:8000", "SUCCESS_URL": "http://127.0.0.1:8000/c"}
    with pytest.raises(ConfigError, match="SENDER_EMAIL"):
        Settings.from_env(env)


def test_localhost_addresses_are_checked_too() -> None:
    env = {**REQUIRED, "SENDER_EMAIL": "No-Reply@LOCALHOST"}
    assert Settings.from_env(env).mail.sender_email == "No-Reply@localhost"
    with pytest.raises(ConfigError, match="SENDER_EMAIL"):
        Settings.from_env({**REQUIRED, "SENDER_EMAIL": "bad local@localhost"})
    with pytest.raises(ConfigError, match="OWNER_EMAIL"):
        Settings.from_env({**REQUIRED, "OWNER_EMAIL": "@localhost"})


def test_an_explicit_empty_environment_is_not_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in REQUIRED.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError, match="SENDER_EMAIL"):
        Settings.from_env({})
    s = Settings.from_env({}, defaults={**REQUIRED, "TABLE_NAME": "FromDefaults"})
    assert s.aws.table_name == "FromDefaults"


@pytest.mark.parametrize(
    "value",
    [
        "a..b@example.org",
        ".a@example.org",
        "a@-example.org",
        "a@example",
        "a@exa_mple.org",
        "jäne@example.org",
        "a b@example.org",
        "a@exam\nple.org",
        "x" * 65 + "@example.org",
        "a@" + "b" * 250 + ".org",
    ],
)
def test_operator_addresses_get_a_syntax_check(value: str) -> None:
    with pytest.raises(ConfigError, match="OWNER_EMAIL is not a valid email address"):
        Settings.from_env({**REQUIRED, "OWNER_EMAIL": value})


def test_start_up_does_not_load_email_validator() -> None:
    """Operator addresses are checked without it: the confirm handler never needs it, and the
    register handler loads it on its first request (see bench/cold_start.py)."""
    import subprocess
    import sys

    code = (
        "import sys; from regflow.config import Settings; "
        f"Settings.from_env({dict(REQUIRED)!r}); "
        "print('email_validator' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "False"


# --- issue 27: TEMPLATES_DIR holds code (templates): only its owner may change it -------------


def _words(tmp_path: Path) -> Path:
    folder = tmp_path / "words"
    (folder / "templates" / "pages").mkdir(parents=True)
    (folder / "templates" / "pages" / "erase.j2").write_text("x", "utf-8")
    for path in (folder, folder / "templates", folder / "templates" / "pages"):
        path.chmod(0o755)
    (folder / "templates" / "pages" / "erase.j2").chmod(0o644)
    return folder


def test_an_owner_only_templates_dir_is_accepted(tmp_path: Path) -> None:
    folder = _words(tmp_path)
    assert Settings.from_env({**REQUIRED, "TEMPLATES_DIR": str(folder)}).http.templates_dir == (
        folder
    )


@pytest.mark.parametrize(
    ("relative", "mode"),
    [
        (".", 0o775),
        (".", 0o757),
        ("templates", 0o777),
        ("templates/pages", 0o775),
        ("templates/pages/erase.j2", 0o664),
        ("templates/pages/erase.j2", 0o646),
    ],
)
def test_a_templates_dir_others_can_write_stops_start_up(
    tmp_path: Path, relative: str, mode: int
) -> None:
    folder = _words(tmp_path)
    target = folder / relative
    target.chmod(mode)
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({**REQUIRED, "TEMPLATES_DIR": str(folder)})
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("TEMPLATES_DIR: ")
    assert f"{target} can be written" in message
    assert "other users" in message


def test_a_writable_file_behind_a_symbolic_link_stops_start_up(tmp_path: Path) -> None:
    folder = _words(tmp_path)
    outside = tmp_path / "elsewhere.j2"
    outside.write_text("x", "utf-8")
    outside.chmod(0o666)
    (folder / "templates" / "pages" / "problem.j2").symlink_to(outside)
    with pytest.raises(ConfigError, match=r"problem\.j2 can be written by other users"):
        Settings.from_env({**REQUIRED, "TEMPLATES_DIR": str(folder)})
