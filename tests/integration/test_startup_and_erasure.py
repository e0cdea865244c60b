"""What a site owner meets at start-up and at erasure: a bad setting is one line naming the
variable (never a traceback, never a flag the owner did not type); a server listening for other
machines says when the links in mail would point at this one; `regflow delete` erases the local
mailbox's copies too."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import pytest

from regflow import cli
from regflow.adapters.mailbox import MailboxMailer
from regflow.domain import Email
from tests.support.server import free_port, regflow_command, server_env


def serve(tmp_path: Path, env: dict[str, str], *args: str, timeout: float = 30) -> str:
    """`regflow serve` that is expected to stop at once; its stderr."""
    done = subprocess.run(
        [*regflow_command(), "serve", "--data-dir", str(tmp_path / "d"), *args],
        env=server_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"LOG_LEVEL": "verbose"}, "LOG_LEVEL"),
        ({"PORT": "eighty"}, "PORT"),
        ({"PORT": "70000"}, "PORT"),
        ({"TOKEN_TTL_HOURS": "forever"}, "TOKEN_TTL_HOURS"),
        ({"DEFAULT_LANGUAGE": "klingon"}, "DEFAULT_LANGUAGE"),
        ({"TRUSTED_PROXIES": "not-a-network"}, "TRUSTED_PROXIES"),
    ],
)
def test_a_bad_setting_is_one_line_naming_the_variable(
    tmp_path: Path, env: dict[str, str], named: str
) -> None:
    args = () if "PORT" in env else ("--port", str(free_port()))
    line = serve(tmp_path, env, *args)
    assert line.startswith("regflow: ") and named in line
    assert "--port" not in line


@pytest.mark.slow
def test_listening_for_other_machines_without_api_base_url_warns(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [
            *regflow_command(),
            "serve",
            "--host",
            "0.0.0.0",
            "--port",
            str(port),
            "--data-dir",
            str(tmp_path / "d"),
        ],
        env=server_env({}),
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stderr is not None
        banner = ""
        while "Press Ctrl+C" not in banner:
            line = proc.stderr.readline()
            assert line, banner
            banner += line
        assert "WARNING" in banner and "API_BASE_URL" in banner
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def _mail(box: MailboxMailer, to: str, text: str, reply_to: str | None = None) -> None:
    box.send(
        Email(
            sender="no-reply@localhost",
            to=to,
            subject="hello",
            text=text,
            html=f"<p>{text}</p>",
            reply_to=reply_to,
        )
    )


def test_delete_erases_the_local_mailboxs_copies(tmp_path: Path) -> None:
    from regflow.adapters.sqlite import SQLiteStore

    data = tmp_path / "d"
    data.mkdir()
    SQLiteStore(data / "regflow.db").close()
    box = MailboxMailer(data / "mailbox")
    _mail(box, "zoe@example.com", "your link")
    _mail(box, "owner@localhost", "Zoë <zoe@example.com> confirmed", reply_to="zoe@example.com")
    _mail(box, "other@example.com", "someone else")
    out = io.StringIO()
    code = cli.main(["delete", "--data-dir", str(data), "--email", "ZOE@example.com"], out)
    assert code == 0
    assert "2 messages in the local mailbox" in out.getvalue()
    assert [m.to for m in box.messages()] == ["other@example.com"]
