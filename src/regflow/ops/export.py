"""`regflow export`: registrations as CSV, JSON or NDJSON, streamed (issue 12).

One registration is in memory at a time: the store hands out an iterator (pages of an index
or a keyset query), each registration is written as it comes, and a JSON export is written as
an array piece by piece. `--output FILE` writes a new file beside it and renames it at the end,
so a file of that name is always a complete export. That file (`.FILE.<random>.part`) is created
exclusively (`O_EXCL`, `O_NOFOLLOW`), mode 0600 whatever the umask: names, addresses, IPs and
user agents are for the owner only, and no one can plant a file or a link at a name they could
guess before the export opens it.
"""

from __future__ import annotations

import csv
import json
import os
import secrets
import sys
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from regflow.domain import Registration

FORMATS = ("csv", "json", "ndjson")
# The proof of consent (docs/signup-options.md): the sign-up's at `timestamp`, the
# confirmation's at `confirmed_at`.
CONSENT_FIELDS = [
    "signup_ip",
    "signup_user_agent",
    "signup_consent_version",
    "confirm_ip",
    "confirm_user_agent",
    "confirm_consent_version",
]
FIELDS = [
    "id",
    "name",
    "email",
    "status",
    "language",
    "timestamp",
    "confirmed_at",
    *CONSENT_FIELDS,
]

# typed by visitors (a user agent is whatever the client sent)
_FREE_TEXT = frozenset({"name", "email", "signup_user_agent", "confirm_user_agent"})
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def parse_since(text: str) -> datetime:
    """`--since`: an ISO-8601 date or time (`2026-11-29`, `2026-11-29T12:00:00Z`, with an
    offset or without: then UTC)."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"not an ISO-8601 date or time: {text!r}") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def record(r: Registration) -> dict[str, str]:
    """The exported fields of a registration (times ISO-8601 UTC; `confirmed_at` empty when
    pending)."""
    return {
        "id": r.id,
        "name": r.name,
        "email": r.email,
        "status": r.status.value,
        "language": r.language,
        "timestamp": r.timestamp.isoformat(),
        "confirmed_at": r.confirmed_at.isoformat() if r.confirmed_at else "",
        **_consent_columns(r),
    }


def _consent_columns(r: Registration) -> dict[str, str]:
    out: dict[str, str] = {}
    for when, consent in (("signup", r.signup_consent), ("confirm", r.confirm_consent)):
        out[f"{when}_ip"] = (consent.ip if consent else None) or ""
        out[f"{when}_user_agent"] = (consent.user_agent if consent else None) or ""
        out[f"{when}_consent_version"] = (consent.text_version if consent else None) or ""
    return out


def _spreadsheet_safe(row: dict[str, str]) -> dict[str, str]:
    """Keeps spreadsheet formulas out of the free-text cells; ids (about 1 in 64 starts with
    "-") and timestamps stay exact."""
    return {k: "'" + v if k in _FREE_TEXT and v[:1] in _FORMULA else v for k, v in row.items()}


def write(registrations: Iterable[Registration], out: TextIO, fmt: str) -> Iterator[int]:
    """Writes every registration to `out` in `fmt`; yields the running count after each
    (the caller's progress), one registration in memory at a time."""
    count = 0
    rows = (record(r) for r in registrations)
    if fmt == "json":
        out.write("[")
        for row in rows:
            out.write(("," if count else "") + "\n  " + json.dumps(row, ensure_ascii=False))
            count += 1
            yield count
        out.write("\n]\n" if count else "]\n")
    elif fmt == "ndjson":
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
            yield count
    elif fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=FIELDS, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow(_spreadsheet_safe(row))
            count += 1
            yield count
    else:
        raise ValueError(f"unknown format {fmt!r}")


class Progress:
    """`exported N registrations` on stderr, redrawn a few times a second, only when stderr
    is a terminal (quiet in pipes, cron and CI)."""

    def __init__(self, stream: TextIO | None = None, *, every: float = 0.2) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.on = _isatty(self.stream)
        self.every = every
        self._last = 0.0

    def update(self, count: int) -> None:
        now = time.monotonic()
        if self.on and now - self._last >= self.every:
            self._last = now
            self.stream.write(f"\rexported {count} registrations")
            self.stream.flush()

    def done(self, count: int) -> None:
        if self.on:
            self.stream.write(f"\rexported {count} registrations\n")
            self.stream.flush()


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def export(
    registrations: Iterable[Registration],
    *,
    fmt: str,
    out: TextIO,
    output: Path | None = None,
    progress: Progress | None = None,
) -> int:
    """Streams `registrations` to `output` (atomically, via `output.part`) or to `out`;
    returns how many were written."""
    progress = progress if progress is not None else Progress()
    count = 0
    if output is None:
        for count in write(registrations, out, fmt):
            progress.update(count)
        out.flush()
    else:
        partial = output.with_name(f".{output.name}.{secrets.token_hex(8)}.part")
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
        fd = os.open(partial, flags, 0o600)
        try:
            os.fchmod(fd, 0o600)  # the umask can only take bits away; be exact anyway
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
                for count in write(registrations, f, fmt):
                    progress.update(count)
                f.flush()
                os.fsync(f.fileno())
            os.replace(partial, output)  # a rename: a link planted at `output` is replaced
        finally:
            partial.unlink(missing_ok=True)
    progress.done(count)
    return count
