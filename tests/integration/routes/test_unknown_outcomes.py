"""A keyed write whose outcome the gateway cannot know (a timeout, a connection cut, a proxy's page, a fault of its
own after sending) keeps its key held: a retry under it is 409 with how to find the outcome out, never a second
write."""

from __future__ import annotations

import json

import pytest

from kyc_gateway.providers import signzy as signzy_provider
from tests.integration.routes.test_cdp import ONBOARD, ONBOARD_SUCCESS, ONBOARDING_BODY, token_reply
from tests.integration.routes.test_cdp import TOKEN as CDP_TOKEN
from tests.integration.routes.test_connectfi import IDENTIFICATION, IDENTIFY, IDENTIFY_FN, LOGIN, connectfi_error
from tests.integration.routes.test_connectfi import login_reply as connectfi_login
from tests.integration.routes.test_connectfi_stepup import (
    DOCUMENT_REQUEST,
    DOCUMENTS_FN,
    GENERATE,
    UPDATE,
    UPDATE_FN,
    UPDATE_REQUEST,
)
from tests.integration.routes.test_idempotency_keys import SIGNZY, key
from tests.integration.routes.test_signzy_repush import ONBOARDING_ID, REPUSH, SUCCESS
from tests.support.fake_provider import Reply


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
    assert again.error["message"] == (
        "The first request with this Idempotency-Key may or may not have been done by the provider: "
        "find out before sending it again under a new key"
    )
    advice = signzy_provider.REPUSH_OUTCOME_CHECK
    assert again.error["details"] == [{"field": "Idempotency-Key", "issue": advice, "type": "header"}]
    assert len(signzy.provider.requests(REPUSH)) == 1
    # and a new key is the caller's explicit decision to send it again
    assert signzy.call(SIGNZY, {"onboardingId": ONBOARDING_ID}, headers=key("late-2")).status == 200
    assert len(signzy.provider.requests(REPUSH)) == 2


def test_an_error_the_gateway_did_not_foresee_after_the_write_was_sent_locks_the_key(signzy, monkeypatch):
    # Given a repush Signzy did, and a fault in the gateway reading its answer (a bug: not one of its own errors)
    def broken(response):
        raise KeyError("a bug after the write was sent")

    monkeypatch.setattr(signzy_provider, "_success_or_raise", broken)
    first = signzy.call(SIGNZY, {"onboardingId": ONBOARDING_ID}, headers=key("fault-1"))
    assert (first.status, first.error["code"]) == (500, "internal_error")
    monkeypatch.undo()

    # When the caller retries under the same key, the fault gone
    again = signzy.call(SIGNZY, {"onboardingId": ONBOARDING_ID}, headers=key("fault-1"))

    # Then the repush is not sent again: its outcome is unknown, as after a timeout
    assert (again.status, again.error["code"]) == (409, "idempotency_outcome_unknown")
    assert again.error["details"][0]["issue"] == signzy_provider.REPUSH_OUTCOME_CHECK
    assert len(signzy.provider.requests(REPUSH)) == 1


def test_an_error_not_foreseen_after_the_write_on_a_warm_instance_locks_the_key_too(signzy, monkeypatch):
    # Given an instance holding Signzy's token (no login inside the keyed request), and a fault in the gateway
    # reading the repush's answer (a bug after the write was sent)
    from tests.integration.routes.test_signzy_repush import LOGIN

    assert signzy.call(SIGNZY, {"onboardingId": ONBOARDING_ID}).status == 200
    logins = len(signzy.provider.requests(LOGIN))

    def broken(response):
        raise KeyError("a bug after the write was sent")

    monkeypatch.setattr(signzy_provider, "_success_or_raise", broken)
    first = signzy.call(SIGNZY, {"onboardingId": ONBOARDING_ID}, headers=key("warm-fault"))
    monkeypatch.undo()

    # When the caller retries under the same key
    again = signzy.call(SIGNZY, {"onboardingId": ONBOARDING_ID}, headers=key("warm-fault"))

    # Then the repush is not sent again: the write had begun, so its outcome is unknown
    assert len(signzy.provider.requests(LOGIN)) == logins
    assert (first.status, again.status, again.error["code"]) == (500, 409, "idempotency_outcome_unknown")
    assert len(signzy.provider.requests(REPUSH)) == 2  # the unkeyed one and the keyed one, never the retry


@pytest.mark.parametrize("body", [b'{"message": "repushed", "message": "failed"}', b'{"message": "done", "n": NaN}'])
def test_a_write_answered_2xx_in_json_that_is_not_strict_leaves_the_outcome_unknown(signzy, body):
    # Given a repush Signzy answers 200, in JSON the gateway cannot read faithfully (which "message" is meant?)
    signzy.provider.reply(REPUSH, Reply(200, body), SUCCESS)

    first = signzy.call(SIGNZY, {"onboardingId": ONBOARDING_ID}, headers=key("not-strict"))
    again = signzy.call(SIGNZY, {"onboardingId": ONBOARDING_ID}, headers=key("not-strict"))

    # Then the caller is told the provider failed, never handed that body as a success; and it is not sent again
    assert (first.status, first.error["code"]) == (502, "provider_bad_response")
    assert (again.status, again.error["code"]) == (409, "idempotency_outcome_unknown")
    assert len(signzy.provider.requests(REPUSH)) == 1


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


def test_an_answer_sent_too_slowly_after_the_write_leaves_the_outcome_unknown(sandboxed_gateway, provider_timeouts):
    # Given a repush Signzy does, then answers a byte every 0.2 s, far past the 4 s budget
    sandbox = sandboxed_gateway.provider
    sandboxed_gateway.call(SIGNZY, {"onboardingId": ONBOARDING_ID})  # logged in, form settled
    provider_timeouts.short()
    sandbox.inject_fault("signzy", "repush", "drip", seconds=0.2)
    before = sandbox.call_count("signzy", "repush")

    # When the caller sends it under a key, and again
    first = sandboxed_gateway.call(SIGNZY, {"onboardingId": ONBOARDING_ID}, headers=key("drip-1"))
    again = sandboxed_gateway.call(SIGNZY, {"onboardingId": ONBOARDING_ID}, headers=key("drip-1"))

    # Then the first is a 504, and the key keeps the write from being sent twice
    assert (first.status, first.error["code"]) == (504, "provider_timeout")
    assert (again.status, again.error["code"]) == (409, "idempotency_outcome_unknown")
    assert sandbox.call_count("signzy", "repush") - before == 1


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


def test_a_write_answered_502_by_a_proxy_or_by_the_provider_itself_leaves_its_outcome_unknown(gateway):
    gateway.provider.reply(CDP_TOKEN, token_reply(1))
    backend = json.dumps({"status": "failed", "message": "Backend Technical Problem", "status_code": 502,
                          "error_code": 40001}).encode()  # fmt: skip
    gateway.provider.reply(ONBOARD, Reply(502, b"<html>502 Bad Gateway</html>", "text/html"), Reply(502, backend))

    proxied = [gateway.call("CdpOnboardingFunction", ONBOARDING_BODY, headers=key("p-1")) for _ in range(2)]
    own = [gateway.call("CdpOnboardingFunction", ONBOARDING_BODY, headers=key("p-2")) for _ in range(2)]

    assert [answer.status for answer in proxied] == [502, 409]
    assert [answer.status for answer in own] == [502, 409]  # CDP failing: before or after it onboarded?
    assert len(gateway.provider.requests(ONBOARD)) == 2  # one of each, never sent again


SPRING_500 = b'{"timestamp": "2026-12-04T10:00:00.000+00:00", "status": 500, "error": "Internal Server Error"}'


@pytest.mark.parametrize(
    "page",
    [
        Reply(500, b"<!DOCTYPE html><html><body><pre>Internal Server Error</pre></body></html>", "text/html"),
        Reply(502, b"", "text/plain"),
        Reply(503, b"", "text/plain"),
        Reply(503, b"upstream connect error or disconnect/reset before headers", "text/plain"),
        Reply(500, b'{"code": "internalError"', "application/json"),  # JSON cut short
        Reply(500, SPRING_500),
        Reply(500, b'{"message": "Internal server error"}'),  # API Gateway's, in front of a provider's Lambda
    ],
    ids=[
        "framework's 500 page",
        "empty 502",
        "empty 503",
        "a mesh's 503",
        "cut JSON 500",
        "Spring's 500",
        "API Gateway's 500",
    ],
)
def test_a_5xx_the_provider_does_not_document_leaves_a_writes_outcome_unknown(gateway, page):
    # Given a write answered by a 5xx no documented failure explains: it may have failed after acting
    gateway.provider.reply(CDP_TOKEN, token_reply(1))
    gateway.provider.reply(ONBOARD, page, ONBOARD_SUCCESS)

    # When the caller sends it twice under one key
    answers = [gateway.call("CdpOnboardingFunction", ONBOARDING_BODY, headers=key("page")) for _ in range(2)]

    # Then the second is refused and CDP saw the write once
    assert [answer.status for answer in answers] == [502, 409]
    assert answers[1].error["code"] == "idempotency_outcome_unknown"
    assert len(gateway.provider.requests(ONBOARD)) == 1


def loopback_500(message: str) -> Reply:
    return Reply(500, json.dumps({"error": {"statusCode": 500, "name": "Error", "message": message}}).encode())


def test_signzys_documented_500_frees_the_key_and_any_other_500_holds_it(signzy):
    # Given Signzy answering its page's one error (it read no ObjectId: nothing re-pushed), whichever spelling is sent
    unread = "Argument passed in must be a single string of 12 bytes or a string of 24 hex characters"
    signzy.provider.reply(REPUSH, loopback_500(unread))
    documented = [signzy.call(SIGNZY, {"onboardingId": ONBOARDING_ID}, headers=key("unread")) for _ in range(2)]
    sent_for_documented = len(signzy.provider.requests(REPUSH))

    # And Signzy answering a 500 its page does not document
    signzy.provider.reply(REPUSH, loopback_500("Internal Server Error"))
    other = [signzy.call(SIGNZY, {"onboardingId": ONBOARDING_ID}, headers=key("failed")) for _ in range(2)]

    # Then the documented refusal leaves the key free (the retry reached Signzy again); the other holds it
    assert [answer.status for answer in documented] == [502, 502]
    assert sent_for_documented >= 2 and not documented[1].error["code"].startswith("idempotency")
    assert [answer.status for answer in other] == [502, 409]
    assert len(signzy.provider.requests(REPUSH)) == sent_for_documented + 1


@pytest.mark.parametrize(
    ("function", "path", "body"),
    [
        (IDENTIFY_FN, IDENTIFY, IDENTIFICATION),
        (UPDATE_FN, UPDATE, UPDATE_REQUEST),
        (DOCUMENTS_FN, GENERATE, DOCUMENT_REQUEST),
    ],
    ids=["identification", "update", "document"],
)
def test_connectfis_back_office_failing_a_write_leaves_its_outcome_unknown(gateway, function, path, body):
    # Given connectFi answering a write with its documented extAkepa (an error in its back office), under a 400
    gateway.provider.reply(LOGIN, connectfi_login())
    gateway.provider.reply(path, connectfi_error(400, "extAkepa", "an error occurred in the akepa back office"))
    first = gateway.call(function, body, headers=key(f"back-office-{function}"))

    # When the caller retries under the same key
    again = gateway.call(function, body, headers=key(f"back-office-{function}"))

    # Then connectFi is failing (502), and whether it acted first is unknown: the write is never sent twice
    assert (first.status, first.error["code"], first.error["providerCode"]) == (502, "provider_error", "extAkepa")
    assert (again.status, again.error["code"]) == (409, "idempotency_outcome_unknown")
    assert len(gateway.provider.requests(path)) == 1
