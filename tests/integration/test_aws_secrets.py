"""Issue 27: no secret is in a function's environment (readable with
lambda:GetFunctionConfiguration, never re-read after a rotation). Each function reads the
secrets its path uses from Secrets Manager, by the ARN the template gives it, on first use;
keeps them a few minutes; and after a rotation uses the new value (the erasure function's
token key too)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from regflow.aws import secrets
from regflow.domain import StoreUnavailable
from regflow.http.request import ORIGIN_VERIFY_HEADER
from regflow.tokens import TokenSigner
from tests.support.aws import (
    ORIGIN_VALUE,
    Faults,
    Stack,
    aws_stack,
    client,
    count_calls,
)
from tests.support.events import http_event, json_post

PERSON = {"name": "Jane", "email": "jane@example.com"}


@pytest.fixture
def stack() -> Iterator[Stack]:
    with aws_stack(CHALLENGE="off") as s:
        yield s


def direct(handler: Any, event: dict[str, Any], origin: str) -> dict[str, Any]:
    event["headers"][ORIGIN_VERIFY_HEADER] = origin
    response: dict[str, Any] = handler.lambda_handler(event, None)
    return response


def rotate(arn: str, value: str) -> None:
    client("secretsmanager").put_secret_value(SecretId=arn, SecretString=value)


def test_secrets_are_read_once_then_kept(stack: Stack) -> None:
    from regflow import aws

    aws.reset()
    calls = count_calls([aws.clients().secretsmanager()])
    for i in range(3):
        event = json_post("/register", {"name": "J", "email": f"j{i}@example.com"})
        assert stack.register(event)["statusCode"] == 202
    # the origin value and the challenge key (it seals the registration cookie), once each
    assert calls == {"secrets-manager.GetSecretValue": 2}


def test_a_rotated_origin_value_is_used_after_the_cache_time(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from regflow.handlers import register

    clock = [0.0]
    monkeypatch.setattr(secrets, "_now", lambda: clock[0])
    assert direct(register, json_post("/register", PERSON), ORIGIN_VALUE)["statusCode"] == 202
    new = "rotated-origin-" + "n" * 33
    rotate(stack.secret_arns["ORIGIN_VERIFY_SECRET_ARN"], new)
    clock[0] += secrets.TTL_SECONDS - 1  # within the cache time the old value still holds
    assert direct(register, json_post("/register", PERSON), ORIGIN_VALUE)["statusCode"] == 202
    clock[0] += 2  # then the new one, and only it
    assert direct(register, json_post("/register", PERSON), ORIGIN_VALUE)["statusCode"] == 403
    assert direct(register, json_post("/register", PERSON), new)["statusCode"] == 202


def test_the_erasure_function_reloads_the_token_key_after_a_rotation(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rotating the token key: after the cache time, the erasure function verifies links
    made with the new key and refuses those of the old one (like the other functions)."""
    from regflow.handlers import erase

    clock = [0.0]
    monkeypatch.setattr(secrets, "_now", lambda: clock[0])
    assert stack.register(json_post("/register", PERSON))["statusCode"] == 202
    [reg] = stack.items("REG#")
    ids = (reg["id"]["S"], reg["addrKey"]["S"])
    old_key = client("secretsmanager").get_secret_value(SecretId=stack.secret_arn)["SecretString"]
    old = TokenSigner(old_key.encode()).for_erasure().issue(*ids)

    def page(token: str) -> str:
        event = http_event("GET", "/erase", query={"token": token})
        response = direct(erase, event, ORIGIN_VALUE)
        return f"{response['statusCode']} {response['body']}"

    assert page(old).startswith("200 ") and 'name="token"' in page(old)  # the erase button
    new_key = "rotated-token-key-" + "r" * 46
    rotate(stack.secret_arn, new_key)
    new = TokenSigner(new_key.encode()).for_erasure().issue(*ids)
    assert 'name="token"' in page(old)  # within the cache time: the old key
    clock[0] += secrets.TTL_SECONDS + 1  # five minutes later: the new key, and only it
    assert 'name="token"' in page(new)
    assert page(old).startswith("400 ")  # a link not made with the key in use


def test_secrets_manager_down_at_a_re_read_keeps_the_values(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from regflow import aws

    clock = [0.0]
    monkeypatch.setattr(secrets, "_now", lambda: clock[0])
    aws.reset()
    assert stack.register(json_post("/register", PERSON))["statusCode"] == 202
    Faults(aws.clients().secretsmanager(), "GetSecretValue").down("ThrottlingException")
    clock[0] += secrets.TTL_SECONDS + 1
    event = json_post("/register", {"name": "K", "email": "k@example.com"})
    assert stack.register(event)["statusCode"] == 202


def test_secrets_manager_down_on_the_first_request_is_a_503() -> None:
    with aws_stack(CHALLENGE="off") as stack:
        from regflow import aws

        Faults(aws.clients().secretsmanager(), "GetSecretValue").down("ThrottlingException")
        response = stack.register(json_post("/register", PERSON))
        assert response["statusCode"] == 503 and response["headers"]["Retry-After"] == "1"
        assert stack.items("REG#") == []


# --- the cache on its own ----------------------------------------------------------------


def test_a_value_given_directly_is_never_fetched() -> None:
    env = {"TOKEN_SECRET": "given", "TOKEN_SECRET_ARN": "arn:t", "CHALLENGE_SECRET_ARN": "arn:c"}
    assert secrets.wanted(env) == {"CHALLENGE_SECRET": "arn:c"}
    assert secrets.wanted(env, only={"TOKEN_SECRET"}) == {}


def test_the_webhook_key_is_fetched_only_with_webhooks() -> None:
    env = {"WEBHOOK_SECRET_ARN": "arn:w"}
    assert secrets.wanted(env) == {}
    assert secrets.wanted({**env, "WEBHOOK_URL": "https://h.example/x"}) == {
        "WEBHOOK_SECRET": "arn:w"
    }


def test_the_cache_re_reads_after_its_time_and_keeps_values_on_failure() -> None:
    clock = [0.0]
    values = iter(["one", "two"])
    fails = [False]

    def fetch(arn: str) -> str:
        if fails[0]:
            raise StoreUnavailable(1)
        return next(values)

    cache = secrets.Cache({"CHALLENGE_SECRET_ARN": "arn:c"}, fetch, ttl=10, clock=lambda: clock[0])
    assert cache.current() == {"CHALLENGE_SECRET": "one"}
    clock[0] = 9.9
    assert cache.current() == {"CHALLENGE_SECRET": "one"}  # no fetch within the time
    clock[0] = 10
    assert cache.current() == {"CHALLENGE_SECRET": "two"}
    fails[0] = True
    clock[0] = 25
    assert cache.current() == {"CHALLENGE_SECRET": "two"}  # kept, tried again next call
    empty = secrets.Cache({"CHALLENGE_SECRET_ARN": "arn:c"}, fetch, clock=lambda: clock[0])
    with pytest.raises(StoreUnavailable):
        empty.current()
