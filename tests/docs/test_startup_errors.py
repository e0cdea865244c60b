"""The promise of docs/configuration.md and docs/troubleshooting.md: a bad value of any setting
`regflow serve` reads stops start-up with one line naming the variable (and exit status 2),
never a traceback. Every variable of the embedded and both tables is either given a bad value
here or listed as free text; a new variable must be put in one of the two."""

from __future__ import annotations

from pathlib import Path

import pytest

from regflow import cli
from tests.docs.test_reference import documented_settings
from tests.support.server import free_port

# variable -> a value it refuses (no value needs the network: 192.0.2.1 is TEST-NET-1, an
# address this machine does not have, so binding fails without a DNS lookup)
BAD = {
    "SENDER_EMAIL": "not-an-address",
    "OWNER_EMAIL": "not-an-address",
    "API_BASE_URL": "signup.example.com",
    "SUCCESS_URL": "ftp://example.com/done",
    "DEFAULT_LANGUAGE": "xx",
    "TEMPLATES_DIR": "/nonexistent/regflow-words",
    "TOKEN_TTL_HOURS": "0",
    "CONFIRM_MODE": "maybe",
    "ADDRESS_MIN_INTERVAL_SECONDS": "-1",
    "ADDRESS_LIMIT_PER_DAY": "five",
    "IP_LIMIT_PER_HOUR": "1.5",
    "LOG_LEVEL": "verbose",
    "METRICS": "prometheus",
    "REGFLOW_DATA_DIR": "<a file>",
    "REGFLOW_WEB_DIR": "/nonexistent/regflow-web",
    "HOST": "192.0.2.1",
    "PORT": "eighty",
    "DATABASE_URL": "mysql://db/regflow",
    "SQLITE_DURABILITY": "extra",
    "SMTP_URL": "mail.example.com:25",
    "TOKEN_SECRET": "too-short",
    "TRUSTED_PROXIES": "the-proxy",
    "READ_TIMEOUT_SECONDS": "forever",
    "MX_CHECK": "maybe",
    "OWNER_DIGEST": "weekly",
    "WEBHOOK_URL": "ftp://example.com/hook",
    "WEBHOOK_SECRET": "too short",
    "CONFIRM_CODE": "maybe",
    "CHALLENGE": "captcha",
    "CHALLENGE_DIFFICULTY": "0",
    "CHALLENGE_SECRET": "too short",
    "CONSENT_IP": "half",
}
# any text is a valid value (CONSENT_TEXT_VERSION: kept to its first 64 characters)
FREE_TEXT = {
    "SITE_NAME",
    "REGISTER_PAGE_URL",
    "BLOCKED_EMAIL_DOMAINS",
    "METRICS_STACK",
    "CONSENT_TEXT_VERSION",
    # a relative one is ignored, as the XDG specification says (the default is used instead)
    "XDG_DATA_HOME",
}


def test_every_embedded_setting_is_classified() -> None:
    tables = documented_settings()
    settings = tables["both"] | tables["embedded"]
    unclassified = sorted(settings - BAD.keys() - FREE_TEXT)
    assert not unclassified, f"give each a bad value in BAD or list it in FREE_TEXT: {unclassified}"
    assert not (BAD.keys() | FREE_TEXT) - settings, "classified but not documented"


@pytest.mark.parametrize(("variable", "value"), sorted(BAD.items()))
def test_a_bad_value_stops_start_up_with_one_line_naming_it(
    variable: str,
    value: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in [*BAD, *FREE_TEXT]:
        monkeypatch.delenv(name, raising=False)
    if value == "<a file>":
        (tmp_path / "file").write_text("")
        value = str(tmp_path / "file")
    monkeypatch.setenv(variable, value)
    if variable != "PORT":
        monkeypatch.setenv("PORT", str(free_port()))  # a free port: never a clash
    code = cli.main(["serve"])
    err = capsys.readouterr().err
    assert code == 2, f"{variable}={value!r} did not stop start-up"
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"{variable}: more than one line:\n{err}"
    assert lines[0].startswith("regflow: ")
    assert variable in lines[0], f"the line does not name {variable}: {lines[0]}"
    assert "Traceback" not in err


def test_a_templates_dir_others_can_write_stops_start_up_naming_the_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 27: templates are code run with the server's rights, so a folder others may
    change is refused like a key file others may read (docs/security.md)."""
    monkeypatch.chdir(tmp_path)
    for name in [*BAD, *FREE_TEXT]:
        monkeypatch.delenv(name, raising=False)
    words = tmp_path / "words"
    (words / "templates" / "pages").mkdir(parents=True)
    for folder in (words, words / "templates", words / "templates" / "pages"):
        folder.chmod(0o755)
    page = words / "templates" / "pages" / "erase.j2"
    page.write_text("{{ cycler.__init__.__globals__.os.popen('id').read() }}", "utf-8")
    page.chmod(0o666)
    monkeypatch.setenv("TEMPLATES_DIR", str(words))
    monkeypatch.setenv("PORT", str(free_port()))
    code = cli.main(["serve"])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert lines == [
        f"regflow: TEMPLATES_DIR: {page} can be written by other users (group or others); "
        f"run `chmod -R go-w {words}`"
    ]
