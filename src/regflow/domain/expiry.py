"""Expiry counts from when the verification mail goes out (issue 21).

A registration's `ttl` is set at the post (`TOKEN_TTL_HOURS` ahead), but the link is only
useful once the mail carrying it is sent. While that mail is owed (retried by the delivery
policy, automatically for up to 14 days), the registration must neither expire nor be purged,
and the link the mail finally carries must work for the full `TOKEN_TTL_HOURS` from the send.
So each time a store schedules or hands out a verification message it pushes the
registration's ttl to `life` after that moment (`owed_ttl`). A message given up (parked for an
operator) pushes nothing: the registration expires as it stands. Stores only read, lock and
write what this decides.
"""

from __future__ import annotations

import math

from regflow.domain.messages import MessageKind
from regflow.domain.model import Status

DEFAULT_LIFE_SECONDS = 24 * 3600  # TOKEN_TTL_HOURS' default; stores are told the setting

# A push by less than this is not written: the first send, right after the post, writes
# nothing (its link lives `life` from the post, seconds before the send).
PUSH_SLACK_SECONDS = 60


def owed_ttl(
    status: Status, ttl: int | None, kind: MessageKind, due: float, life: int
) -> int | None:
    """The ttl a registration gets because its verification mail is next attempted (or goes
    out) at `due` (epoch seconds): `life` after it; None when nothing is to be written (not a
    PENDING registration's verification mail, or its ttl is late enough already)."""
    if kind is not MessageKind.VERIFICATION or status is not Status.PENDING or ttl is None:
        return None
    wanted = math.ceil(due) + life
    return wanted if wanted > ttl + PUSH_SLACK_SECONDS else None
