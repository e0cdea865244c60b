"""A sign-up driven end to end against a running `regflow serve`, with the standard library
only (it runs with the interpreter of a fresh install, outside the checkout): the pages, a
registration, its verification mail in the local mailbox directory, the link, the confirmed
page and the owner's notification.

    python tools/smoke_flow.py --base http://127.0.0.1:8123 --mailbox DATA_DIR/mailbox

Exit 0 when every step did what it should; otherwise one line naming the step, exit 1. Used by
tools/smoke-wheel.sh (the installed wheel) and tools/test-container.sh (the image)."""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
import urllib.error
import urllib.request
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from urllib.parse import parse_qs, urlsplit


class Failed(Exception):
    pass


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


OPENER = urllib.request.build_opener(_NoRedirect)


def request(url: str, data: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    body = json.dumps(data).encode() if data is not None else None
    req = urllib.request.Request(url, data=body, method="POST" if body else "GET")  # noqa: S310
    if body is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with OPENER.open(req, timeout=10) as answer:
            return answer.status, dict(answer.headers.items()), answer.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers.items()), error.read()


def wait_until_up(base: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            status, _, _ = request(base + "/_health")
            if status == 200:
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise Failed(f"{base}/_health did not answer 200 within {timeout:.0f} s")
        time.sleep(0.2)


def mails(mailbox: Path) -> list[EmailMessage]:
    out = []
    for path in sorted(mailbox.glob("*.eml")) if mailbox.is_dir() else []:
        message = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
        assert isinstance(message, EmailMessage)
        out.append(message)
    return out


def wait_for_mail(mailbox: Path, count: int, timeout: float = 15.0) -> list[EmailMessage]:
    deadline = time.monotonic() + timeout
    while True:
        found = mails(mailbox)
        if len(found) >= count:
            return found
        if time.monotonic() > deadline:
            raise Failed(f"{len(found)} mail(s) in {mailbox} after {timeout:.0f} s, not {count}")
        time.sleep(0.1)


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    if part is None:
        raise Failed("a mail without a text part")
    return str(part.get_content())


def flow(base: str, mailbox: Path, email: str) -> None:
    status, headers, body = request(base + "/")
    if status != 200 or b"<form" not in body:
        raise Failed(f"GET / answered {status} without the sign-up form (the packaged pages?)")
    for asset in ("/styles.css", "/app.js", "/confirmed.html", "/i18n/en.json"):
        status, _, _ = request(base + asset)
        if status != 200:
            raise Failed(f"GET {asset} answered {status}")
    before = len(mails(mailbox))
    status, _, body = request(base + "/register", {"name": "Smoke Test", "email": email})
    if status != 202:
        raise Failed(f"POST /register answered {status}: {body[:200]!r}")
    verification = wait_for_mail(mailbox, before + 1)[before]
    match = re.search(r"https?://\S+/confirm\?token=[A-Za-z0-9_-]+", text_of(verification))
    if match is None:
        raise Failed("the verification mail holds no confirmation link")
    link = match.group(0)
    status, headers, _ = request(link)
    location = headers.get("location") or headers.get("Location") or ""
    if status != 302 or parse_qs(urlsplit(location).query).get("status") != ["confirmed"]:
        raise Failed(f"the link answered {status} to {location!r}, not the confirmed page")
    owner = wait_for_mail(mailbox, before + 2)[before + 1]
    if email not in text_of(owner):
        raise Failed("the owner's notification does not name the new registration")
    status, _, _ = request(link)  # the same link again: already confirmed, still a redirect
    if status != 302:
        raise Failed(f"the link clicked again answered {status}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="http://host:port of the server")
    parser.add_argument("--mailbox", type=Path, required=True, help="the local mailbox folder")
    parser.add_argument("--email", default="smoke@example.com")
    parser.add_argument("--wait", type=float, default=30.0, help="seconds to wait for start")
    args = parser.parse_args()
    try:
        wait_until_up(args.base.rstrip("/"), args.wait)
        flow(args.base.rstrip("/"), args.mailbox, args.email)
    except Failed as exc:
        print(f"smoke: FAILED: {exc}", file=sys.stderr)
        return 1
    print(f"smoke: ok: pages, register, mail, confirm, owner notified ({args.base})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
