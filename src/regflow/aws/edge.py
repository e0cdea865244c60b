"""The gate in front of every function behind an API route (register, confirm, erase): a
request that did not come through the stack's CloudFront distribution gets 403
(`regflow.http.HttpApi.from_edge`), and a function that cannot fetch its secrets yet
(Secrets Manager throttled or unreachable on its first request) answers 503 with
`Retry-After` instead of failing the invocation."""

from __future__ import annotations

import logging
import os
from typing import Any

from regflow.aws.wiring import Role, http_api
from regflow.domain import StoreUnavailable

log = logging.getLogger("regflow.aws")


def gate(role: Role, event: dict[str, Any]) -> dict[str, Any] | None:
    """None: serve `event`; else the answer to give instead."""
    try:
        api = http_api(role)
    except StoreUnavailable as exc:
        from regflow.http.response import error
        from regflow.render import SUPPORTED_LANGUAGES
        from regflow.render.catalog import Catalog

        log.warning("secrets unavailable", extra={"retry_after": exc.retry_after})
        language = os.environ.get("DEFAULT_LANGUAGE", "en")
        language = language if language in SUPPORTED_LANGUAGES else "en"
        words = Catalog(None, language).text("error.busy", language)
        return error(503, words, **{"Retry-After": str(exc.retry_after)}).to_event()
    return api.from_edge(event)
