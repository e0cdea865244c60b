"""Structured JSON logs with a correlation id per request.

Never log tokens or full email addresses at INFO: use `domain.mask_email`, and log registration
ids (which confirm nothing without the secret) instead of tokens.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

correlation_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "correlation_id", default=None
)

_STANDARD = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", (), None)).keys() | {"message", "asctime"}
)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        cid = correlation_id.get()
        if cid:
            entry["correlation_id"] = cid
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info and record.exc_info[0] is not None:
            entry["exception"] = record.exc_info[0].__name__
            entry["traceback"] = self.formatException(record.exc_info)
        line = json.dumps(entry, default=str, ensure_ascii=False)
        try:
            line.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate somewhere: one valid line all the same
            line = json.dumps(entry, default=str, ensure_ascii=True)
        return line


def configure(level: str = "INFO", stream: Any = None) -> None:
    """Send every `regflow` log record to one JSON line on stdout (or `stream`)."""
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("regflow")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def adopt(name: str) -> None:
    """Send another library's logger (e.g. "uvicorn") through regflow's JSON handler: no
    unstructured line (nor Python's last-resort handler) on the server's output."""
    handlers = logging.getLogger("regflow").handlers
    target = logging.getLogger(name)
    target.handlers[:] = list(handlers)
    target.propagate = False
