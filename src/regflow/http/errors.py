"""The errors of the HTTP layer. `BadRequest`: a request that cannot be taken as it is (the
domain's own errors, `ValidationError`, `ClientRateLimited`, `StoreUnavailable`, are answered
by `regflow.http.app`, the one place that maps errors to statuses)."""

from __future__ import annotations


class BadRequest(Exception):
    """A request that cannot be taken as it is; `key` names its message in the catalog."""

    def __init__(self, status: int, key: str) -> None:
        super().__init__(key)
        self.status = status
        self.key = key
