"""`regflow init DIR`: the starter configuration of one box, to edit before the first start.

- `DIR/regflow.env` (0600): the settings, with a fresh signing key (`TOKEN_SECRET`);
- `DIR/regflow.service` (0644): the systemd unit (deploy/regflow.service with this box's
  paths: this installation's `regflow`, the environment file above).

A file that exists is never overwritten: it is kept and named as kept, so that `init` may be
run again to restore a deleted file without touching the others (or the key)."""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TextIO

from regflow.tokens import generate_secret

ENV_FILE = "regflow.env"
UNIT_FILE = "regflow.service"

ENVIRONMENT = """\
# regflow's settings for this box (docs/configuration.md), read by the systemd unit
# ({unit}). Keep this file 0600, owned by root: it holds the signing key and
# may hold the mail server's password. Written by `regflow init`; edit before the first start.

# The address visitors use (the links in mail point here; docs/production.md).
API_BASE_URL=https://signup.example.com
SITE_NAME=Example
SENDER_EMAIL=no-reply@example.com
OWNER_EMAIL=owner@example.com

# Mail: without SMTP_URL, mail goes to the local mailbox only (a demo, not for visitors).
#SMTP_URL=smtp+starttls://user:password@smtp.example.com:587

# Behind a reverse proxy on this machine (docs/production.md):
#TRUSTED_PROXIES=127.0.0.1

# PostgreSQL instead of SQLite in the data directory (pip install 'regflow[local,postgres]'):
#DATABASE_URL=postgresql://regflow@127.0.0.1/regflow

# The signing key of every link mailed: keep it, back it up with the database. Changing it
# makes every link sent so far stop working.
TOKEN_SECRET={secret}
"""


class InitError(Exception):
    """The directory cannot be written; the message is one line."""


@dataclass(frozen=True)
class Written:
    path: Path
    kept: bool  # the file existed and was left alone


def executable() -> str:
    """This installation's `regflow` command (next to the interpreter, as pip installs it)."""
    beside = Path(sys.executable).parent / "regflow"
    if beside.is_file():
        return str(beside)
    found = shutil.which("regflow")
    return str(Path(found).resolve()) if found else str(beside)


def unit_text(*, executable: str, environment_file: str, unit_file: str) -> str:
    template = resources.files("regflow.setup").joinpath("files/regflow.service.in")
    text = template.read_text(encoding="utf-8")
    return text.format(
        executable=executable, environment_file=environment_file, unit_file=unit_file
    )


def _write_new(path: Path, text: str, mode: int) -> Written:
    """`text` into a new file of exactly `mode` (whatever the umask); an existing one is kept."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        return Written(path, kept=True)
    except OSError as exc:
        raise InitError(f"cannot write {path}: {exc.strerror}") from None
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        path.unlink(missing_ok=True)
        raise InitError(f"cannot write {path}: {exc.strerror}") from None
    return Written(path, kept=False)


def init(directory: Path) -> list[Written]:
    directory = directory.absolute()
    try:
        directory.mkdir(mode=0o755, parents=True, exist_ok=True)
    except OSError as exc:
        raise InitError(f"cannot create {directory}: {exc.strerror}") from None
    env_path, unit_path = directory / ENV_FILE, directory / UNIT_FILE
    return [
        _write_new(
            env_path,
            ENVIRONMENT.format(unit=unit_path, secret=generate_secret().hex()),
            0o600,
        ),
        _write_new(
            unit_path,
            unit_text(
                executable=executable(),
                environment_file=str(env_path),
                unit_file=str(unit_path),
            ),
            0o644,
        ),
    ]


def main(directory: Path, out: TextIO) -> int:
    try:
        written = init(directory)
    except InitError as exc:
        print(f"regflow init: {exc}", file=sys.stderr)
        return 2
    for item in written:
        if item.kept:
            out.write(f"kept:    {item.path} (it exists; not overwritten)\n")
        else:
            out.write(f"written: {item.path}\n")
    env_path = directory.absolute() / ENV_FILE
    unit_path = directory.absolute() / UNIT_FILE
    out.write(
        f"next: edit {env_path} (API_BASE_URL, SENDER_EMAIL, OWNER_EMAIL, SMTP_URL), then\n"
        f"  sudo install -m 0644 {unit_path} /etc/systemd/system/regflow.service\n"
        "  sudo systemctl daemon-reload && sudo systemctl enable --now regflow\n"
        "(docs/production.md)\n"
    )
    return 0
