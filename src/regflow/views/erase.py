"""Self-service erasure (docs/erasure.md): GET /erase?token=... shows a page with a button and
changes nothing (a mail scanner that follows the link erases nothing); POST /erase (the button)
erases and lands on GET /erase?status=erased, the erased page."""

from __future__ import annotations

from typing import TYPE_CHECKING

from regflow.http.response import Response, html, redirect, with_query
from regflow.http.view import Pages, view

if TYPE_CHECKING:
    from regflow.http.app import HttpApi
    from regflow.http.request import Request


@view(pages=Pages.ALWAYS, metric="Erasure", otherwise="invalid")
def ask(request: Request, site: HttpApi) -> Response:
    """GET: the page that asks (or, after the button, says it is done)."""
    if request.query("status") == "erased":
        return _page(request, site, 200, "done").counted("page")
    token = request.query("token")
    if token is None or site.intake.check_erase_token(token) is None:
        return _page(request, site, 400, "invalid")
    return _page(request, site, 200, "ask", token=token.strip(), action=_here(request)).counted(
        "asked"
    )


@view(pages=Pages.ALWAYS, metric="Erasure", otherwise="invalid")
def erase(request: Request, site: HttpApi) -> Response:
    """POST: the button's form (`token`); a body is read only as a form."""
    erased = site.intake.erase(request.form_only().get("token"))
    if erased is None:
        return _page(request, site, 400, "invalid")
    done = redirect(303, with_query(_here(request), status="erased"))
    return done.counted("erased" if erased else "nothing-left")


def _here(request: Request) -> str:
    """This route, relative, in the link's language."""
    lang = request.link_language
    return "erase" if lang is None else with_query("erase", lang=lang)


def _page(request: Request, site: HttpApi, status: int, state: str, **context: object) -> Response:
    lang = request.language
    return html(
        status, site.render("erase", lang, state=state, site=site.edge.site_name, **context)
    )
