"""A view: a function from the request (and the site it answers for) to a response, with what
the one error handler and the metrics need to know of it (`@view(...)`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from regflow.http.app import HttpApi
    from regflow.http.request import Request
    from regflow.http.response import Response


class Pages(Enum):
    """When an answer the view could not give (429, 503, 500) is an HTML page, not JSON."""

    NEVER = "never"  # an API for scripts
    ALWAYS = "always"  # only ever a browser's page
    NAVIGATED = "navigated"  # a browser that navigated here (Accept: text/html)
    FORM_POST = "form-post"  # a browser's plain form post (no JavaScript)

    def for_request(self, request: Request) -> bool:
        if self is Pages.ALWAYS:
            return True
        if self is Pages.NAVIGATED:
            return request.wants_html
        if self is Pages.FORM_POST:
            return request.is_form and request.wants_html
        return False


Handler = Callable[["Request", "HttpApi"], "Response"]


@dataclass(frozen=True, slots=True)
class View:
    handler: Handler
    pages: Pages = Pages.NEVER
    # what the metrics count: `metric` + the response's outcome (`Registration` + `accepted`:
    # `RegistrationAccepted`); `otherwise` for an answer that names none (a refused request)
    metric: str | None = None
    otherwise: str | None = None

    def __call__(self, request: Request, site: HttpApi) -> Response:
        return self.handler(request, site)


def view(
    *, pages: Pages = Pages.NEVER, metric: str | None = None, otherwise: str | None = None
) -> Callable[[Handler], View]:
    def wrap(handler: Handler) -> View:
        return View(handler, pages, metric, otherwise)

    return wrap
