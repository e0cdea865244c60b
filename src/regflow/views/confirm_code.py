"""POST /confirm-code (CONFIRM_CODE): the code from the verification mail, in the browser that
submitted the form (its registration cookie names the registration). JSON: 200 with the outcome
for a right code (`confirmed`, `already-confirmed`), 400 `field: code` otherwise (wrong, dead,
unknown registration: one answer; an expired registration with the right code: its own
message). A plain form post: 303 to the confirmed page, or back to the register page with
`?status=code-error`. 404 when CONFIRM_CODE=off."""

from __future__ import annotations

from typing import TYPE_CHECKING

from regflow.domain import Outcome
from regflow.http.cookies import registration_handle
from regflow.http.request import shipped
from regflow.http.response import Response, error, json_response, redirect, with_query
from regflow.http.view import view
from regflow.views.confirm import landing

if TYPE_CHECKING:
    from regflow.http.app import HttpApi
    from regflow.http.request import Request

_DONE = (Outcome.CONFIRMED, Outcome.ALREADY_CONFIRMED)


@view(metric="CodeConfirmation")
def confirm_code(request: Request, site: HttpApi) -> Response:
    lang = request.language
    if not site.edge.confirm_code:
        return error(404, site.text("error.not_found", lang))
    fields, from_form = request.fields
    outcome = site.intake.confirm_code(
        registration_handle(request, site.cookie_key), fields.get("code"), site.consent(request)
    )
    landed = landing(site, outcome, shipped(fields.get("lang")))
    if from_form and request.wants_html:
        if outcome in _DONE or outcome is Outcome.EXPIRED:
            answer = redirect(303, landed)
        else:
            answer = redirect(303, with_query(site.edge.register_page_url, status="code-error"))
    elif outcome in _DONE:
        key = (
            "api.signup_code.confirmed"
            if outcome is Outcome.CONFIRMED
            else "api.signup_code.already"
        )
        body = {"status": outcome.value, "message": site.text(key, lang), "location": landed}
        answer = json_response(200, body)
    elif outcome is Outcome.EXPIRED:
        answer = error(400, site.text("error.signup_code.expired", lang), "code")
    else:
        answer = error(400, site.text("error.signup_code.invalid", lang), "code")
    if outcome in _DONE:  # the registration is done: the browser forgets it
        answer = answer.with_cookie(site.registration_cookie("", max_age=0))
    return answer.counted(outcome.value)
