"""GET /challenge (CHALLENGE=pow): a fresh HMAC-signed, expiring proof-of-work challenge in the
ALTCHA format; 204 (no content) when the challenge is off, so a page that asks on every load
learns it without an error."""

from __future__ import annotations

from typing import TYPE_CHECKING

from regflow.http.response import Response, json_response
from regflow.http.view import view

if TYPE_CHECKING:
    from regflow.http.app import HttpApi
    from regflow.http.request import Request


@view()
def challenge(request: Request, site: HttpApi) -> Response:
    issued = site.intake.issue_challenge()
    if issued is None:
        return Response(204)
    return json_response(200, issued)
