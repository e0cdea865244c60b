"""POST /resend (a form post from the expired page, or JSON): `token`, the expired link's. One
answer whatever happens (a new link mailed, the address limited, the registration gone or
confirmed, a forged token, the client limited): 202 JSON, or a 303 to the confirmed page with
`?status=resent` for a browser's form post."""

from __future__ import annotations

from typing import TYPE_CHECKING

from regflow.http.request import shipped
from regflow.http.response import Response, json_response, redirect, with_query
from regflow.http.view import view

if TYPE_CHECKING:
    from regflow.http.app import HttpApi
    from regflow.http.request import Request


@view()
def resend(request: Request, site: HttpApi) -> Response:
    fields, from_form = request.fields
    site.intake.resend(
        fields.get("token"), client_key=request.rate_limit_key, consent=site.consent(request)
    )
    if from_form and request.wants_html:
        landing = site.edge.success_url
        link_lang = shipped(fields.get("lang"))
        if link_lang is not None and link_lang != site.edge.default_language:
            return redirect(303, with_query(landing, status="resent", lang=link_lang))
        return redirect(303, with_query(landing, status="resent"))
    return json_response(
        202, {"message": site.text("api.signup_resend.accepted", request.language)}
    )
