"""The local mailbox of the embedded mode: one `.eml` file per message in a directory.

Each message is written to a temporary file and renamed into place, so a reader (or a killed
process) never sees half a message. No fsync: like the database (WAL, synchronous=NORMAL), the
mailbox survives a process crash, not a power cut; it is a development mailbox.
Names sort by time: `<microseconds since epoch>-<random>.eml`.
"""

from __future__ import annotations

import os
import re
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import getaddresses
from pathlib import Path

from regflow.domain import DeliveryError, Email, FailureClass
from regflow.emails import to_mime

_ID_RE = re.compile(r"[0-9]{16,20}-[0-9a-f]{8}")


@dataclass(frozen=True, slots=True)
class StoredMessage:
    id: str
    subject: str
    sender: str
    to: str
    date: datetime
    path: Path


class MailboxMailer:
    """`MailChannel` into a directory, and the reader of that directory for `/_mailbox`."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)

    def send(self, email: Email) -> None:
        message = to_mime(email)
        data = message.as_bytes()
        message_id = f"{time.time_ns() // 1000:017d}-{secrets.token_hex(4)}"
        try:
            # 0700 / 0600 whatever the umask: each message holds a live link
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            tmp = self.directory / f".{message_id}.tmp"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, self.directory / f"{message_id}.eml")
        except OSError as exc:
            raise DeliveryError(
                f"could not write to the mailbox ({type(exc).__name__})",
                failure=FailureClass.TRANSIENT,
                code=type(exc).__name__,
            ) from exc

    def messages(self) -> list[StoredMessage]:
        """Every message, newest first."""
        if not self.directory.is_dir():
            return []
        found = []
        for path in sorted(self.directory.glob("*.eml"), reverse=True):
            if not _ID_RE.fullmatch(path.stem):
                continue
            msg = self._parse(path)
            found.append(
                StoredMessage(
                    id=path.stem,
                    subject=str(msg.get("Subject", "")),
                    sender=str(msg.get("From", "")),
                    to=str(msg.get("To", "")),
                    date=datetime.fromtimestamp(int(path.stem.split("-")[0]) / 1e6, UTC),
                    path=path,
                )
            )
        return found

    def erase(self, address: str) -> int:
        """Delete every message to or about `address` (the erasure of `regflow delete`): sent
        to it, or naming it anywhere (an owner notification carries it). Returns how many."""
        wanted = address.strip().lower()
        erased = 0
        for stored in self.messages():
            try:
                parsed = self._parse(stored.path)
            except OSError:
                continue
            headers = [str(parsed.get(h, "")) for h in ("To", "Reply-To", "Cc")]
            addressed = {a.lower() for _, a in getaddresses(headers)}
            body = parsed.get_body(preferencelist=("plain",))
            content = body.get_content() if body is not None else ""
            text = content.lower() if isinstance(content, str) else ""
            # the address as a whole word of the text: `jo@x` must not match `ajo@x`
            mentioned = re.search(rf"(?<![\w.+-]){re.escape(wanted)}(?![\w.-])", text)
            if wanted in addressed or mentioned:
                stored.path.unlink(missing_ok=True)
                erased += 1
        return erased

    def message(self, message_id: str) -> EmailMessage | None:
        """One message by id, or None (ids are checked, so no path tricks)."""
        if not _ID_RE.fullmatch(message_id):
            return None
        path = self.directory / f"{message_id}.eml"
        return self._parse(path) if path.is_file() else None

    @staticmethod
    def _parse(path: Path) -> EmailMessage:
        with open(path, "rb") as fh:
            parsed = BytesParser(policy=policy.default).parse(fh)
        assert isinstance(parsed, EmailMessage)
        return parsed
