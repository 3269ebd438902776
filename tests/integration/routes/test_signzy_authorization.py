"""Signzy's login and the Authorization form, as a caller and an operator see them: which answers prove the token
passed Signzy's check (and so settle the form), a new token refused, and the login's own failures."""

from __future__ import annotations

import json
import threading

import pytest

from kyc_gateway.settings import Settings
from tests.integration.routes.test_signzy_repush import (
    FUNCTION,
    LOGIN,
    ONBOARDING_ID,
    REPUSH,
    SUCCESS,
    authorizations,
    login_reply,
    loopback_error,
)
from tests.support import emf
from tests.support.fake_provider import Reply
from tests.support.request_log import provider_calls
from tests.support.waiting import wait_for

REPUSH_BODY = {"onboardingId": ONBOARDING_ID}
REFUSED = loopback_error(401, "Authorization Required", "AUTHORIZATION_REQUIRED")


def loopback_named(status: int, name: str, message: str) -> Reply:
    return Reply(status, json.dumps({"error": {"statusCode": status, "name": name, "message": message}}).encode())


# Signzy's own refusals of the onboarding: its token check let the request through, so the form it came in works
PAST_THE_TOKEN_CHECK = [
    pytest.param(loopback_error(404, 'Unknown "onboarding" id "65a1".', "MODEL_NOT_FOUND"), id="404 not found"),
    pytest.param(loopback_named(422, "ValidationError", "The `onboarding` instance is not valid."), id="422"),
    pytest.param(loopback_error(403, "Access denied", "ACCESS_DENIED"), id="403 access rule"),
    pytest.param(loopback_error(400, "Bad onboarding"), id="400"),
    pytest.param(loopback_error(499, "Client closed request"), id="499"),
]
# Answers that say nothing of the token: no LoopBack error, a rate limit, Signzy failing, a route no token reached
PROVING_NOTHING = [
    pytest.param(Reply(300, b"{}"), id="300"),
    pytest.param(Reply(404, b'{"message": "Not Found"}'), id="404 not LoopBack's"),
    pytest.param(loopback_error(429, "Too many requests"), id="429"),
    pytest.param(loopback_error(500, "Internal Server Error"), id="500"),
    pytest.param(loopback_error(404, "Cannot POST /kra-handler/api/onboardings/repush"), id="url not found"),
    pytest.param(loopback_error(404, "There is no method to handle POST /onboardings/repush"), id="rest router"),
    pytest.param(loopback_error(404, 'Shared class "onboarding" has no method handling POST /repush'), id="no method"),
]


@pytest.mark.parametrize("refusal", PAST_THE_TOKEN_CHECK)
def test_signzys_own_refusal_of_the_onboarding_settles_the_form_it_came_in(gateway, logs, refusal):
    # Given Signzy refusing the first repush itself (its token check passed, in the documented Bearer form)
    gateway.provider.reply(LOGIN, login_reply("token-1"), login_reply("token-2"))
    gateway.provider.reply(REPUSH, refusal, REFUSED, SUCCESS)
    first = gateway.call(FUNCTION, REPUSH_BODY)

    # When the cached token is refused on the next repush
    second = gateway.call(FUNCTION, REPUSH_BODY)

    # Then the form is known: the token is replaced, and the other form is never tried
    assert (first.status, first.error["code"], second.status) == (502, "provider_error", 200)
    assert authorizations(gateway) == ["Bearer token-1", "Bearer token-1", "Bearer token-2"]
    (settled,) = emf.log_lines(logs(), "signzy authorization form settled")
    assert (settled["provider"], settled["form"]) == ("signzy", "bearer")


@pytest.mark.parametrize("answer", PROVING_NOTHING)
def test_an_answer_no_token_check_is_known_to_have_passed_leaves_the_form_open(gateway, logs, answer):
    # Given a first repush answered something that says nothing of the token
    # (a 429 is tried again, a write too, so each of the gateway's attempts gets it)
    attempts = Settings.model_fields["provider_max_attempts"].default if answer.status == 429 else 1
    gateway.provider.reply(LOGIN, login_reply("token-1"))
    gateway.provider.reply(REPUSH, *[answer] * attempts, REFUSED, SUCCESS)
    first = gateway.call(FUNCTION, REPUSH_BODY)

    # When Signzy refuses the Bearer form on the next repush
    second = gateway.call(FUNCTION, REPUSH_BODY)

    # Then the other form is still tried with the same token, and kept
    assert first.status in (429, 502)
    assert second.status == 200
    assert authorizations(gateway) == ["Bearer token-1"] * (attempts + 1) + ["token-1"]
    assert logs().count("signzy authorization form settled") == 1


def test_a_refused_new_token_stays_cached_and_its_next_refusal_replaces_it_at_once(gateway):
    # Given a new token refused (Signzy refusing the gateway for a while), in Bearer form
    gateway.provider.reply(LOGIN, login_reply("token-1"), login_reply("token-2"), login_reply("token-3"))
    gateway.provider.reply(REPUSH, SUCCESS, REFUSED)
    gateway.call(FUNCTION, REPUSH_BODY)
    refused = gateway.call(FUNCTION, REPUSH_BODY)
    assert (refused.status, refused.error["code"]) == (502, "provider_auth_failed")

    # When, at once, Signzy serves again but has forgotten that token, and the same onboarding is repushed
    gateway.provider.reply(REPUSH, REFUSED, SUCCESS)
    answer = gateway.call(FUNCTION, REPUSH_BODY)

    # Then the refusal of the cached token is a token to replace: a new login, the repush sent once more
    assert answer.status == 200
    assert len(gateway.provider.requests(LOGIN)) == 3
    assert authorizations(gateway)[-2:] == ["Bearer token-2", "Bearer token-3"]


def test_signzy_refusing_every_repush_costs_one_login_per_request_and_is_never_the_callers_401(gateway):
    # Given a token that served, then a Signzy refusing every repush with 401 (an account-wide access rule)
    gateway.provider.reply(LOGIN, *(login_reply(f"token-{number}") for number in range(1, 6)))
    gateway.provider.reply(REPUSH, SUCCESS, REFUSED)
    assert gateway.call(FUNCTION, REPUSH_BODY).status == 200
    other = {"onboardingId": "65a1b2c3d4e5f60718293a4c"}

    # When repushes of two onboardings alternate
    answers = [gateway.call(FUNCTION, body) for body in (REPUSH_BODY, other) * 2]

    # Then each is 502 after replacing the refused token once (the rule for a 401 on a cached token), no more
    assert {(answer.status, answer.error["code"]) for answer in answers} == {(502, "provider_auth_failed")}
    assert len(gateway.provider.requests(LOGIN)) == 1 + len(answers)


@pytest.mark.parametrize(
    ("refusal", "provider_code"),
    [
        pytest.param(loopback_error(401, "login failed", "LOGIN_FAILED"), "LOGIN_FAILED", id="401, its code"),
        pytest.param(loopback_named(403, "Error", "Forbidden"), "Error", id="403, its name"),
    ],
)
def test_a_login_refused_is_our_credentials_read_again_once_then_502(gateway, refusal, provider_code):
    gateway.provider.reply(LOGIN, refusal)

    answer = gateway.call(FUNCTION, REPUSH_BODY)

    assert (answer.status, answer.error["code"]) == (502, "provider_auth_failed")
    assert (answer.error["providerStatus"], answer.error["providerCode"]) == (refusal.status, provider_code)
    assert len(gateway.provider.requests(LOGIN)) == 2
    assert gateway.provider.requests(REPUSH) == []


def test_a_login_meeting_a_server_error_is_retried(gateway):
    gateway.provider.reply(LOGIN, Reply(503, b"{}"), login_reply("token-1"))
    gateway.provider.reply(REPUSH, SUCCESS)

    answer = gateway.call(FUNCTION, REPUSH_BODY)

    assert answer.status == 200
    assert len(gateway.provider.requests(LOGIN)) == 2


@pytest.mark.parametrize(
    "reply",
    [
        pytest.param(login_reply(""), id="an empty id"),
        pytest.param(login_reply("token-1\r\nX-Injected: 1"), id="an id no header can carry"),
        pytest.param(login_reply("t\u00f6ken"), id="an id not ASCII"),
        pytest.param(login_reply("token-1", ttl=0), id="a ttl of 0"),
        pytest.param(login_reply("token-1", ttl=-2), id="a negative ttl other than -1"),
        pytest.param({"id": "token-1"}, id="no ttl"),
    ],
)
def test_a_login_answer_that_is_no_usable_token_is_a_bad_response_and_no_repush(gateway, reply):
    gateway.provider.reply(LOGIN, reply)

    answer = gateway.call(FUNCTION, REPUSH_BODY)

    assert (answer.status, answer.error["code"]) == (502, "provider_bad_response")
    assert gateway.provider.requests(REPUSH) == []


def test_a_token_that_never_expires_is_kept_two_weeks_or_until_signzy_refuses_it(gateway, stopped_clock):
    # Given Signzy's login answering LoopBack's ttl -1 (a token that never expires)
    gateway.provider.reply(LOGIN, login_reply("token-1", ttl=-1), login_reply("token-2"))
    gateway.provider.reply(REPUSH, SUCCESS)

    # When repushes are sent across almost two weeks, then after them
    assert gateway.call(FUNCTION, REPUSH_BODY).status == 200
    stopped_clock.advance(1209600 - 120)
    assert gateway.call(FUNCTION, REPUSH_BODY).status == 200
    stopped_clock.advance(120)
    assert gateway.call(FUNCTION, REPUSH_BODY).status == 200

    # Then one login served the two weeks, like a token of LoopBack's default ttl; another the requests after them
    assert authorizations(gateway) == ["Bearer token-1", "Bearer token-1", "Bearer token-2"]


def test_a_token_living_less_than_a_second_is_used(gateway):
    gateway.provider.reply(LOGIN, login_reply("token-1", ttl=0.5))
    gateway.provider.reply(REPUSH, SUCCESS)

    assert gateway.call(FUNCTION, REPUSH_BODY).status == 200
    assert authorizations(gateway) == ["Bearer token-1"]


def test_each_call_to_signzy_asks_for_json_and_is_logged_under_its_operation(gateway, logs):
    gateway.provider.reply(LOGIN, login_reply("token-1"))
    gateway.provider.reply(REPUSH, SUCCESS)

    gateway.call(FUNCTION, REPUSH_BODY)

    assert provider_calls(logs()) == [[("signzy", "login", 200), ("signzy", "repush", 200)]]
    assert [request.header("Accept") for request in gateway.provider.requests()] == ["application/json"] * 2


def test_a_form_settled_on_the_raw_token_is_probed_again_in_bearer_form_with_the_same_body(gateway):
    # Given auto mode settled on the raw token (Signzy refused the documented Bearer form, then took the raw one)
    gateway.provider.reply(LOGIN, login_reply("token-1"), login_reply("token-2"))
    gateway.provider.reply(REPUSH, REFUSED, SUCCESS)
    assert gateway.call(FUNCTION, REPUSH_BODY).status == 200
    # And a Signzy that now reads the Bearer form only
    gateway.provider.reply(REPUSH, REFUSED, REFUSED, SUCCESS)  # cached token raw, new token raw, new token Bearer

    # When the next repushes come
    first = gateway.call(FUNCTION, REPUSH_BODY)
    second = gateway.call(FUNCTION, REPUSH_BODY)

    # Then the question was re-opened once, the Bearer form found and kept, and every attempt sent the onboarding
    assert (first.status, second.status) == (200, 200)
    assert authorizations(gateway) == [
        "Bearer token-1",
        "token-1",
        "token-1",
        "token-2",
        "Bearer token-2",
        "Bearer token-2",
    ]
    assert [request.json() for request in gateway.provider.requests(REPUSH)] == [REPUSH_BODY] * 6


def test_a_refusal_of_the_form_another_request_has_just_left_is_resent_in_the_settled_form(gateway):
    # Given a Signzy that wants the raw id, and two first repushes of one instance: the first one's Bearer attempt
    # is refused slowly, after the second has tried both forms and settled on the raw one
    gateway.provider.reply(LOGIN, login_reply("token-1"), login_reply("token-2"))
    gateway.provider.reply(REPUSH, Reply(REFUSED.status, REFUSED.body, delay=1.0), REFUSED, SUCCESS, SUCCESS)
    answers = {}
    first = threading.Thread(target=lambda: answers.update(first=gateway.call(FUNCTION, REPUSH_BODY)))
    first.start()
    wait_for(lambda: len(gateway.provider.requests(REPUSH)) == 1)

    # When the second repush settles the form while the first one's refusal is still on its way
    answers["second"] = gateway.call(FUNCTION, REPUSH_BODY)
    first.join()

    # Then the first is sent once more in the settled form with the same token: one login, both repushed
    assert (answers["first"].status, answers["second"].status) == (200, 200)
    assert authorizations(gateway) == ["Bearer token-1", "Bearer token-1", "token-1", "token-1"]
    assert len(gateway.provider.requests(LOGIN)) == 1
