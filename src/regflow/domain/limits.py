"""The abuse limits: a fixed-window counter per client, a sliding log per inbox.

Shared by every store adapter: the stores persist these values and judge with them, inside
their one atomic write.
"""

from __future__ import annotations

from dataclasses import dataclass

from regflow.domain.model import ClientRateLimited


@dataclass(frozen=True, slots=True)
class Limit:
    """At most `max_count` events per `window_seconds`, and at least `min_interval_seconds`
    between two events. `max_count == 0` turns the window part off; `min_interval_seconds == 0`
    the interval part."""

    max_count: int
    window_seconds: int
    min_interval_seconds: int = 0

    @property
    def enabled(self) -> bool:
        return self.max_count > 0 or self.min_interval_seconds > 0


@dataclass(frozen=True, slots=True)
class LimitState:
    """A fixed-window counter: the per-client (IP) limit.

    The window opens at the first counted event and counts `max_count` events until
    `window_seconds` later; the next event after that opens a new window. That is "per hour"
    counting (`IP_LIMIT_PER_HOUR`, one event per request), deliberately not a rolling window:
    it costs one small counter per client, and back-to-back windows may let a client through
    up to `2 * max_count - 1` times in a rolling hour, which is the documented bound of that
    limit. The per-address mail cap is exact over any rolling window instead: see `SendLog`.
    """

    window_start: int  # epoch seconds
    count: int
    last_at: int  # epoch seconds of the last counted event

    def allows(self, limit: Limit, now: int) -> bool:
        if limit.min_interval_seconds and now - self.last_at < limit.min_interval_seconds:
            return False
        if limit.max_count and not self.window_over(limit, now):
            return self.count < limit.max_count
        return True

    def window_over(self, limit: Limit, now: int) -> bool:
        return now - self.window_start >= limit.window_seconds

    def after_event(self, limit: Limit, now: int) -> LimitState:
        if self.window_over(limit, now):
            return LimitState(window_start=now, count=1, last_at=now)
        return LimitState(window_start=self.window_start, count=self.count + 1, last_at=now)

    def retry_after(self, limit: Limit, now: int) -> int:
        """Seconds until an event would be allowed again (at least 1)."""
        waits = [1]
        if limit.min_interval_seconds:
            waits.append(self.last_at + limit.min_interval_seconds - now)
        if limit.max_count and not self.window_over(limit, now) and self.count >= limit.max_count:
            waits.append(self.window_start + limit.window_seconds - now)
        return max(waits)

    @staticmethod
    def first(now: int) -> LimitState:
        return LimitState(window_start=now, count=1, last_at=now)


@dataclass(frozen=True, slots=True)
class SendLog:
    """The per-address limit: a sliding log of the most recent send times (epoch seconds,
    oldest first, at most `max(limit.max_count, 1)` of them).

    A send at `now` is allowed when the last send is at least `min_interval_seconds` old and
    fewer than `max_count` sends lie in the rolling window `(now - window_seconds, now]`, so
    no interval of `window_seconds` ever holds more than `max_count` sends (exact, not a fixed
    window: a send at T slides out at T + window_seconds). Older entries are pruned whenever
    the log is written.
    """

    times: tuple[int, ...] = ()

    @property
    def last_at(self) -> int | None:
        return max(self.times) if self.times else None

    def in_window(self, limit: Limit, now: int) -> tuple[int, ...]:
        """The sends that still count against `limit.max_count` at `now`."""
        return tuple(t for t in self.times if now - t < limit.window_seconds)

    def allows(self, limit: Limit, now: int) -> bool:
        last = self.last_at
        if (
            limit.min_interval_seconds
            and last is not None
            and now - last < limit.min_interval_seconds
        ):
            return False
        if limit.max_count:
            return len(self.in_window(limit, now)) < limit.max_count
        return True

    def after_event(self, limit: Limit, now: int) -> SendLog:
        """The log with a send at `now` recorded and everything that no longer counts pruned."""
        keep = max(limit.max_count, 1)
        recent = self.in_window(limit, now) if limit.max_count else self.times
        return SendLog(tuple(sorted((*recent, now)))[-keep:])

    def retry_after(self, limit: Limit, now: int) -> int:
        """Seconds until a send would be allowed again (at least 1)."""
        waits = [1]
        last = self.last_at
        if limit.min_interval_seconds and last is not None:
            waits.append(last + limit.min_interval_seconds - now)
        if limit.max_count:
            recent = sorted(self.in_window(limit, now))
            excess = len(recent) - limit.max_count
            if excess >= 0:  # the send that frees a slot is the (excess + 1)-th oldest
                waits.append(recent[excess] + limit.window_seconds - now)
        return max(waits)

    def expires(self, limit: Limit) -> int | None:
        """Epoch seconds from which the log no longer limits anything (None when empty)."""
        last = self.last_at
        if last is None:
            return None
        window = limit.window_seconds if limit.max_count else 0
        return last + max(window, limit.min_interval_seconds)

    @staticmethod
    def from_window_counter(state: LimitState, keep: int) -> SendLog:
        """A conservative log for a legacy fixed-window counter: its first send at
        `window_start`, the others (times unknown) at `last_at`, the latest they can be; at
        most `keep` entries (at least one), the newest."""
        keep = max(keep, 1)
        count = min(max(state.count, 1), keep + 1)
        times = (state.window_start, *([state.last_at] * (count - 1))) if count > 1 else ()
        return SendLog((times or (state.last_at,))[-keep:])


# --- one post, judged: `transitions.decide_create`'s, and DynamoDB's re-plan from the item
# a failed condition returned ------------------------------------------------------------------


def count_client(state: LimitState | None, limit: Limit, now: int) -> LimitState:
    """The client's counter after one more post. Raises `ClientRateLimited` when the limit
    says no (the post is refused and nothing is counted)."""
    if state is None:
        return LimitState.first(now)
    if not state.allows(limit, now):
        raise ClientRateLimited(state.retry_after(limit, now))
    return state.after_event(limit, now)


def count_send(log: SendLog, limit: Limit, now: int) -> SendLog | None:
    """The inbox's send log after one more verification mail, or None when the limit says
    no (the post is answered like any other, and its client is still counted)."""
    return log.after_event(limit, now) if log.allows(limit, now) else None
