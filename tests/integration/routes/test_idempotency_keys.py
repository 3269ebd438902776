"""Idempotency-Key on provider write routes: a caller's retry reaches the provider once."""

from __future__ import annotations

import json
import threading

import pytest

from tests.integration.routes.test_cdp import ONBOARD, ONBOARD_SUCCESS, ONBOARDING_BODY, token_reply
from tests.integration.routes.test_cdp import TOKEN as CDP_TOKEN
from tests.integration.routes.test_connectfi import IDENTIFICATION, IDENTIFY, application, login_reply
from tests.integration.routes.test_connectfi import LOGIN as CONNECTFI_LOGIN
from tests.integration.routes.test_signzy_repush import LOGIN, ONBOARDING_ID, REPUSH, SUCCESS
from tests.integration.routes.test_signzy_repush import login_reply as signzy_login
from tests.support.fake_provider import Reply

SIGNZY = "SignzyRepushFunction"


def key(value: str) -> list[tuple[str, str]]:
    return [("Idempotency-Key", value)]


@pytest.fixture
def signzy(gateway):
    gateway.provider.reply(LOGIN, signzy_login("token-1"))
    gateway.provider.reply(REPUSH, SUCCESS)
    return gateway


def test_a_replay_with_the_same_key_and_body_returns_the_stored_answer_without_a_provider_call(signzy):
    first = signzy.call(SIGNZY, {"onboardingId": ONBOARDING_ID}, headers=key("order-42"))
    signzy.provider.reply(REPUSH, {"message": "a second repush would answer this"})

    again = signzy.call(SIGNZY, {"onboardingId": ONBOARDING_ID}, headers=key("order-42"))

    assert (first.status, again.status) == (200, 200)
    assert again.text == first.text
    assert (first.headers["Idempotent-Replayed"], again.headers["Idempotent-Replayed"]) == ("false", "true")
    assert len(signzy.provider.requests(REPUSH)) == 1


def test_the_same_key_with_another_body_is_409(signzy):
    signzy.call(SIGNZY, {"onboardingId": ONBOARDING_ID}, headers=key("order-42"))

    other = signzy.call(SIGNZY, {"onboardingId": "65a1b2c3d4e5f60718293fff"}, headers=key("order-42"))

    assert (other.status, other.error["code"]) == (409, "idempotency_key_reused")
    assert len(signzy.provider.requests(REPUSH)) == 1


def test_a_key_still_in_flight_is_409(signzy):
    signzy.provider.reply(REPUSH, Reply(200, json.dumps(SUCCESS).encode(), delay=0.9))
    answers = {}
    first = threading.Thread(
        target=lambda: answers.setdefault(
            "first", signzy.call(SIGNZY, {"onboardingId": ONBOARDING_ID}, headers=key("slow-1"))
        )
    )
    first.start()
    import time

    deadline = time.monotonic() + 10
    while not signzy.provider.requests(REPUSH) and time.monotonic() < deadline:
        time.sleep(0.01)  # until the first request is at the provider, i.e. in flight
    answers["second"] = signzy.call(SIGNZY, {"onboardingId": ONBOARDING_ID}, headers=key("slow-1"))
    first.join()

    assert answers["first"].status == 200
    assert (answers["second"].status, answers["second"].error["code"]) == (409, "idempotency_key_in_use")
    assert len(signzy.provider.requests(REPUSH)) == 1


def test_failures_are_not_stored_so_the_key_can_be_retried(signzy):
    signzy.provider.reply(REPUSH, Reply(503, b'{"error": {"statusCode": 503, "message": "down"}}'), SUCCESS)

    failed = signzy.call(SIGNZY, {"onboardingId": ONBOARDING_ID}, headers=key("retry-me"))
    retried = signzy.call(SIGNZY, {"onboardingId": ONBOARDING_ID}, headers=key("retry-me"))

    assert (failed.status, retried.status) == (502, 200)
    assert len(signzy.provider.requests(REPUSH)) == 2


def test_without_a_key_every_request_reaches_the_provider(signzy):
    for _ in range(2):
        answer = signzy.call(SIGNZY, {"onboardingId": ONBOARDING_ID})
        assert "Idempotent-Replayed" not in answer.headers

    assert len(signzy.provider.requests(REPUSH)) == 2


@pytest.mark.parametrize("bad_key", ["has space", "x" * 256, "<script>", "-leading-dash"])
def test_an_unusable_key_is_400(signzy, bad_key):
    answer = signzy.call(SIGNZY, {"onboardingId": ONBOARDING_ID}, headers=key(bad_key))

    assert (answer.status, answer.error["code"]) == (400, "validation_error")
    assert answer.error["details"][0]["field"] == "Idempotency-Key"
    assert signzy.provider.requests(REPUSH) == []


def test_keys_are_scoped_per_route(gateway):
    gateway.provider.reply(LOGIN, signzy_login("token-1"))
    gateway.provider.reply(REPUSH, SUCCESS)
    gateway.provider.reply(CONNECTFI_LOGIN, login_reply())
    gateway.provider.reply(IDENTIFY, application())

    repush = gateway.call(SIGNZY, {"onboardingId": ONBOARDING_ID}, headers=key("shared-key"))
    identify = gateway.call("ConnectFiIdentificationFunction", IDENTIFICATION, headers=key("shared-key"))

    assert (repush.status, identify.status) == (200, 200)
    assert len(gateway.provider.requests(IDENTIFY)) == 1


def test_cdp_onboarding_replays_reach_cdp_once(gateway):
    gateway.provider.reply(CDP_TOKEN, token_reply(1))
    gateway.provider.reply(ONBOARD, ONBOARD_SUCCESS)

    answers = [gateway.call("CdpOnboardingFunction", ONBOARDING_BODY, headers=key("onboard-7")) for _ in range(3)]

    assert [answer.status for answer in answers] == [200, 200, 200]
    assert len(gateway.provider.requests(ONBOARD)) == 1


def test_connectfi_identification_replays_reach_connectfi_once(gateway):
    gateway.provider.reply(CONNECTFI_LOGIN, login_reply())
    gateway.provider.reply(IDENTIFY, application())

    answers = [
        gateway.call("ConnectFiIdentificationFunction", IDENTIFICATION, headers=key("ident-1")) for _ in range(2)
    ]

    assert answers[0].text == answers[1].text
    assert len(gateway.provider.requests(IDENTIFY)) == 1


# --- writes whose outcome is unknown -------------------------------------------------------------------------------


def test_a_write_that_timed_out_is_never_sent_again_under_the_same_key(signzy, provider_timeouts):
    # Given a repush that reached Signzy but whose answer came too late (the gateway answered 504)
    provider_timeouts.short()
    signzy.provider.reply(REPUSH, Reply(200, json.dumps(SUCCESS).encode(), delay=2.5))
    first = signzy.call(SIGNZY, {"onboardingId": ONBOARDING_ID}, headers=key("late-1"))
    assert (first.status, first.error["code"]) == (504, "provider_timeout")
    provider_timeouts.default()

    # When the caller retries under the same key
    signzy.provider.reply(REPUSH, SUCCESS)
    again = signzy.call(SIGNZY, {"onboardingId": ONBOARDING_ID}, headers=key("late-1"))

    # Then the gateway does not repush again: it says the outcome is unknown and how to find it out
    assert (again.status, again.error["code"]) == (409, "idempotency_outcome_unknown")
    assert "KRA status" in again.error["details"][0]["issue"]
    assert len(signzy.provider.requests(REPUSH)) == 1
    # and a new key is the caller's explicit decision to send it again
    assert signzy.call(SIGNZY, {"onboardingId": ONBOARDING_ID}, headers=key("late-2")).status == 200
    assert len(signzy.provider.requests(REPUSH)) == 2


def test_a_504_from_in_front_of_the_provider_leaves_the_outcome_unknown(gateway):
    gateway.provider.reply(CDP_TOKEN, token_reply(1))
    gateway.provider.reply(ONBOARD, Reply(504, b"<html>504 Gateway Time-out</html>", "text/html"), ONBOARD_SUCCESS)

    first = gateway.call("CdpOnboardingFunction", ONBOARDING_BODY, headers=key("onboard-504"))
    again = gateway.call("CdpOnboardingFunction", ONBOARDING_BODY, headers=key("onboard-504"))

    assert first.status == 502
    assert (again.status, again.error["code"]) == (409, "idempotency_outcome_unknown")
    assert "/cdp/customers/lookup" in again.error["details"][0]["issue"]
    assert len(gateway.provider.requests(ONBOARD)) == 1


def test_a_connection_cut_after_the_write_was_sent_leaves_the_outcome_unknown(sandboxed_gateway):
    sandbox = sandboxed_gateway.provider
    sandbox.inject_fault("connectfi", "identification", "reset")
    body = {"customerId": "cstap_6reGTr3k8vpAu8uFV7EdiN", "reference": "cutoff1"}

    first = sandboxed_gateway.call("ConnectFiIdentificationFunction", body, headers=key("ident-cut"))
    again = sandboxed_gateway.call("ConnectFiIdentificationFunction", body, headers=key("ident-cut"))

    assert (first.status, first.error["code"]) == (502, "provider_unavailable")
    assert (again.status, again.error["code"]) == (409, "idempotency_outcome_unknown")
    assert sandbox.call_count("connectfi", "identification") == 1


@pytest.mark.usefixtures("short_provider_timeouts")
def test_a_timeout_without_a_key_is_just_a_504(signzy):
    signzy.provider.reply(REPUSH, Reply(200, json.dumps(SUCCESS).encode(), delay=2.5))

    answer = signzy.call(SIGNZY, {"onboardingId": ONBOARDING_ID})

    assert (answer.status, answer.error["code"]) == (504, "provider_timeout")


def test_an_answer_cut_off_mid_body_leaves_the_outcome_unknown(sandboxed_gateway):
    sandbox = sandboxed_gateway.provider
    sandboxed_gateway.call(SIGNZY, {"onboardingId": ONBOARDING_ID})  # logged in, form settled
    sandbox.inject_fault("signzy", "repush", "cut")
    before = sandbox.call_count("signzy", "repush")

    first = sandboxed_gateway.call(SIGNZY, {"onboardingId": ONBOARDING_ID}, headers=key("cut-1"))
    again = sandboxed_gateway.call(SIGNZY, {"onboardingId": ONBOARDING_ID}, headers=key("cut-1"))

    assert (first.status, first.error["code"]) == (502, "provider_unavailable")
    assert (again.status, again.error["code"]) == (409, "idempotency_outcome_unknown")
    assert sandbox.call_count("signzy", "repush") - before == 1  # the cut one, never a second


def test_a_proxys_502_page_on_a_write_leaves_the_outcome_unknown_but_the_providers_own_502_does_not(gateway):
    gateway.provider.reply(CDP_TOKEN, token_reply(1))
    backend = json.dumps({"status": "failed", "message": "Backend Technical Problem", "status_code": 502,
                          "error_code": 40001}).encode()  # fmt: skip
    gateway.provider.reply(ONBOARD, Reply(502, b"<html>502 Bad Gateway</html>", "text/html"), Reply(502, backend))

    proxied = [gateway.call("CdpOnboardingFunction", ONBOARDING_BODY, headers=key("p-1")) for _ in range(2)]
    own = [gateway.call("CdpOnboardingFunction", ONBOARDING_BODY, headers=key("p-2")) for _ in range(2)]

    assert [answer.status for answer in proxied] == [502, 409]
    assert [answer.status for answer in own] == [502, 502]  # CDP said it failed: the key may be retried
