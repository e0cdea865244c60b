"""The HTTP layer (the model: Powertools' `APIGatewayHttpResolver`, Chalice): a typed, frozen
request over the API Gateway v2 event (`request`), the response a view returns (`response`),
the registration cookie (`cookies`), what a view declares (`view`), and the one place around
every view that resolves its route, maps errors to statuses and counts metrics (`app`).

The views themselves are in `regflow.views`, one module per flow; the routes in
`regflow.routes`."""

from regflow.http.app import HttpApi
from regflow.http.errors import BadRequest
from regflow.http.request import MAX_BODY_BYTES, Request
from regflow.http.response import SECURITY_HEADERS, Response
from regflow.http.view import Pages, View, view

__all__ = [
    "MAX_BODY_BYTES",
    "SECURITY_HEADERS",
    "BadRequest",
    "HttpApi",
    "Pages",
    "Request",
    "Response",
    "View",
    "view",
]
