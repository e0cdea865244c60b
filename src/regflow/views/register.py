"""POST /register: a registration (name + email), JSON from a script or a plain form post.

The same public answer whether the address is new, pending, confirmed or over its own limit;
only the per-client limit shows (429, answered by `regflow.http.app`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from regflow.config import ConfirmMode
from regflow.domain.challenge import FIELD as CHALLENGE_FIELD
from regflow.http.response import Response, json_response, redirect, with_query
from regflow.http.view import Pages, view

if TYPE_CHECKING:
    from regflow.http.app import HttpApi
    from regflow.http.request import Request

HONEYPOT_FIELD = "website"


@view(pages=Pages.FORM_POST, metric="Registration", otherwise="rejected")
def register(request: Request, site: HttpApi) -> Response:
    fields, from_form = request.fields
    edge = site.edge
    name, email = fields.get("name"), fields.get("email")
    honeypot = fields.get(HONEYPOT_FIELD) or ""
    challenge = fields.get(CHALLENGE_FIELD)
    client_key, language, consent = request.rate_limit_key, request.language, site.consent(request)
    handle: str | None = None
    if edge.confirm_code or edge.confirm_mode is ConfirmMode.BUTTON:
        _, handle = site.intake.register_with_handle(
            name,
            email,
            client_key=client_key,
            honeypot=honeypot,
            language=language,
            consent=consent,
            challenge=challenge,
        )
    else:
        site.intake.register(
            name,
            email,
            client_key=client_key,
            honeypot=honeypot,
            language=language,
            consent=consent,
            challenge=challenge,
        )
    if from_form:
        accepted = redirect(303, with_query(edge.register_page_url, status="sent"))
    else:
        body = {"message": site.text("api.accepted", request.language)}
        if edge.sender_email:  # where the mail comes from: the same for everyone
            body["sender"] = edge.sender_email
        accepted = json_response(202, body)
    if handle is not None:
        accepted = accepted.with_cookie(site.registration_cookie(handle))
    return accepted.counted("accepted")
