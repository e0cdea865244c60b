"""The registration cookie: it names the submitting browser's registration
(`tokens.issue_handle`), sealed under the cookie key (`tokens.seal_handle`) when there is one."""

from __future__ import annotations

from regflow.http.request import Request
from regflow.tokens import open_handle, seal_handle

REGISTRATION_COOKIE = "regflow_reg"


def registration_cookie(handle: str, *, max_age: int, key: bytes | None, secure: bool) -> str:
    """HttpOnly (no script reads it), SameSite=Strict (no other site's request carries it),
    Path=/ (pages and API share one origin: CloudFront routes /register, /confirm and
    /confirm-code to the API), Secure when the site is served over https. An empty `handle`
    with `max_age=0` makes the browser forget it."""
    if handle and key is not None:
        handle = seal_handle(key, handle)
    cookie = f"{REGISTRATION_COOKIE}={handle}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Strict"
    return cookie + "; Secure" if secure else cookie


def registration_handle(request: Request, key: bytes | None) -> str | None:
    """The registration cookie's handle: checked against its seal when there is a key."""
    value = request.cookie(REGISTRATION_COOKIE)
    return value if key is None else open_handle(key, value)
