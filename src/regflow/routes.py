"""The one route table: every HTTP route regflow answers, declared once.

Each line names the method and path, the view that answers it (`module:function` under
`regflow.views`, imported on first use, so a Lambda function loads only its own views), the
Lambda function that serves it on AWS (its logical id in `template.yaml`) and the CloudFront
path pattern that sends it to the API. The embedded server's routes (`regflow.local.app`) and
the Lambda functions' dispatch (`regflow.http.app.HttpApi.handle`) are built from it;
`tests/unit/test_routes.py` holds `template.yaml` (the HTTP API's RouteKeys and their
functions, the distribution's CacheBehaviors) and `openapi.yaml` against it, both ways.

A new route is one line here and one view in `regflow.views`.
"""

from __future__ import annotations

from dataclasses import dataclass

REGISTRATION = "RegistrationHandler"  # no token secret, no SES: register, the challenge
CONFIRMATION = "ConfirmationHandler"  # the token secret: every way to confirm, the resend
ERASURE = "ErasureHandler"  # self-service erasure (docs/erasure.md)


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str
    view: str  # "module:function" in regflow.views
    function: str  # the Lambda function's logical id (template.yaml)
    cdn: str | None  # the CloudFront path pattern routing it to the API (None: not routed)

    @property
    def key(self) -> str:
        """The API Gateway route key: `POST /register`."""
        return f"{self.method} {self.path}"

    @property
    def name(self) -> str:
        """What the metrics call it (`route` of each metrics line): the path's name."""
        return self.path.strip("/")


ROUTES: tuple[Route, ...] = (
    Route("POST", "/register", "register:register", REGISTRATION, "/register"),
    Route("GET", "/challenge", "challenge:challenge", REGISTRATION, "/challenge"),  # CHALLENGE=pow
    Route("GET", "/confirm", "confirm:link", CONFIRMATION, "/confirm"),
    Route("POST", "/confirm", "confirm:button", CONFIRMATION, "/confirm"),  # CONFIRM_MODE=button
    Route("POST", "/confirm-code", "confirm_code:confirm_code", CONFIRMATION, "/confirm-code"),
    Route("POST", "/resend", "resend:resend", CONFIRMATION, "/resend"),  # the expired page's
    Route("GET", "/erase", "erase:ask", ERASURE, "/erase"),
    Route("POST", "/erase", "erase:erase", ERASURE, "/erase"),
)

_BY_KEY = {route.key: route for route in ROUTES}


def find(method: str, path: str) -> Route | None:
    return _BY_KEY.get(f"{method} {path}")


def paths() -> tuple[str, ...]:
    """Every routed path, in the table's order."""
    return tuple(dict.fromkeys(route.path for route in ROUTES))


def methods(path: str) -> tuple[str, ...]:
    """The methods `path` answers (the `Allow` header of a 405), in the table's order."""
    return tuple(route.method for route in ROUTES if route.path == path)


def of_function(function: str) -> tuple[Route, ...]:
    """The routes the Lambda function `function` (a logical id) serves."""
    return tuple(route for route in ROUTES if route.function == function)
