"""`regflow smoke --stack NAME` (issue 27): prove a deployed stack works end to end.

moto cannot show the SNS event destination's policy, the `ses:FromAddress` condition, the
origin access control or CloudFront's routing; this does, on the real stack. Through the
public URL (the stack's `RegistrationPageUrl`, the API behind CloudFront) it registers three of
SES's mailbox simulator addresses (success, bounce, complaint; each with a `+smoke-<run>` label
so that every run is a new registration), solving the proof-of-work challenge when the stack
asks for one. Nobody can read the simulator's inbox, so the verification link of the success
registration is made here, with the stack's token key (the secret the mail sender's
`TOKEN_SECRET_ARN` names, which the operator's credentials can read), and opened. Then, with a
bounded poll of the table, one line per check:

- `registered ...`: each POST /register was accepted (202);
- `confirmed`: the success registration's item is CONFIRMED;
- `owner notification`: the mail sender has sent it: the confirmed item's stream record was
  processed and no `OUTBOX#owner-notification#<id>` item (a parked, unsent notification) nor
  a `deliveryFailure` is on the table once the poll's settle time has passed. The table shows a
  failure, not a success: a notification still in flight after the wait passes;
- `bounce suppressed`, `complaint suppressed`: a `SUPPRESS#` item with that reason for each.

Output never carries a token or a full address (addresses are masked). Exit status: 0 when
every check passed, 1 when one failed, 2 when the stack cannot be read.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

from regflow.domain import address_key, mask_email
from regflow.domain.suppression import suppression_key
from regflow.ops.stack import StackError, stack_outputs
from regflow.tokens import TokenSigner

SIMULATOR = "simulator.amazonses.com"
USER_AGENT = "regflow-smoke"


@dataclass(frozen=True)
class Options:
    stack: str
    region: str | None = None
    timeout: float = 120.0  # the bounded poll: how long each check may wait
    interval: float = 2.0  # between two reads of the table
    settle: float = 30.0  # how long a confirmation's notification is given before it is judged


@dataclass
class Smoke:
    """The checks against one stack: `base` the public URL, the table and its clients."""

    base: str
    table: str
    dynamodb: Any
    signer: TokenSigner
    out: TextIO
    options: Options
    sleep: Callable[[float], None] = time.sleep
    monotonic: Callable[[], float] = time.monotonic
    failures: int = 0

    def line(self, ok: bool, what: str) -> None:
        if not ok:
            self.failures += 1
        print(f"{'ok' if ok else 'FAIL'} {what}", file=self.out, flush=True)

    # --- HTTP, through the public URL ---------------------------------------------------------

    def _request(self, method: str, path: str, body: bytes | None, content_type: str) -> int:
        request = urllib.request.Request(  # noqa: S310 (main takes http(s) bases only)
            urllib.parse.urljoin(self.base, path.lstrip("/")),
            data=body,
            method=method,
            headers={"content-type": content_type, "user-agent": USER_AGENT, "accept": "*/*"},
        )
        try:
            with _OPENER.open(request, timeout=30) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:  # 3xx (not followed) and 4xx/5xx
            return int(exc.code)

    def _challenge(self) -> str | None:
        """A solved challenge when the stack asks for one (CHALLENGE=pow), else None."""
        url = urllib.parse.urljoin(self.base, "challenge")
        request = urllib.request.Request(url, headers={"user-agent": USER_AGENT})  # noqa: S310
        try:
            with _OPENER.open(request, timeout=30) as response:
                task = json.loads(response.read())
        except urllib.error.HTTPError:
            return None
        return solve(task)

    def register(self, email: str) -> bool:
        fields: dict[str, object] = {"name": "regflow smoke", "email": email}
        solution = self._challenge()
        if solution is not None:
            fields["challenge"] = solution
        status = self._request("POST", "/register", json.dumps(fields).encode(), "application/json")
        self.line(status == 202, f"registered {mask_email(email)} (HTTP {status})")
        return status == 202

    def open_link(self, token: str) -> int:
        """GET /confirm?token=... as the link; a page answering with its button (200:
        CONFIRM_MODE=button/auto) is then pressed (POST /confirm)."""
        query = urllib.parse.urlencode({"token": token})
        status = self._request("GET", f"/confirm?{query}", None, "text/plain")
        if status == 200:
            body = urllib.parse.urlencode({"token": token}).encode()
            status = self._request("POST", "/confirm", body, "application/x-www-form-urlencoded")
        return status

    # --- the table ----------------------------------------------------------------------------

    def _get(self, pk: str) -> dict[str, Any] | None:
        item = self.dynamodb.get_item(
            TableName=self.table, Key={"pk": {"S": pk}}, ConsistentRead=True
        ).get("Item")
        return dict(item) if item else None

    def registration(self, email: str) -> dict[str, Any] | None:
        """The REG# item of `email` (its address key, through the AddressItems index)."""
        found = self.dynamodb.query(
            TableName=self.table,
            IndexName="AddressItems",
            KeyConditionExpression="addrKey = :k",
            ExpressionAttributeValues={":k": {"S": address_key(email)}},
        ).get("Items", [])
        for item in found:
            pk = str(item["pk"]["S"])
            if pk.startswith("REG#"):
                return self._get(pk)
        return None

    def poll(self, probe: Callable[[], Any], within: float | None = None) -> Any:
        """`probe()` until it is truthy or `within` (default the timeout) has passed."""
        deadline = self.monotonic() + (self.options.timeout if within is None else within)
        while True:
            value = probe()
            if value or self.monotonic() >= deadline:
                return value
            self.sleep(self.options.interval)

    # --- the checks ---------------------------------------------------------------------------

    def confirm(self, email: str) -> None:
        item = self.poll(lambda: self.registration(email))
        if not item:
            self.line(False, "confirmed: no registration on the table")
            self.line(False, "owner notification: nothing confirmed")
            return
        registration_id, addr = str(item["id"]["S"]), str(item["addrKey"]["S"])
        status = self.open_link(self.signer.issue(registration_id, addr))
        pk = f"REG#{registration_id}"

        def confirmed() -> bool:
            got = self._get(pk)
            return bool(got and got.get("status", {}).get("S") == "CONFIRMED")

        ok = bool(self.poll(confirmed))
        self.line(ok, f"confirmed (link HTTP {status})")
        if not ok:
            self.line(False, "owner notification: nothing confirmed")
            return

        def failed() -> str:
            if self._get(f"OUTBOX#owner-notification#{registration_id}") is not None:
                return "parked, not sent (regflow redrive / the recovery schedule)"
            got = self._get(pk) or {}
            if "deliveryFailure" in got:
                return "the delivery failed"
            return ""

        problem = self.poll(failed, within=self.options.settle)
        self.line(not problem, f"owner notification {problem or 'sent'}")

    def suppressed(self, email: str, reason: str) -> None:
        pk = f"SUPPRESS#{suppression_key(email)}"

        def probe() -> str:
            item = self._get(pk)
            return str(item.get("reason", {}).get("S", "")) if item else ""

        got = self.poll(probe)
        self.line(got == reason, f"{reason} suppressed {mask_email(email)} ({got or 'no entry'})")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *_: Any, **__: Any) -> None:
        return None  # a 302 is the answer (the landing page), not a page to fetch


_OPENER = urllib.request.build_opener(_NoRedirect)


def solve(task: dict[str, Any]) -> str:
    """The ALTCHA payload of a solved challenge (what the page's solver posts)."""
    salt, challenge = str(task["salt"]), str(task["challenge"])
    for number in range(int(task["maxnumber"]) + 1):
        if hashlib.sha256(f"{salt}{number}".encode()).hexdigest() == challenge:
            payload = {k: task[k] for k in ("algorithm", "challenge", "salt", "signature")}
            payload["number"] = number
            return base64.b64encode(json.dumps(payload).encode()).decode()
    raise ValueError("the challenge has no solution")


def token_secret(session: Any, function: str) -> bytes:
    """The stack's token key: the secret the mail sender's TOKEN_SECRET_ARN names."""
    config = session.client("lambda").get_function_configuration(FunctionName=function)
    arn = (config.get("Environment") or {}).get("Variables", {}).get("TOKEN_SECRET_ARN")
    if not arn:
        raise StackError(f"function {function} has no TOKEN_SECRET_ARN")
    value = session.client("secretsmanager").get_secret_value(SecretId=arn)
    secret = value.get("SecretString")
    return secret.encode() if isinstance(secret, str) else bytes(value["SecretBinary"])


def main(options: Options, out: TextIO, *, session: Any = None) -> int:
    import boto3

    if session is None:
        session = boto3.session.Session(region_name=options.region)
    try:
        outputs = stack_outputs(
            options.stack, options.region, client=session.client("cloudformation")
        )
        missing = [
            k
            for k in ("RegistrationPageUrl", "TableName", "MailSenderFunction")
            if k not in outputs
        ]
        if missing:
            raise StackError(f"stack {options.stack} lacks the outputs {', '.join(missing)}")
        secret = token_secret(session, outputs["MailSenderFunction"])
    except StackError as exc:
        print(f"regflow: {exc}", file=out)
        return 2
    base = outputs["RegistrationPageUrl"]
    if urllib.parse.urlsplit(base).scheme not in ("http", "https"):
        print(
            f"regflow: stack {options.stack}: RegistrationPageUrl is not an http(s) URL", file=out
        )
        return 2
    smoke = Smoke(
        base=base if base.endswith("/") else f"{base}/",
        table=outputs["TableName"],
        dynamodb=session.client("dynamodb"),
        signer=TokenSigner(secret),
        out=out,
        options=options,
    )
    run = secrets.token_hex(4)
    success, bounce, complaint = (
        f"{box}+smoke-{run}@{SIMULATOR}" for box in ("success", "bounce", "complaint")
    )
    registered = {email: smoke.register(email) for email in (success, bounce, complaint)}
    if registered[success]:
        smoke.confirm(success)
    if registered[bounce]:
        smoke.suppressed(bounce, "bounce")
    if registered[complaint]:
        smoke.suppressed(complaint, "complaint")
    return 1 if smoke.failures else 0
