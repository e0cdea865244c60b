"""`ErasureStore` on the table (docs/erasure.md): self-service erasure on the request path.

A documented safe sequence of three steps, each idempotent:

1. GetItem `REG#<id>` (consistent): is there a registration of this id and address?
2. Query the `AddressItems` index (keys only) for every item naming the address: its
   registrations, its parked messages, an older erasure record.
3. One TransactWriteItems: delete all of them and the `ADDR#` lock, and put the
   `ERASED#<id>` record (the snapshot the notice and events are sent from, with a ttl). The
   record's INSERT on the stream owes the owner's notice and the Registration Erased events
   (`stream.py`); the mail sender deletes it once they are delivered or parked.

The index is eventually consistent: a registration of the same address written in the very
milliseconds before the erasure may be missed by step 2; the erasure link keeps working for it
(a second click erases it). The per-inbox send log (`LIMIT#ADDR#<hash>`) stays until its ttl:
it names no address in clear and keeps the mail limits honest across erase and re-register.
"""

from __future__ import annotations

from datetime import datetime

from regflow.adapters.dynamodb import keys
from regflow.adapters.dynamodb.keys import n, s
from regflow.adapters.dynamodb.table import Table
from regflow.domain import Registration
from regflow.domain.transitions import UNKNOWN, ConfirmState, EraseInputs, decide_erase

# An erasure record lives at most this long (its messages are sent in seconds; parked ones
# carry their own copy in their OUTBOX# item).
ERASED_TTL_SECONDS = 24 * 3600
MAX_TRANSACTION_ITEMS = 100  # DynamoDB's limit


class ErasureMixin(Table):
    """`ErasureStore` (see the module docstring)."""

    def erase(self, registration_id: str, addr_key: str, now: datetime) -> Registration | None:
        item = self._get(keys.reg_pk(registration_id))
        registration = None if item is None else keys.registration_from_item(item)
        state = UNKNOWN
        if registration is not None:
            state = ConfirmState(registration.status, registration.addr_key)
        # the messages owed follow from the stream (`stream.py`: the record's INSERT)
        if registration is None or decide_erase(state, EraseInputs(addr_key)).write is None:
            return None
        pks = {keys.reg_pk(registration_id)}
        for page in self._query(
            IndexName=keys.ADDRESS_INDEX,
            KeyConditionExpression="#a = :a",
            ExpressionAttributeNames={"#a": "addrKey"},
            ExpressionAttributeValues={":a": s(addr_key)},
        ):
            pks.update(keys.pk_of(found) for found in page)
        pks.discard(keys.erased_pk(registration_id))  # put again below
        epoch = now.timestamp()
        record = {
            **keys.key(keys.erased_pk(registration_id)),
            "regId": s(registration_id),
            "addrKey": s(addr_key),
            keys.REGISTRATION: {"M": keys.registration_attributes(registration)},
            "erasedAt": n(round(epoch, 3)),
            "ttl": n(int(epoch) + ERASED_TTL_SECONDS),
        }
        deletes = sorted(pks | {keys.addr_pk(addr_key)})
        # more than one transaction only for an address with ~100 registrations at once
        # (the per-address limit allows 5 a day): earlier batches first, the record last
        while len(deletes) > MAX_TRANSACTION_ITEMS - 1:
            batch, deletes = (
                deletes[: MAX_TRANSACTION_ITEMS - 1],
                deletes[MAX_TRANSACTION_ITEMS - 1 :],
            )
            self._transact([self._delete(pk) for pk in batch])
        self._transact(
            [self._delete(pk) for pk in deletes]
            + [{"Put": {"TableName": self._table, "Item": record}}]
        )
        return registration

    def _delete(self, pk: str) -> dict[str, object]:
        return {"Delete": {"TableName": self._table, "Key": keys.key(pk)}}

    def forget_erasure(self, registration_id: str) -> None:
        """The erasure's messages are delivered or parked (each parked one keeps its own
        copy): the record goes now rather than at its ttl."""
        self._call(self._client.delete_item, Key=keys.key(keys.erased_pk(registration_id)))
