"""The routes against the provider sandbox's documented magic inputs (docs/sandbox.md)."""

from __future__ import annotations

import pytest

from local.functions import cold_start
from local.sandbox import ProviderSandbox
from tests.conftest import SECRETS, Gateway, deploy

CLADFY = "CladfyKraPinFunction"
SIGNZY = "SignzyRepushFunction"


@pytest.mark.parametrize(
    ("pin", "status", "code"),
    [
        ("A004416331M", 200, None),
        ("A000000404Z", 404, "kra_pin_not_found"),
        ("A000000200Z", 502, "provider_error"),
        ("A000000503Z", 502, "provider_error"),  # an outage's message under response_code 404
        ("A000001003Z", 422, "provider_rejected"),
        ("A000001005Z", 429, "rate_limited"),
        ("A000001200Z", 502, "provider_auth_failed"),
        ("A000000502Z", 502, "provider_bad_response"),
        ("A000000206Z", 502, "provider_bad_response"),
        ("A000000504Z", 504, "provider_timeout"),
        ("A000000500Z", 502, "provider_error"),
    ],
)
def test_cladfy_magic_inputs(sandboxed_gateway, request, pin, status, code):
    if status == 504:
        request.getfixturevalue("short_provider_timeouts")  # the sandbox's slow inputs wait 2 s
    answer = sandboxed_gateway.call(CLADFY, {"pinnumber": pin})

    assert answer.status == status
    if code is None:
        assert answer.json()["data"]["PINNo"] == pin
        assert answer.json()["extra_field"] == "kept"
    else:
        assert answer.error["code"] == code


@pytest.mark.parametrize(
    ("onboarding_id", "status", "code"),
    [
        ("65a1b2c3d4e5f60718293a4b", 200, None),
        ("000000000000000000000404", 502, "provider_error"),  # LoopBack's MODEL_NOT_FOUND: undocumented
        ("000000000000000000000500", 502, "provider_error"),
        ("000000000000000000000502", 502, "provider_bad_response"),
        ("000000000000000000000504", 504, "provider_timeout"),
        ("000000000000000000000422", 502, "provider_error"),  # LoopBack's ValidationError: undocumented
        ("000000000000000000000403", 502, "provider_error"),  # an access rule's 403: undocumented
        ("00000000000000000000a401", 502, "provider_auth_failed"),  # a 401 whatever the token
        ("000000000000000000000401", 200, None),  # the sandbox forgets the token: re-login and retry
    ],
)
def test_signzy_magic_inputs(sandboxed_gateway, request, onboarding_id, status, code):
    if status == 504:
        request.getfixturevalue("short_provider_timeouts")  # the sandbox's slow inputs wait 2 s
    answer = sandboxed_gateway.call(SIGNZY, {"onboardingId": onboarding_id})

    assert answer.status == status
    if code is None:
        assert answer.json()["onboardingId"] == onboarding_id
    else:
        assert answer.error["code"] == code


@pytest.mark.parametrize(
    "case",
    [
        ("raw", "auto", 200, 3),  # Bearer refused, raw accepted, raw again on the second call
        ("bearer", "auto", 200, 2),
        ("raw", "raw", 200, 2),
        ("bearer", "bearer", 200, 2),
        ("raw", "bearer", 502, 2),  # pinned to the form this Signzy refuses: never probed
        ("bearer", "raw", 502, 2),
    ],
)
def test_signzy_accepting_one_authorization_form(physical_ids, monkeypatch, case):
    accepted, mode, status, repushes = case
    # Given a Signzy that accepts exactly one form of the token in Authorization
    with ProviderSandbox(SECRETS, quiet=True, signzy_auth_header=accepted) as sandbox:
        deploy(physical_ids, sandbox.url, monkeypatch)
        monkeypatch.setenv("SIGNZY_AUTH_HEADER", mode)
        cold_start()
        gateway = Gateway(sandbox, {})

        # When a cold instance repushes twice
        answers = [gateway.call(SIGNZY, {"onboardingId": "65a1b2c3d4e5f60718293a4b"}) for _ in range(2)]

        # Then auto finds the form either way; a pinned wrong form is a 502, never the caller's 401
        assert [answer.status for answer in answers] == [status, status]
        if status == 200:
            assert sandbox.call_count("signzy", "repush") == repushes
            assert sandbox.call_count("signzy", "login") == 1
        else:
            assert answers[0].error["code"] == "provider_auth_failed"


def test_signzy_token_is_reused_then_recovered_after_the_provider_forgets_it(sandboxed_gateway):
    sandbox = sandboxed_gateway.provider
    logins_before = sandbox.call_count("signzy", "login")
    for _ in range(3):
        assert sandboxed_gateway.call(SIGNZY, {"onboardingId": "65a1b2c3d4e5f60718293a4b"}).status == 200
    assert sandbox.call_count("signzy", "login") - logins_before == 1

    sandbox.forget_tokens()

    assert sandboxed_gateway.call(SIGNZY, {"onboardingId": "65a1b2c3d4e5f60718293a4b"}).status == 200
    assert sandbox.call_count("signzy", "login") - logins_before == 2


CDP_LOOKUP = "CdpCustomerLookupFunction"
CDP_ONBOARD = "CdpOnboardingFunction"


@pytest.mark.parametrize(
    ("id_number", "status", "code"),
    [
        ("784199554586091", 200, None),
        ("784000000045001", 404, "customer_not_found"),
        ("784000000045003", 422, "customer_not_subscribed"),
        ("784000000040001", 422, "invalid_customer_id"),
        ("784000000045006", 502, "provider_error"),
        ("784000000045013", 422, "customer_under_investigation"),
        ("784000000045051", 422, "customer_blocked"),
        ("784000000000502", 502, "provider_bad_response"),
        ("784000000000504", 504, "provider_timeout"),
    ],
)
def test_cdp_lookup_magic_inputs(sandboxed_gateway, request, id_number, status, code):
    if status == 504:
        request.getfixturevalue("short_provider_timeouts")  # the sandbox's slow inputs wait 2 s
    answer = sandboxed_gateway.call(CDP_LOOKUP, {"idNumber": id_number, "idType": "4"})

    assert answer.status == status, answer.text
    if code is None:
        assert answer.json()["status"] == "success"
    else:
        assert answer.error["code"] == code


@pytest.mark.parametrize(
    ("id_number", "status", "code"),
    [
        ("784199554586091", 200, None),
        ("784000000045013", 422, "customer_under_investigation"),
        ("784000000045051", 422, "customer_blocked"),
        ("784000000045053", 422, "invalid_master_data"),
        ("784000000040002", 422, "missing_mandatory_fields"),
        ("784000000045032", 422, "customer_update_failed"),
        ("784000000040001", 502, "provider_error"),
        ("784000000000502", 502, "provider_bad_response"),
    ],
)
def test_cdp_onboarding_magic_inputs(sandboxed_gateway, request, id_number, status, code):
    if status == 504:
        request.getfixturevalue("short_provider_timeouts")  # the sandbox's slow inputs wait 2 s
    from tests.integration.routes.test_cdp_onboarding import changed

    answer = sandboxed_gateway.call(CDP_ONBOARD, changed("id_details.0.id_number", id_number))

    assert answer.status == status, answer.text
    if code is None:
        assert answer.json()["status"] == "success"
    else:
        assert answer.error["code"] == code


def test_cdp_token_is_reused_and_replaced_after_the_provider_forgets_it(sandboxed_gateway):
    sandbox = sandboxed_gateway.provider
    before = sandbox.call_count("cdp", "token")
    for _ in range(3):
        assert sandboxed_gateway.call(CDP_LOOKUP, {"idNumber": "784199554586091", "idType": "4"}).status == 200
    assert sandbox.call_count("cdp", "token") - before == 1

    sandbox.forget_tokens()

    assert sandboxed_gateway.call(CDP_LOOKUP, {"idNumber": "784199554586091", "idType": "4"}).status == 200
    # the refresh token was forgotten too: refresh (invalid_grant), then a password grant
    assert sandbox.call_count("cdp", "token") - before == 3


def test_a_signzy_base_url_with_a_wrong_prefix_is_a_502_not_a_missing_onboarding(physical_ids, monkeypatch, sandbox):
    sandbox.reset()
    deploy(physical_ids, sandbox.url, monkeypatch)
    monkeypatch.setenv("SIGNZY_BASE_URL", sandbox.url + "/signzy/kra-handler/api/onboardings/v2")
    cold_start()

    answer = Gateway(sandbox, {}).call(SIGNZY, {"onboardingId": "65a1b2c3d4e5f60718293a4b"})

    assert (answer.status, answer.error["code"]) == (502, "provider_error")


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"first_name": "  "}, 422, "missing_mandatory_fields"),  # passes the gateway; CDP's own 40002
        ({"first_name": None}, 422, "missing_mandatory_fields"),
        ({"nationality": "ZZ"}, 422, "invalid_master_data"),  # the gateway forwards it, CDP has no such code
        ({"nationality": "XK", "country_of_birth": "XK"}, 200, None),  # Kosovo, on real passports
        ({"id_details": None, "facial_image": {"content_type": "image/jpeg"}, "zip": "13345"}, 200, None),
    ],
)
def test_cdp_rules_on_what_it_owns(sandboxed_gateway, change, status, code):
    body = {"first_name": "TEST", "id_details": [{"id_type": 4, "id_number": "784199554586091"}], **change}

    answer = sandboxed_gateway.call(CDP_ONBOARD, {key: value for key, value in body.items() if value is not None})

    assert answer.status == status
    if code:
        assert answer.error["code"] == code
