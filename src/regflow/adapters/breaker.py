"""The mail breaker's state in this process (`ports.BreakerStore`): the embedded runtime,
whose one outbox worker sends every message of the process. With several replicas over one
PostgreSQL database each process has its own breaker (each opens on its own refusals)."""

from __future__ import annotations

import threading

from regflow.domain.breaker import CLOSED, Breaker


class ProcessBreaker:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state = CLOSED

    def load(self) -> Breaker:
        with self._lock:
            return self._state

    def save(self, breaker: Breaker) -> None:
        with self._lock:
            self._state = breaker
