"""The owner's daily digest on AWS (`OWNER_DIGEST=daily`): the `OwnerDigestSchedule` runs this
at 00:05 UTC; it mails the owner the previous UTC day's confirmations, under the delivery
policy (quick retries, then the digest is parked in the table and the scheduled recovery
retries it: never lost). With OWNER_DIGEST=off the schedule is disabled and a stray run sends
nothing."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from regflow.delivery import DeliveryService
from regflow.domain.digest import digest_day, digest_message

log = logging.getLogger("regflow.owner_digest")


def send_digest(
    delivery: DeliveryService, *, sleep: Callable[[float], None] = time.sleep
) -> dict[str, str]:
    if delivery.settings.owner_digest != "daily":
        log.info("OWNER_DIGEST is off: no digest")
        return {"result": "off"}
    day = digest_day(delivery.clock())
    result = delivery.deliver_fresh(digest_message(day), sleep=sleep)
    log.info("owner digest %s", result.value, extra={"day": day})
    return {"day": day, "result": result.value}


def handle(event: Mapping[str, Any], context: Any) -> dict[str, str]:
    """The Lambda entry point's body (`regflow.handlers.owner_digest`)."""
    from regflow.aws import wiring

    return send_digest(wiring.delivery_for(wiring.Role.DIGEST))
