"""POST /signzy/onboardings/repush, through the real handler, against a Signzy EzKRA double on 127.0.0.1."""

from __future__ import annotations

import json

import pytest

from tests.conftest import SECRETS
from tests.support.fake_provider import Reply

FUNCTION = "SignzyRepushFunction"
LOGIN = "/signzy/kra-handler/api/customers/login"
REPUSH = "/signzy/kra-handler/api/onboardings/repush"
ONBOARDING_ID = "65a1b2c3d4e5f60718293a4b"

SUCCESS = {
    "onboardingId": ONBOARDING_ID,
    "customerId": "65a1b2c3d4e5f60718293abd",
    "callbackUrl": "",
    "message": "The application is in progress, and it has been repushed to KRA",
}


def login_reply(token: str, ttl: int = 1209600) -> dict:
    return {"id": token, "ttl": ttl, "created": "2026-11-22T10:00:00.000Z", "userId": "65a1b2c3d4e5f60718293abd"}


def loopback_error(status: int, message: str, code: str | None = None) -> Reply:
    error = {"statusCode": status, "name": "Error", "message": message} | ({"code": code} if code else {})
    return Reply(status, json.dumps({"error": error}).encode())


def test_success_body_is_passed_through_unchanged(gateway):
    raw = json.dumps({**SUCCESS, "kraStatus": {"undocumented": True}})
    gateway.provider.reply(LOGIN, login_reply("token-1"))
    gateway.provider.reply(REPUSH, Reply(200, raw.encode()))

    answer = gateway.call(FUNCTION, {"onboardingId": ONBOARDING_ID})

    assert answer.status == 200
    assert answer.text == raw


def test_login_uses_the_secret_and_the_token_goes_in_a_bearer_header(gateway):
    gateway.provider.reply(LOGIN, login_reply("token-1"))
    gateway.provider.reply(REPUSH, SUCCESS)

    gateway.call(FUNCTION, {"onboardingId": ONBOARDING_ID})

    (login,) = gateway.provider.requests(LOGIN)
    assert login.json() == {"username": SECRETS["signzy"]["username"], "password": SECRETS["signzy"]["password"]}
    (repush,) = gateway.provider.requests(REPUSH)
    assert repush.headers["Authorization"] == "Bearer token-1"
    assert repush.json() == {"onboardingId": ONBOARDING_ID}


def test_raw_token_header_form_is_configurable(gateway, monkeypatch):
    monkeypatch.setenv("SIGNZY_AUTH_SCHEME", "raw")
    gateway.new_instance()
    gateway.provider.reply(LOGIN, login_reply("token-1"))
    gateway.provider.reply(REPUSH, SUCCESS)

    gateway.call(FUNCTION, {"onboardingId": ONBOARDING_ID})

    assert gateway.provider.requests(REPUSH)[0].headers["Authorization"] == "token-1"


def test_one_login_serves_many_calls_and_new_instances_share_it(gateway):
    gateway.provider.reply(LOGIN, login_reply("token-1"))
    gateway.provider.reply(REPUSH, SUCCESS)

    for _ in range(3):
        assert gateway.call(FUNCTION, {"onboardingId": ONBOARDING_ID}).status == 200
    gateway.new_instance()  # a cold instance finds the token in DynamoDB
    assert gateway.call(FUNCTION, {"onboardingId": ONBOARDING_ID}).status == 200

    assert len(gateway.provider.requests(LOGIN)) == 1
    assert len(gateway.provider.requests(REPUSH)) == 4


def test_a_token_the_provider_forgot_is_replaced_and_the_call_retried_once(gateway):
    # Given a cached token that Signzy no longer knows
    gateway.provider.reply(LOGIN, login_reply("token-1"), login_reply("token-2"))
    gateway.provider.reply(REPUSH, SUCCESS)
    gateway.call(FUNCTION, {"onboardingId": ONBOARDING_ID})
    gateway.provider.reply(REPUSH, loopback_error(401, "Authorization Required", "AUTHORIZATION_REQUIRED"), SUCCESS)

    # When the caller repushes
    answer = gateway.call(FUNCTION, {"onboardingId": ONBOARDING_ID})

    # Then the gateway logs in again and retries with the new token, transparently
    assert answer.status == 200
    assert len(gateway.provider.requests(LOGIN)) == 2
    assert [r.headers["Authorization"] for r in gateway.provider.requests(REPUSH)[1:]] == [
        "Bearer token-1",
        "Bearer token-2",
    ]
    # and other instances pick up the new token rather than the refused one
    gateway.new_instance()
    gateway.call(FUNCTION, {"onboardingId": ONBOARDING_ID})
    assert gateway.provider.requests(REPUSH)[-1].headers["Authorization"] == "Bearer token-2"
    assert len(gateway.provider.requests(LOGIN)) == 2


def test_a_provider_that_keeps_refusing_new_tokens_gives_502_after_one_retry(gateway):
    gateway.provider.reply(LOGIN, login_reply("token-1"), login_reply("token-2"))
    gateway.provider.reply(REPUSH, loopback_error(401, "Authorization Required", "AUTHORIZATION_REQUIRED"))

    answer = gateway.call(FUNCTION, {"onboardingId": ONBOARDING_ID})

    assert (answer.status, answer.error["code"]) == (502, "provider_auth_failed")
    assert len(gateway.provider.requests(REPUSH)) == 2
    assert len(gateway.provider.requests(LOGIN)) == 2


def test_a_token_is_renewed_before_its_ttl_runs_out(gateway, monkeypatch):
    gateway.provider.reply(LOGIN, login_reply("short-lived", ttl=2), login_reply("token-2"))
    gateway.provider.reply(REPUSH, SUCCESS)
    gateway.call(FUNCTION, {"onboardingId": ONBOARDING_ID})

    # 2 s ttl: renewed 0.4 s before expiry, so 1.7 s later it is time to log in again
    import time

    time.sleep(1.7)
    gateway.call(FUNCTION, {"onboardingId": ONBOARDING_ID})

    assert len(gateway.provider.requests(LOGIN)) == 2
    assert gateway.provider.requests(REPUSH)[-1].headers["Authorization"] == "Bearer token-2"


def test_login_refused_is_retried_with_a_refetched_secret_then_502(gateway):
    gateway.provider.reply(LOGIN, loopback_error(401, "login failed", "LOGIN_FAILED"))

    answer = gateway.call(FUNCTION, {"onboardingId": ONBOARDING_ID})

    assert (answer.status, answer.error["code"]) == (502, "provider_auth_failed")
    assert answer.error["providerCode"] == "LOGIN_FAILED"
    assert len(gateway.provider.requests(LOGIN)) == 2
    assert gateway.provider.requests(REPUSH) == []


@pytest.mark.parametrize(
    ("reply", "status", "code"),
    [
        (loopback_error(404, "Unknown onboarding", "MODEL_NOT_FOUND"), 404, "onboarding_not_found"),
        (loopback_error(422, "Onboarding is not in a state that can be repushed"), 422, "provider_rejected"),
        (loopback_error(400, "Bad request"), 422, "provider_rejected"),
        (loopback_error(403, "Access denied", "ACCESS_DENIED"), 502, "provider_auth_failed"),
        (loopback_error(429, "Too many requests"), 429, "rate_limited"),
        (
            loopback_error(
                500, "Argument passed in must be a single string of 12 bytes or a string of 24 hex characters"
            ),
            502,
            "provider_error",
        ),
        (
            Reply(502, b"<html><head><title>502 Bad Gateway</title></head></html>", "text/html"),
            502,
            "provider_bad_response",
        ),
        (Reply(200, b'{"onboardingId": "65a1b2c3d4e5f607182'), 502, "provider_bad_response"),
    ],
)
def test_signzy_errors_are_mapped_to_the_envelope(gateway, reply, status, code):
    gateway.provider.reply(LOGIN, login_reply("token-1"))
    gateway.provider.reply(REPUSH, reply)

    answer = gateway.call(FUNCTION, {"onboardingId": ONBOARDING_ID})

    assert (answer.status, answer.error["code"]) == (status, code)
    assert answer.error["provider"] == "signzy"
    assert answer.error["providerStatus"] == reply.status


def test_a_repush_is_a_write_and_is_never_retried_blindly(gateway):
    gateway.provider.reply(LOGIN, login_reply("token-1"))
    gateway.provider.reply(REPUSH, loopback_error(503, "Service Unavailable"))

    answer = gateway.call(FUNCTION, {"onboardingId": ONBOARDING_ID})

    assert answer.status == 502
    assert len(gateway.provider.requests(REPUSH)) == 1


def test_a_slow_repush_gives_504(gateway):
    gateway.provider.reply(LOGIN, login_reply("token-1"))
    gateway.provider.reply(REPUSH, Reply(200, json.dumps(SUCCESS).encode(), delay=2.5))

    answer = gateway.call(FUNCTION, {"onboardingId": ONBOARDING_ID})

    assert (answer.status, answer.error["code"]) == (504, "provider_timeout")


def test_a_login_answer_without_a_token_is_a_bad_response(gateway):
    gateway.provider.reply(LOGIN, {"ttl": 1209600})

    answer = gateway.call(FUNCTION, {"onboardingId": ONBOARDING_ID})

    assert (answer.status, answer.error["code"]) == (502, "provider_bad_response")


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"onboardingId": "65xxxxxx9b"},
        {"onboardingId": "65a1b2c3d4e5f60718293a4"},
        {"onboardingId": "65a1b2c3d4e5f60718293a4bc"},
        {"onboardingId": "65a1b2c3d4e5f60718293a4g"},
        {"onboardingId": 12345},
        {"onboardingId": ONBOARDING_ID, "callbackUrl": "https://example.com"},
    ],
)
def test_invalid_onboarding_ids_get_400_and_no_login_or_repush(gateway, body):
    answer = gateway.call(FUNCTION, body)

    assert (answer.status, answer.error["code"]) == (400, "validation_error")
    assert gateway.provider.requests() == []


def test_logs_hold_no_token_no_password_and_no_onboarding_body(gateway, logs):
    gateway.provider.reply(LOGIN, login_reply("very-secret-token"), login_reply("second-secret-token"))
    gateway.provider.reply(REPUSH, loopback_error(401, "Authorization Required"), SUCCESS)

    gateway.call(FUNCTION, {"onboardingId": ONBOARDING_ID})

    written = logs()
    assert "request completed" in written
    for private in ("very-secret-token", "second-secret-token", SECRETS["signzy"]["password"], "repushed to KRA"):
        assert private not in written
