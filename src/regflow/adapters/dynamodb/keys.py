"""The table's key scheme and item (de)serialisation: the only module that knows how an item
is laid out.

One table, partition key `pk` (template.yaml):

- `REG#<id>`: a registration: `id`, `name`, `email`, `addrKey`, `status`, `timestamp`, `ttl`
  (PENDING only), `confirmedAt`, `language` (absent on items older than it: "en") and
  `deliveryFailure` (set when a message owed to the registrant was dropped for good);
  `signupConsent` / `confirmConsent` (JSON of `domain.Consent`, the proof of consent) and
  `codeTries` (wrong confirmation codes, CONFIRM_CODE) when there are any.
  Its INSERT on the stream owes the verification message, its PENDING -> CONFIRMED MODIFY the
  owner notification (`stream.py`).
- `ADDR#<addrKey>`: `confirmedId`, the address's one confirmed registration (permanent).
- `CHAL#<challenge>`: a spent proof-of-work solution (CHALLENGE=pow), put with
  `attribute_not_exists` in the transaction of the registration that spent it; `ttl` (the
  salt's expiry) lets TTL remove it.
- `LIMIT#IP#<client>`: the per-client limit, a fixed-window counter: `windowStart`, `count`,
  `lastAt`, `ttl`.
- `LIMIT#ADDR#<mailboxKey>`: the per-inbox limit, a sliding log: `sends` (the epoch seconds of
  the most recent sends, oldest first), `lastAt`, `ttl` (newest send + span).
- `OUTBOX#<kind>#<registration id>`, for an event `OUTBOX#<kind>#<target>#<registration id>`:
  a parked message (one per `Message.key`): `kind`, `target` (events only),
  `channel`, `regId`, `addrKey` (so that erasing an address finds it), `registration` (a map:
  the registration's attributes as on its `REG#` item, the snapshot the message is sent
  from), `attempts`, `lastError`, `parkedAt`, `firstFailedAt`, `nextAttemptAt` (absent: only
  an operator retries it), `claimedUntil` + `claimId` (the lease of the sender holding it),
  `parkedShard` (`parked_shard(pk)`: the partition key of the `ParkedMessages` index).
  It has no top-level `status` and no `ttl`: the stream filter never takes it for a
  registration, and TTL never removes it.

- `ERASED#<registration id>`: a self-service erasure (docs/erasure.md): `regId`, `addrKey`,
  `registration` (the snapshot its notice and events are sent from), `erasedAt`, `ttl`. Its
  INSERT on the stream owes the owner's erasure notice and the Registration Erased events; the
  mail sender deletes it once those are delivered or parked.

The `AddressItems` index (template.yaml, keys only) finds every item that carries `addrKey`
(registrations, parked messages, erasure records), so an erasure finds them without a Scan.

One global secondary index, `ParkedMessages` (template.yaml): partition key `parkedShard`,
sort key `nextAttemptAt`, every attribute projected. Only `OUTBOX#` items carry `parkedShard`
and only those retried automatically carry `nextAttemptAt`, so the index holds exactly the
parked messages a sweep may claim (sparse on both keys), ordered by when they are due.
`parkedShard` is `PARKED#<n>` with `n` a stable hash of the item's `pk` modulo
`PARKED_SHARDS`: a burst of parking (an SES outage while thousands of confirmations a second
come in) spreads its index writes over `PARKED_SHARDS` partitions instead of one hot one, and
a sweep Queries each shard.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from regflow.domain import (
    Consent,
    LimitState,
    Message,
    MessageKind,
    ParkedMessage,
    Registration,
    SendLog,
    Status,
)

Item = Mapping[str, Any]  # a low-level DynamoDB item: {"attr": {"S": "..."}}

PK = "pk"
REG_PREFIX = "REG#"
ADDR_PREFIX = "ADDR#"
CLIENT_LIMIT_PREFIX = "LIMIT#IP#"
ADDRESS_LIMIT_PREFIX = "LIMIT#ADDR#"
OUTBOX_PREFIX = "OUTBOX#"
# deliverability (`suppression.py`): `SUPPRESS#<suppressionKey>` a suppressed address
# (`email`, `reason`, `diagnostic`, `since`; permanent; older releases' by `mailboxKey`);
# `SOFTBOUNCE#<suppressionKey>` its recent soft bounces (`sends`: epoch seconds, oldest first;
# `ttl`: the newest + the window), `SOFTBOUNCE#event:<hash>` a report counted already
SUPPRESS_PREFIX = "SUPPRESS#"
SOFT_BOUNCE_PREFIX = "SOFTBOUNCE#"
ERASED_PREFIX = "ERASED#"  # a self-service erasure's record (erasure.py)
ADDRESS_INDEX = "AddressItems"  # every item carrying `addrKey` (template.yaml)
CHALLENGE_PREFIX = "CHAL#"  # a spent proof-of-work solution (CHALLENGE=pow): `ttl` only
DEFAULT_LANGUAGE = "en"


def reg_pk(registration_id: str) -> str:
    return f"{REG_PREFIX}{registration_id}"


def addr_pk(addr_key: str) -> str:
    return f"{ADDR_PREFIX}{addr_key}"


def client_limit_pk(client_key: str) -> str:
    return f"{CLIENT_LIMIT_PREFIX}{client_key}"


def address_limit_pk(limit_key: str) -> str:
    return f"{ADDRESS_LIMIT_PREFIX}{limit_key}"


def challenge_pk(challenge_id: str) -> str:
    return f"{CHALLENGE_PREFIX}{challenge_id}"


def outbox_pk(kind: MessageKind, registration_id: str, target: str = "") -> str:
    if target:  # an event: one parked item per target (regflow.domain.events)
        return f"{OUTBOX_PREFIX}{kind.value}#{target}#{registration_id}"
    return f"{OUTBOX_PREFIX}{kind.value}#{registration_id}"


def erased_pk(registration_id: str) -> str:
    return f"{ERASED_PREFIX}{registration_id}"


def key(pk: str) -> dict[str, Any]:
    return {PK: {"S": pk}}


def pk_of(item: Item) -> str:
    return str(item[PK]["S"])


# --- attribute values ---------------------------------------------------------------------


def s(value: str) -> dict[str, Any]:
    return {"S": value}


def n(value: float) -> dict[str, Any]:
    """A number attribute; integral values (epoch seconds of the limits) stay integers."""
    return {"N": str(value)}


def number_list(numbers: tuple[int, ...] | list[int]) -> dict[str, Any]:
    return {"L": [{"N": str(v)} for v in numbers]}


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _opt_number(item: Item, name: str) -> float | None:
    value = item.get(name)
    return float(value["N"]) if value is not None else None


# --- registrations ------------------------------------------------------------------------


def registration_attributes(registration: Registration) -> dict[str, Any]:
    """A registration's attributes (the `REG#` item without its key)."""
    item: dict[str, Any] = {
        "id": s(registration.id),
        "name": s(registration.name),
        "email": s(registration.email),
        "addrKey": s(registration.addr_key),
        "status": s(registration.status.value),
        "timestamp": s(iso(registration.timestamp)),
        "language": s(registration.language),
    }
    if registration.ttl is not None:
        item["ttl"] = n(registration.ttl)
    if registration.confirmed_at is not None:
        item["confirmedAt"] = s(iso(registration.confirmed_at))
    if registration.delivery_failure is not None:
        item["deliveryFailure"] = s(registration.delivery_failure)
    if registration.signup_consent is not None:  # JSON (`domain.Consent`)
        item["signupConsent"] = s(registration.signup_consent.to_json())
    if registration.confirm_consent is not None:
        item["confirmConsent"] = s(registration.confirm_consent.to_json())
    return item


def registration_item(registration: Registration) -> dict[str, Any]:
    """The `REG#` item of a registration."""
    return {**key(reg_pk(registration.id)), **registration_attributes(registration)}


def registration_from_item(item: Item) -> Registration:
    """A `REG#` item (from GetItem, a Scan, a cancellation reason or a stream image), or a
    parked message's `registration` map, as a value."""
    ttl = item.get("ttl")
    confirmed = item.get("confirmedAt")
    language = item.get("language")
    failure = item.get("deliveryFailure")
    return Registration(
        id=item["id"]["S"],
        name=item["name"]["S"],
        email=item["email"]["S"],
        status=Status(item["status"]["S"]),
        timestamp=datetime.fromisoformat(item["timestamp"]["S"]),
        ttl=int(ttl["N"]) if ttl is not None else None,
        confirmed_at=datetime.fromisoformat(confirmed["S"]) if confirmed is not None else None,
        language=language["S"] if language is not None else DEFAULT_LANGUAGE,
        delivery_failure=failure["S"] if failure is not None else None,
        signup_consent=Consent.from_json((item.get("signupConsent") or {}).get("S")),
        confirm_consent=Consent.from_json((item.get("confirmConsent") or {}).get("S")),
    )


def is_registration(item: Item) -> bool:
    return pk_of(item).startswith(REG_PREFIX)


def status_of(item: Item) -> str | None:
    status = item.get("status")
    return str(status["S"]) if status is not None else None


# --- limits -------------------------------------------------------------------------------


def limit_state_from_item(item: Item) -> LimitState:
    """A `LIMIT#IP#` item's fixed-window counter."""
    return LimitState(
        window_start=int(item["windowStart"]["N"]),
        count=int(item["count"]["N"]),
        last_at=int(item["lastAt"]["N"]),
    )


@dataclass(frozen=True, slots=True)
class StoredSendLog:
    """A `LIMIT#ADDR#` item's log, with `sends` and `lastAt` exactly as stored (what a
    conditional swap must find unchanged)."""

    log: SendLog
    sends: tuple[int, ...]
    last_at: int


def send_log_from_item(item: Item) -> StoredSendLog:
    sends = tuple(int(v["N"]) for v in item["sends"]["L"])
    last = item.get("lastAt")
    last_at = int(last["N"]) if last is not None else max(sends, default=0)
    return StoredSendLog(SendLog(sends), sends, last_at)


# --- parked messages ----------------------------------------------------------------------

ATTEMPTS = "attempts"
LAST_ERROR = "lastError"
PARKED_AT = "parkedAt"
FIRST_FAILED_AT = "firstFailedAt"
NEXT_ATTEMPT_AT = "nextAttemptAt"
CLAIMED_UNTIL = "claimedUntil"
CLAIM_ID = "claimId"
PARKED_SHARD = "parkedShard"
PARKED_INDEX = "ParkedMessages"
PARKED_SHARDS = 8  # divides 256: one byte of sha256 spreads evenly over the shards
PARKED_SHARD_PREFIX = "PARKED#"
REGISTRATION = "registration"


def parked_shard(pk: str) -> str:
    """The `ParkedMessages` partition of the parked item `pk`: `PARKED#<n>`, `n` from the
    first byte of sha256(pk) (stable across processes and versions, unlike `hash()`)."""
    return f"{PARKED_SHARD_PREFIX}{hashlib.sha256(pk.encode()).digest()[0] % PARKED_SHARDS}"


def parked_shards() -> list[str]:
    """Every partition of `ParkedMessages`, in order."""
    return [f"{PARKED_SHARD_PREFIX}{i}" for i in range(PARKED_SHARDS)]


def message_attributes(message: Message) -> dict[str, Any]:
    """What a parked message item holds of the message itself: everything needed to send it."""
    registration = message.registration
    attributes = {
        "kind": s(message.kind.value),
        "channel": s(message.channel.value),
        "regId": s(registration.id),
        "addrKey": s(registration.addr_key),
        REGISTRATION: {"M": registration_attributes(registration)},
    }
    if message.target:
        attributes["target"] = s(message.target)
    return attributes


def message_from_item(item: Item) -> Message:
    target = str((item.get("target") or {}).get("S", ""))
    return Message(
        MessageKind(item["kind"]["S"]), registration_from_item(item[REGISTRATION]["M"]), target
    )


def is_outbox(item: Item) -> bool:
    return pk_of(item).startswith(OUTBOX_PREFIX)


def parked_registration_id(item: Item) -> str:
    return str(item["regId"]["S"])


def attempts_of(item: Item) -> int:
    value = item.get(ATTEMPTS)
    return int(value["N"]) if value is not None else 0


def parked_at_of(item: Item) -> float:
    return _opt_number(item, PARKED_AT) or 0.0


def first_failed_at_of(item: Item) -> float | None:
    return _opt_number(item, FIRST_FAILED_AT)


def next_attempt_at_of(item: Item) -> float | None:
    return _opt_number(item, NEXT_ATTEMPT_AT)


def parked_from_item(item: Item) -> ParkedMessage:
    error = item.get(LAST_ERROR)
    return ParkedMessage(
        message=message_from_item(item),
        attempts=attempts_of(item),
        last_error=str(error["S"]) if error is not None else "",
        parked_at=parked_at_of(item),
        next_attempt_at=next_attempt_at_of(item),
    )


# --- confirmed registrations by confirmation time (issue 12) -------------------------------
#
# The sparse global secondary index `ConfirmedRegistrations` (template.yaml): partition key
# `confirmedShard`, sort key `confirmedAt` (ISO-8601 UTC with microseconds: sorts as it
# happened), every attribute projected. Only a `REG#` item that the confirm transaction made
# CONFIRMED carries `confirmedShard` (PENDING ones, locks, limits and parked messages do not),
# so the index holds exactly the confirmed registrations, in confirmation order per shard:
# `regflow export --since` Queries each shard from `since` on and merges them, never a Scan.
# `confirmedShard` is `CONFIRMED#<n>`, `n` from the first byte of sha256(id) modulo
# `CONFIRMED_SHARDS`: the index writes of a burst of confirmations spread over 16 partitions
# (each takes about 1,000 writes a second) instead of one hot one that holds "now".

CONFIRMED_SHARD = "confirmedShard"
CONFIRMED_AT = "confirmedAt"
CONFIRMED_INDEX = "ConfirmedRegistrations"
CONFIRMED_SHARDS = 16  # divides 256: one byte of sha256 spreads evenly over the shards
CONFIRMED_SHARD_PREFIX = "CONFIRMED#"


def confirmed_shard(registration_id: str) -> str:
    """The `ConfirmedRegistrations` partition of a confirmed registration (stable)."""
    digest = hashlib.sha256(registration_id.encode()).digest()[0]
    return f"{CONFIRMED_SHARD_PREFIX}{digest % CONFIRMED_SHARDS}"


def confirmed_shards() -> list[str]:
    """Every partition of `ConfirmedRegistrations`, in order."""
    return [f"{CONFIRMED_SHARD_PREFIX}{i}" for i in range(CONFIRMED_SHARDS)]
