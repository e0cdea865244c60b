"""The views: one module per flow, each view a function from the `Request` (and the `HttpApi`
it answers for: the intake service, the settings, the words and pages) to a `Response`.

A route names its view in `regflow.routes` (`module:function`); errors a view raises are
answered by `regflow.http.app`, the one place that maps them to statuses and counts metrics."""
