"""GET /confirm?token=... (the link in the verification mail) and POST /confirm (the button of
CONFIRM_MODE=button, also taken in link mode): one conditional change, then a redirect to the
confirmed page with the outcome (`?status=`) in the link's language."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from regflow.config import ConfirmMode
from regflow.domain import Outcome
from regflow.http.cookies import REGISTRATION_COOKIE
from regflow.http.response import Response, html, redirect, with_query
from regflow.http.view import Pages, view
from regflow.tokens import open_handle, read_handle

if TYPE_CHECKING:
    from regflow.http.app import HttpApi
    from regflow.http.request import Request

_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{64}")


@view(pages=Pages.NAVIGATED, metric="Confirmation")
def link(request: Request, site: HttpApi) -> Response:
    """GET: the link. With CONFIRM_MODE=button, a page whose button confirms (GET changes
    nothing), unless this is the browser that filled in the form (its sealed cookie)."""
    token = request.query("token")
    link_lang = request.link_language
    if site.edge.confirm_mode is ConfirmMode.BUTTON:
        if token is None or site.intake.check_token(token) is None:
            invalid = Outcome.INVALID
            return redirect(302, landing(site, invalid, link_lang)).counted(invalid.value)
        if not same_browser(request, site, token):
            # no cookie (a scanner, another device, or a webmail click that did not carry
            # the SameSite=Strict cookie): the button, and once, a reload from this origin
            # that would carry it
            again = None if request.query("same") == "1" else "1"
            return html(200, confirm_page(site, token, request.language, link_lang, again))
        # the browser that filled in the form: confirmed without the extra click
    outcome = site.intake.confirm(token, site.consent(request))
    return redirect(302, expired_landing(site, outcome, link_lang, token)).counted(outcome.value)


@view(pages=Pages.NAVIGATED, metric="Confirmation")
def button(request: Request, site: HttpApi) -> Response:
    """POST: the button's form (`token`); a body is read only as a form."""
    token = request.form_only().get("token")
    outcome = site.intake.confirm(token, site.consent(request))
    landed = expired_landing(site, outcome, request.link_language, token)
    return redirect(303, landed).counted(outcome.value)


def same_browser(request: Request, site: HttpApi, token: str) -> bool:
    """CONFIRM_MODE=button: does this request carry the sealed registration cookie of the
    registration `token` names (the browser that filled in the form)?"""
    if site.cookie_key is None:
        return False
    handle = open_handle(site.cookie_key, request.cookie(REGISTRATION_COOKIE))
    parsed = site.intake.check_token(token)
    return handle is not None and parsed is not None and read_handle(handle) == parsed


def confirm_page(
    site: HttpApi, token: str, lang: str, link_lang: str | None = None, refresh: str | None = None
) -> str:
    """The page of CONFIRM_MODE=button: GET changes nothing; the button POSTs the token (to
    `confirm`, relative: the page is served by /confirm itself, so the POST stays on whatever
    origin the visitor came in through, which `form-action 'self'` requires)."""
    action = "confirm" if link_lang is None else with_query("confirm", lang=link_lang)
    again = None
    if refresh is not None:
        params = {"token": token, "same": refresh}
        if link_lang is not None:
            params["lang"] = link_lang
        again = "confirm?" + urlencode(params)
    return site.render(
        "confirm_button", lang, token=token, site=site.edge.site_name, action=action, refresh=again
    )


def landing(site: HttpApi, outcome: Outcome, lang: str | None) -> str:
    """The confirmed page's address for `outcome`, in the link's language."""
    if lang is not None and lang != site.edge.default_language:
        return with_query(site.edge.success_url, status=outcome.value, lang=lang)
    return with_query(site.edge.success_url, status=outcome.value)


def expired_landing(site: HttpApi, outcome: Outcome, lang: str | None, token: object) -> str:
    """`landing`, and for an expired link its token in the fragment (`#resend=<token>`), for
    the expired page's "send me a new link": a fragment never reaches a server, a log or a
    Referer; the page's script reads it and removes it from the address bar."""
    where = landing(site, outcome, lang)
    if outcome is Outcome.EXPIRED and isinstance(token, str) and _TOKEN_SHAPE.fullmatch(token):
        return f"{where}#resend={token}"
    return where
