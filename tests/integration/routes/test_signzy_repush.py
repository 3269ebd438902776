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
    monkeypatch.setenv("SIGNZY_AUTH_HEADER", "raw")
    gateway.new_instance()
    gateway.provider.reply(LOGIN, login_reply("token-1"))
    gateway.provider.reply(REPUSH, SUCCESS)

    gateway.call(FUNCTION, {"onboardingId": ONBOARDING_ID})

    assert gateway.provider.requests(REPUSH)[0].headers["Authorization"] == "token-1"


def authorizations(gateway) -> list[str]:
    return [request.headers["Authorization"] for request in gateway.provider.requests(REPUSH)]


def test_auto_mode_switches_to_the_raw_token_when_a_fresh_token_is_refused_and_keeps_it(gateway, logs):
    # Given a Signzy that wants the raw token id
    gateway.provider.reply(LOGIN, login_reply("token-1"))
    gateway.provider.reply(REPUSH, loopback_error(401, "Authorization Required", "AUTHORIZATION_REQUIRED"), SUCCESS)

    # When two repushes are made (auto is the default)
    first = gateway.call(FUNCTION, {"onboardingId": ONBOARDING_ID})
    second = gateway.call(FUNCTION, {"onboardingId": ONBOARDING_ID})

    # Then the documented form is tried once, the raw id works, and it is kept without probing again
    assert (first.status, second.status) == (200, 200)
    assert authorizations(gateway) == ["Bearer token-1", "token-1", "token-1"]
    assert len(gateway.provider.requests(LOGIN)) == 1
    written = logs()
    assert written.count("signzy authorization form settled") == 1
    assert '"form":"raw"' in written.replace(" ", "")
    assert "token-1" not in written


def test_auto_mode_keeps_the_documented_form_when_signzy_accepts_it(gateway):
    gateway.provider.reply(LOGIN, login_reply("token-1"), login_reply("token-2"))
    gateway.provider.reply(REPUSH, SUCCESS, loopback_error(401, "Authorization Required"), SUCCESS)

    for _ in range(3):
        gateway.call(FUNCTION, {"onboardingId": ONBOARDING_ID})

    # the refusal on the second call is of a cached token: renewed, never a switch of form
    assert authorizations(gateway) == ["Bearer token-1", "Bearer token-1", "Bearer token-2", "Bearer token-2"]
    assert len(gateway.provider.requests(LOGIN)) == 2


def test_a_cold_instance_tries_the_other_form_with_the_shared_token_before_giving_it_up(gateway):
    # Given a token in the shared table, issued to another instance, and a Signzy that wants the raw id
    gateway.provider.reply(LOGIN, login_reply("token-1"), login_reply("token-2"))
    gateway.provider.reply(REPUSH, loopback_error(401, "Authorization Required"), SUCCESS)
    gateway.call(FUNCTION, {"onboardingId": ONBOARDING_ID})  # settles raw on the first instance
    gateway.new_instance()
    gateway.provider.reply(REPUSH, loopback_error(401, "Authorization Required"), SUCCESS)

    # When a cold instance repushes
    answer = gateway.call(FUNCTION, {"onboardingId": ONBOARDING_ID})

    # Then it keeps the shared token (no second login, no invalidation for the other instances)
    assert answer.status == 200
    assert authorizations(gateway)[2:] == ["Bearer token-1", "token-1"]
    assert len(gateway.provider.requests(LOGIN)) == 1


def test_an_answer_that_proves_nothing_does_not_settle_the_form(gateway):
    # Given a proxy's 502 page in front of a Signzy that wants the raw id
    gateway.provider.reply(LOGIN, login_reply("token-1"))
    gateway.provider.reply(
        REPUSH,
        Reply(502, b"<html>502 Bad Gateway</html>", "text/html"),
        loopback_error(401, "Authorization Required"),
        SUCCESS,
    )

    # When the first repush meets the proxy, and the second reaches Signzy
    first = gateway.call(FUNCTION, {"onboardingId": ONBOARDING_ID})
    second = gateway.call(FUNCTION, {"onboardingId": ONBOARDING_ID})

    # Then the 502 did not lock in the documented form: the second call still finds the raw one
    assert (first.status, second.status) == (502, 200)
    assert authorizations(gateway) == ["Bearer token-1", "Bearer token-1", "token-1"]


@pytest.mark.parametrize(("mode", "sends"), [("auto", 4), ("bearer", 2), ("raw", 2)])
def test_a_provider_that_keeps_refusing_new_tokens_gives_502_after_one_new_login(gateway, monkeypatch, mode, sends):
    monkeypatch.setenv("SIGNZY_AUTH_HEADER", mode)
    gateway.new_instance()
    gateway.provider.reply(LOGIN, login_reply("token-1"), login_reply("token-2"))
    gateway.provider.reply(REPUSH, loopback_error(401, "Authorization Required", "AUTHORIZATION_REQUIRED"))

    answer = gateway.call(FUNCTION, {"onboardingId": ONBOARDING_ID})

    # the token refused (in each form, while the form is not known) is replaced once; the new one refused is 502
    assert (answer.status, answer.error["code"]) == (502, "provider_auth_failed")
    assert len(gateway.provider.requests(REPUSH)) == sends
    assert len(gateway.provider.requests(LOGIN)) == 2
    if mode != "auto":  # a pinned form is never probed
        assert {value.startswith("Bearer ") for value in authorizations(gateway)} == {mode == "bearer"}


def test_a_cached_token_refused_is_replaced_once_and_a_refused_replacement_gives_502(gateway):
    # Given a token that authenticated a call, then an access rule that denies the next request (401 whatever token)
    gateway.provider.reply(LOGIN, login_reply("token-1"), login_reply("token-2"))
    gateway.provider.reply(REPUSH, SUCCESS)
    assert gateway.call(FUNCTION, {"onboardingId": ONBOARDING_ID}).status == 200
    gateway.provider.reply(REPUSH, loopback_error(401, "Authorization Required", "AUTHORIZATION_REQUIRED"))

    # When that request comes
    answer = gateway.call(FUNCTION, {"onboardingId": ONBOARDING_ID})

    # Then the refusal costs one login (the cached token might have been forgotten), and the new token refused
    # too (in the settled form, then once in the other: Signzy may have changed its reading) is a 502
    assert (answer.status, answer.error["code"]) == (502, "provider_auth_failed")
    assert len(gateway.provider.requests(LOGIN)) == 2
    assert authorizations(gateway)[1:] == ["Bearer token-1", "Bearer token-2", "token-2"]
    # and once Signzy serves again, the new token, kept, serves it
    gateway.provider.reply(REPUSH, SUCCESS)
    assert gateway.call(FUNCTION, {"onboardingId": ONBOARDING_ID}).status == 200
    assert authorizations(gateway)[-1] == "Bearer token-2"
    assert len(gateway.provider.requests(LOGIN)) == 2


def test_a_settled_form_refused_with_a_new_token_is_probed_again_once(gateway):
    # Given auto mode settled on the documented Bearer form
    gateway.provider.reply(LOGIN, login_reply("token-1"), login_reply("token-2"))
    gateway.provider.reply(REPUSH, SUCCESS)
    assert gateway.call(FUNCTION, {"onboardingId": ONBOARDING_ID}).status == 200
    # And a Signzy that now reads the raw token only
    gateway.provider.reply(
        REPUSH,
        loopback_error(401, "Authorization Required"),  # the cached token, Bearer
        loopback_error(401, "Authorization Required"),  # a new token, Bearer
        SUCCESS,  # the new token, raw
    )

    # When the next repushes come
    first = gateway.call(FUNCTION, {"onboardingId": ONBOARDING_ID})
    second = gateway.call(FUNCTION, {"onboardingId": ONBOARDING_ID})

    # Then the first re-opened the question once and found the raw form, which the next keeps
    assert (first.status, second.status) == (200, 200)
    assert authorizations(gateway)[1:] == ["Bearer token-1", "Bearer token-2", "token-2", "token-2"]


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


def test_a_token_is_renewed_before_its_ttl_runs_out(gateway, monkeypatch, clock):
    gateway.provider.reply(LOGIN, login_reply("short-lived", ttl=2), login_reply("token-2"))
    gateway.provider.reply(REPUSH, SUCCESS)
    gateway.call(FUNCTION, {"onboardingId": ONBOARDING_ID})

    # 2 s ttl: renewed 0.4 s before expiry, so 1.7 s later it is time to log in again

    clock.advance(1.7)
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


def test_a_repush_is_a_write_and_is_never_retried_blindly(gateway):
    gateway.provider.reply(LOGIN, login_reply("token-1"))
    gateway.provider.reply(REPUSH, loopback_error(503, "Service Unavailable"))

    answer = gateway.call(FUNCTION, {"onboardingId": ONBOARDING_ID})

    assert answer.status == 502
    assert len(gateway.provider.requests(REPUSH)) == 1


@pytest.mark.usefixtures("short_provider_timeouts")
def test_a_slow_repush_gives_504(gateway):
    gateway.provider.reply(LOGIN, login_reply("token-1"))
    gateway.provider.reply(REPUSH, Reply(200, json.dumps(SUCCESS).encode(), delay=2.5))

    answer = gateway.call(FUNCTION, {"onboardingId": ONBOARDING_ID})

    assert (answer.status, answer.error["code"]) == (504, "provider_timeout")


def test_a_login_answer_without_a_token_is_a_bad_response_naming_the_field(gateway):
    gateway.provider.reply(LOGIN, {"ttl": 1209600})

    answer = gateway.call(FUNCTION, {"onboardingId": ONBOARDING_ID})

    assert (answer.status, answer.error["code"]) == (502, "provider_bad_response")
    assert [detail["field"] for detail in answer.error["details"]] == ["id"]  # which field, never a value


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"onboardingId": "65xxxxxx9b"},
        {"onboardingId": "65a1b2c3d4e5f60718293a4"},
        {"onboardingId": "65a1b2c3d4e5f60718293a4bc"},
        {"onboardingId": "65a1b2c3d4e5f60718293a4g"},
        {"onboardingId": "65a1b2c3d4e5f60718293a4b\n"},  # 24 hex digits then a newline, which `$` would pass
        {"onboardingId": 12345},
        {"onboardingId": ONBOARDING_ID, "callbackUrl": "https://example.com"},
        {"onboardingid": ONBOARDING_ID},  # the repush page's lower-case text is not the gateway's field
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


UNREAD_ID = "Argument passed in must be a single string of 12 bytes or a string of 24 hex characters"
UNREAD_ID_NEWER_BSON = "input must be a 24 character hex string, 12 byte Uint8Array, or an integer"


@pytest.mark.parametrize(
    "message",
    [UNREAD_ID, "Argument passed in must be a string of 12 bytes or a string of 24 hex characters or an integer"],
)
def test_signzys_500_for_an_id_it_cannot_read_sends_the_repush_once_more_under_the_other_spelling(gateway, message):
    # Given a Signzy that reads no id under onboardingId (its documented 500, to an id the gateway checked)
    gateway.provider.reply(LOGIN, login_reply("token-1"))
    gateway.provider.reply(REPUSH, loopback_error(500, message), SUCCESS, SUCCESS)

    # When an instance repushes twice, the first under an Idempotency-Key
    first = gateway.call(FUNCTION, {"onboardingId": ONBOARDING_ID}, headers=[("Idempotency-Key", "spelling-1")])
    second = gateway.call(FUNCTION, {"onboardingId": ONBOARDING_ID})

    # Then the first is sent once more as onboardingid (Signzy did nothing), and the instance keeps that spelling
    assert (first.status, second.status) == (200, 200)
    assert [request.json() for request in gateway.provider.requests(REPUSH)] == [
        {"onboardingId": ONBOARDING_ID},
        {"onboardingid": ONBOARDING_ID},
        {"onboardingid": ONBOARDING_ID},
    ]


@pytest.mark.parametrize("answer", [loopback_error(500, "Internal error"), loopback_error(500, UNREAD_ID_NEWER_BSON)])
def test_any_other_500_is_signzy_failing_and_never_sent_again(gateway, answer):
    gateway.provider.reply(LOGIN, login_reply("token-1"))
    gateway.provider.reply(REPUSH, answer, SUCCESS)

    failed = gateway.call(FUNCTION, {"onboardingId": ONBOARDING_ID})

    assert (failed.status, failed.error["code"], failed.error["providerStatus"]) == (502, "provider_error", 500)
    assert len(gateway.provider.requests(REPUSH)) == 1


def test_an_id_signzy_reads_under_neither_spelling_is_signzy_failing_after_one_resend(gateway):
    gateway.provider.reply(LOGIN, login_reply("token-1"))
    gateway.provider.reply(REPUSH, loopback_error(500, UNREAD_ID), loopback_error(500, UNREAD_ID), SUCCESS)

    failed = gateway.call(FUNCTION, {"onboardingId": ONBOARDING_ID})
    next_one = gateway.call(FUNCTION, {"onboardingId": ONBOARDING_ID})

    # Then it is 502, and nothing is settled: the next repush starts again with onboardingId
    assert (failed.status, failed.error["code"], failed.error["providerStatus"]) == (502, "provider_error", 500)
    assert next_one.status == 200
    sent = [set(request.json()) for request in gateway.provider.requests(REPUSH)]
    assert sent == [{"onboardingId"}, {"onboardingid"}, {"onboardingId"}]
