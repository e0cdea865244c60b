"""`RegistrationStore` on the table: every state change is one `TransactWriteItems` call.

The registration and the limits it counts against change together: `create_pending` puts the
`REG#` item and updates the `LIMIT#` items in one transaction, `confirm` updates the `REG#` item
and the `ADDR#` lock in one. The stream then says what the change owes (`stream.py`): the state
change and the message it owes are one atomic write. Limit items change only inside the
transaction that stores a registration.

Conditions are judged by DynamoDB, never by a read first. When a transaction is cancelled,
`ReturnValuesOnConditionCheckFailure=ALL_OLD` brings back the items whose condition failed, and
the outcome is derived from them, so the normal path of each request is exactly one call.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from regflow.adapters.decided import DecidedChanges
from regflow.adapters.dynamodb import keys
from regflow.adapters.dynamodb.expressions import Expression, all_of, any_of
from regflow.adapters.dynamodb.keys import n, number_list, s
from regflow.adapters.dynamodb.table import CHECK_FAILED, Cancelled, Table
from regflow.domain import (
    ClientRateLimited,
    CreateResult,
    Limit,
    Outcome,
    Registration,
    SendLog,
    SpentChallenge,
    Status,
    StoreUnavailable,
)
from regflow.domain.challenge import replayed
from regflow.domain.transitions import (
    UNKNOWN,
    Check,
    ConfirmInputs,
    ConfirmState,
    CreateInputs,
    confirm_guard,
    decide_confirm,
)

# --- the two limit counters ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClientWindow:
    """The per-client fixed-window counter (`LIMIT#IP#`). `reset_from`: the stored
    `windowStart` of a window that is over, to restart conditioned on it being unchanged."""

    pk: str
    limit: Limit
    reset_from: int | None = None

    def update(self, now: int) -> Expression:
        limit = self.limit
        e = Expression()
        interval_ok = ""
        if limit.min_interval_seconds:
            interval_ok = e.compare(
                "lastAt", "<=", "lastCutoff", n(now - limit.min_interval_seconds)
            )
        ttl = n(now + limit.window_seconds + limit.min_interval_seconds + 60)
        if self.reset_from is not None:
            # The window is over: restart it, unless someone else restarted it first.
            e.set_value("count", "one", n(1))
            e.set_value("windowStart", "now", n(now))
            e.set_value("lastAt", "now", n(now))
            e.set_value("ttl", "ttl", ttl)
            return e.condition(
                all_of(e.compare("windowStart", "=", "oldStart", n(self.reset_from)), interval_ok)
            )
        window_ok = ""
        if limit.max_count:
            window_ok = all_of(
                e.compare("windowStart", ">", "windowCutoff", n(now - limit.window_seconds)),
                e.compare("count", "<", "max", n(limit.max_count)),
            )
        e.set("windowStart", e.if_not_exists("windowStart", e.value("now", n(now))))
        e.set_value("lastAt", "now", n(now))
        e.set_value("ttl", "ttl", ttl)
        e.add("count", e.value("one", n(1)))
        return e.condition(any_of(e.not_exists(keys.PK), all_of(interval_ok, window_ok)))

    def replan(self, old: keys.Item, now: int) -> ClientWindow:
        """The counter to write after its condition failed on `old`; raises
        `ClientRateLimited` when `old` says no."""
        state = keys.limit_state_from_item(old)
        if not state.allows(self.limit, now):
            raise ClientRateLimited(state.retry_after(self.limit, now))
        reset = state.window_start if state.window_over(self.limit, now) else None
        return ClientWindow(self.pk, self.limit, reset_from=reset)


@dataclass(frozen=True, slots=True)
class AddressSendLog:
    """The per-inbox sliding send log (`LIMIT#ADDR#`). Without `swap` it appends the send
    while the log holds fewer than `max_count` sends (judged by DynamoDB, no read); with
    `swap` it replaces the log a cancelled attempt returned by the pruned one, conditioned on
    the stored log being unchanged."""

    pk: str
    limit: Limit
    swap: LogSwap | None = None

    def update(self, now: int) -> Expression:
        limit = self.limit
        span = max(limit.window_seconds if limit.max_count else 0, limit.min_interval_seconds)
        e = Expression()
        interval_ok = ""
        if limit.min_interval_seconds:
            interval_ok = e.compare(
                "lastAt", "<=", "lastCutoff", n(now - limit.min_interval_seconds)
            )
        swap = self.swap
        if swap is not None:
            e.set_value("sends", "sends", number_list(swap.new.times))
            e.set_value("lastAt", "now", n(now))
            e.set_value("ttl", "ttl", n(max(swap.new.times) + span))
            return e.condition(
                all_of(
                    e.compare("sends", "=", "oldSends", number_list(swap.old_sends)),
                    e.compare("lastAt", "=", "oldLast", n(swap.old_last_at)),
                    interval_ok,
                )
            )
        now_list = e.value("nowList", number_list((now,)))
        room = ""
        if limit.max_count:
            room = e.size_below("sends", "max", n(limit.max_count))
            empty = e.value("empty", {"L": []})
            e.set("sends", f"list_append({e.if_not_exists('sends', empty)}, {now_list})")
        else:  # no cap: only the last send matters (the minimum interval)
            e.set("sends", now_list)
        e.set_value("lastAt", "now", n(now))
        e.set_value("ttl", "ttl", n(now + span))
        return e.condition(any_of(e.not_exists(keys.PK), all_of(interval_ok, room)))

    def replan(self, old: keys.Item, now: int) -> AddressSendLog | None:
        """The log to write after its condition failed on `old`; None when `old` says no."""
        stored = keys.send_log_from_item(old)
        if not stored.log.allows(self.limit, now):
            return None
        swap = LogSwap(stored.sends, stored.last_at, stored.log.after_event(self.limit, now))
        return AddressSendLog(self.pk, self.limit, swap=swap)


@dataclass(frozen=True, slots=True)
class LogSwap:
    """Replace an address's send log that a cancelled attempt returned (pruned + the new send),
    on condition that nobody changed it meanwhile."""

    old_sends: tuple[int, ...]  # as stored
    old_last_at: int
    new: SendLog


Counter = ClientWindow | AddressSendLog


class StoreMixin(DecidedChanges, Table):
    """`RegistrationStore` on the table (see the module docstring)."""

    def _update(self, pk: str, expression: Expression) -> dict[str, Any]:
        """One conditional Update inside a transaction; a failed condition brings the old
        item back in the cancellation reasons."""
        return {
            "Update": {
                "TableName": self._table,
                "Key": keys.key(pk),
                **expression.params(),
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        }

    def _create(self, registration: Registration, inputs: CreateInputs) -> CreateResult:
        address_limit, client_limit = inputs.address_limit, inputs.client_limit
        client_key, challenge = inputs.client_key, inputs.challenge
        now = int(registration.timestamp.timestamp())
        counters: list[Counter] = []
        if client_key is not None and client_limit.enabled:
            counters.append(ClientWindow(keys.client_limit_pk(client_key), client_limit))
        if address_limit.enabled:
            counters.append(
                AddressSendLog(keys.address_limit_pk(registration.limit_key), address_limit)
            )
        new = Expression()
        new.condition(new.not_exists(keys.PK))
        put = {
            "Put": {
                "TableName": self._table,
                "Item": keys.registration_item(registration),
                **new.params(),
            }
        }
        # The first attempt appends to the address log while it holds fewer than max_count
        # sends, and counts the client normally. When a condition fails, the old items the
        # cancellation returned decide: limited (nothing written), or re-plan that counter (the
        # client window restarts; the address log is pruned of sends older than the window and
        # swapped conditioned on being unchanged). Each round re-plans from fresh old items, so
        # concurrent writers make a round fail and are re-judged, never double-counted.
        spend = [] if challenge is None else [self._spend(challenge)]
        for _round in range(self._max_attempts + 1):
            items = [put] + [self._update(c.pk, c.update(now)) for c in counters] + spend
            try:
                self._transact(items)
                return CreateResult.CREATED
            except Cancelled as cancelled:
                if spend and cancelled.code(len(items) - 1) == CHECK_FAILED:
                    raise replayed() from None
                if cancelled.code(0) == CHECK_FAILED:
                    raise RuntimeError("registration id collision") from None
                counters, limited = self._replan(counters, cancelled, now)
                if limited:
                    client = next((c for c in counters if isinstance(c, ClientWindow)), None)
                    if client is not None or spend:
                        self._count_client(client, now, spend)
                    return CreateResult.ADDRESS_LIMITED
        raise StoreUnavailable(1)

    def _spend(self, challenge: SpentChallenge) -> dict[str, Any]:
        """The Put of a `CHAL#` item: in the transaction of the post that spends it, on
        condition it was never spent (the item lives until TTL removes it after `ttl`)."""
        e = Expression()
        e.condition(e.not_exists(keys.PK))
        item = {**keys.key(keys.challenge_pk(challenge.id)), "ttl": n(challenge.expires)}
        return {"Put": {"TableName": self._table, "Item": item, **e.params()}}

    def _count_client(
        self, counter: ClientWindow | None, now: int, spend: list[dict[str, Any]] | None = None
    ) -> None:
        """Count a post the address limit refused against its client, like any other post
        (or counting posts before the 429 would tell a limited address). The cancelled
        transaction wrote nothing, so this is one more call: a one-item transaction with the
        same conditional update (the same IAM action as the first call), re-planned from the
        old item on a failed condition as in `create_pending`."""
        for _round in range(self._max_attempts + 1):
            update = [] if counter is None else [self._update(counter.pk, counter.update(now))]
            try:
                self._transact(update + (spend or []))
                return
            except Cancelled as cancelled:
                if spend and cancelled.code(len(update)) == CHECK_FAILED:
                    raise replayed() from None
                assert counter is not None
                old = cancelled.old_item(0)
                if old is None:  # gone meanwhile (TTL): count from scratch
                    counter = ClientWindow(counter.pk, counter.limit)
                else:
                    counter = counter.replan(old, now)  # raises ClientRateLimited
        raise StoreUnavailable(1)

    @staticmethod
    def _replan(
        counters: list[Counter], cancelled: Cancelled, now: int
    ) -> tuple[list[Counter], bool]:
        """The counters of the next round, and whether the address limit said no. Raises
        `ClientRateLimited` when the client limit says no (it wins over the address's)."""
        replanned: list[Counter] = []
        address_limited = False
        for index, counter in enumerate(counters, start=1):
            if cancelled.code(index) != CHECK_FAILED:
                replanned.append(counter)
                continue
            old = cancelled.old_item(index)
            if old is None:  # gone meanwhile (TTL): count from scratch
                replanned.append(type(counter)(counter.pk, counter.limit))
            elif isinstance(counter, ClientWindow):
                replanned.append(counter.replan(old, now))
            else:
                swapped = counter.replan(old, now)
                address_limited = address_limited or swapped is None
                replanned.append(swapped or counter)
        return replanned, address_limited

    def _confirm(self, registration_id: str, now: datetime, inputs: ConfirmInputs) -> Outcome:
        """One TransactWriteItems under the domain's guard (`domain.transitions`), no read
        first: the `REG#` item becomes CONFIRMED and joins the sparse ConfirmedRegistrations
        index (keys.py) and the `ADDR#` lock is taken, or (a wrong code) the item counts one
        more try. The messages owed follow from the stream (`stream.py`). When a condition
        fails, `decide_confirm` judges the `ALL_OLD` item the cancellation returned."""
        guard = confirm_guard(now, inputs)
        reg = Expression()
        reg.condition(all_of(*(_condition(reg, check) for check in guard.checks)))
        if not guard.address_free:  # a wrong code: one more try
            reg.add("codeTries", reg.value("one", n(1)))
            with contextlib.suppress(Cancelled):  # the guard failed: nothing to count
                self._transact([self._update(keys.reg_pk(registration_id), reg)])
            return Outcome.INVALID
        reg.set_value("status", "confirmed", s(Status.CONFIRMED.value))
        reg.set_value("confirmedAt", "at", s(keys.iso(now)))
        reg.set_value(keys.CONFIRMED_SHARD, "cshard", s(keys.confirmed_shard(registration_id)))
        if inputs.consent is not None:
            reg.set_value("confirmConsent", "consent", s(inputs.consent.to_json()))
        reg.remove("ttl")
        lock = Expression()
        lock.set_value("confirmedId", "id", s(registration_id))
        lock.condition(lock.not_exists("confirmedId"))
        items = [
            self._update(keys.reg_pk(registration_id), reg),
            self._update(keys.addr_pk(inputs.addr_key), lock),
        ]
        try:
            self._transact(items)
        except Cancelled as cancelled:
            if cancelled.code(0) == CHECK_FAILED:
                state = _confirm_state(cancelled.old_item(0))
            else:  # the registration passed its checks; the address is locked already
                state = ConfirmState(Status.PENDING, inputs.addr_key, address_locked=True)
            decision = decide_confirm(state, now, inputs)
            assert decision.write is None, "the guard and the decision disagree"
            return decision.outcome
        return Outcome.CONFIRMED

    def get(self, registration_id: str) -> Registration | None:
        item = self._get(keys.reg_pk(registration_id))
        return keys.registration_from_item(item) if item is not None else None

    def confirmed_registration_id(self, addr_key: str) -> str | None:
        item = self._get(keys.addr_pk(addr_key))
        confirmed = item.get("confirmedId") if item is not None else None
        return str(confirmed["S"]) if confirmed is not None else None


# the domain's field names (`transitions.Field`) as the `REG#` item's attributes, and the
# names of their values in the condition
_ATTRIBUTES = {
    "addr_key": ("addrKey", "addr"),
    "status": ("status", "pending"),
    "ttl": ("ttl", "now"),
    "code_tries": ("codeTries", "maxTries"),
}


def _condition(e: Expression, check: Check) -> str:
    value = s(check.value) if isinstance(check.value, str) else n(check.value)
    attribute, name = _ATTRIBUTES[check.field]
    clause = e.compare(attribute, check.op, name, value)
    return any_of(e.not_exists(attribute), clause) if check.missing_passes else clause


def _confirm_state(old: keys.Item | None) -> ConfirmState:
    """What `decide_confirm` judges: the `REG#` item as it was when its condition failed."""
    status = None if old is None else keys.status_of(old)
    if old is None or status is None:
        return UNKNOWN
    ttl, tries = old.get("ttl"), old.get("codeTries")
    return ConfirmState(
        Status(status),
        old.get("addrKey", {}).get("S", ""),
        None if ttl is None else int(ttl["N"]),
        0 if tries is None else int(tries["N"]),
    )
