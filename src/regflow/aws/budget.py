"""Time budgets: the clients' timeouts and retries, and why they fit the functions' timeouts.

Every AWS call is bounded by botocore: `attempts x (connect + read)` plus the backoff between
attempts (standard mode: at most 1 s before the second attempt). With the numbers below:

    DynamoDB, Secrets Manager   2 x (1 s + 3 s) + 1 s =  9 s  (throttling clears in ms there)
    SES v2 SendEmail            1 x (1 s + 5 s)       =  6 s  (one attempt: the delivery
                                                               policy owns SES retries)

Request path (API Gateway's integration timeout is at most 30 s):

    register  one TransactWriteItems                     9 s  < Timeout 12 s <= integration 12 s
    confirm   the token secret (first request) + one     18 s < Timeout 20 s <= integration 20 s
              TransactWriteItems

(a transaction conflict is answered in milliseconds and retried by the adapter a few times in
milliseconds; only a call that times out takes the seconds above, and it ends the request.)

Mail sender (Timeout 120 s): one message is, at worst, the token secret (first message only),
the address lock (GetItem), the send and the park (UpdateItem):

    9 + 9 + 6 + 9 = 33 s   -> MIN_REMAINING_MS 35 s: no new record with less left
    (an event instead of a mail: PutEvents 1 x (1 s + 3 s) = 4 s, or a webhook POST, a
    10 s wall-clock deadline from connecting to the answer (a receiver that dribbles its
    answer is cut off then: regflow.adapters.webhook.DEADLINE_SECONDS); both fit. A
    confirmation owes several messages; each after the first starts only with
    MIN_REMAINING_MS left, else it waits parked for the recovery: regflow.aws.mail_sender)
    a quick retry after its backoff: GetItem + send + park = 24 s
                           -> RETRY_MARGIN_SECONDS 25 s (regflow.delivery)

Recovery (Timeout 120 s): a claimed message also reads the registration (GetItem) and settles
(DeleteItem or UpdateItem): secret + 2 x GetItem + send + settle = 9 + 18 + 6 + 9 = 42 s
    -> MIN_REMAINING_MS 45 s. (Claims are leases: one that outlives a run is the next run's.)

tests/unit/test_time_budget.py recomputes all of this from these numbers and template.yaml.
"""

from __future__ import annotations

CONNECT_TIMEOUT = 1.0
READ_TIMEOUT = 3.0  # DynamoDB and Secrets Manager answer in milliseconds when healthy
SES_READ_TIMEOUT = 5.0  # SendEmail with a raw MIME body
FIRST_RETRY_BACKOFF = 1.0  # botocore standard mode: rand(0, 1) x 2^0 before attempt 2

# EventBridge PutEvents: one attempt, like SES (the delivery policy owns event retries);
# one PutEvents is well inside a fresh message's worst case (1 s + 3 s < a send's 6 s).
ATTEMPTS = {"dynamodb": 2, "secretsmanager": 2, "sesv2": 1, "events": 1}


def read_timeout(service: str) -> float:
    return SES_READ_TIMEOUT if service == "sesv2" else READ_TIMEOUT


def worst_call(service: str) -> float:
    """Seconds one call to `service` can take before botocore gives up."""
    attempts = ATTEMPTS[service]
    backoff = FIRST_RETRY_BACKOFF * float(2 ** (attempts - 1) - 1)  # 1 s for 2 attempts
    return attempts * (CONNECT_TIMEOUT + read_timeout(service)) + backoff


def worst_register() -> float:
    return worst_call("dynamodb")


def worst_confirm() -> float:
    return worst_call("secretsmanager") + worst_call("dynamodb")


def worst_fresh_message() -> float:
    """The mail sender: secret + address lock + send + park."""
    return worst_call("secretsmanager") + 2 * worst_call("dynamodb") + worst_call("sesv2")


def worst_retry() -> float:
    """A quick retry after its backoff: address lock + send + park (the secret is cached)."""
    return 2 * worst_call("dynamodb") + worst_call("sesv2")


def worst_claimed_message() -> float:
    """The recovery: secret + registration + address lock + send + settle."""
    return worst_call("secretsmanager") + 3 * worst_call("dynamodb") + worst_call("sesv2")
