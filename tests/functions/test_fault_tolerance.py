"""Provider faults injected in the sandbox: every route still answers the SPEC's envelope, in time; reads are
retried, writes never blindly."""

from __future__ import annotations

import time

import pytest

from tests.functions.test_cdp import ONBOARDING_BODY

CALLS = {
    "cladfy.krapin": ("CladfyKraPinFunction", {"pinnumber": "A004416331M"}, ("cladfy", "krapin"), True),
    "cdp.lookup": (
        "CdpCustomerLookupFunction",
        {"idNumber": "784199554586091", "idType": "4"},
        ("cdp", "lookup"),
        True,
    ),
    "connectfi.status": None,  # needs an application: see test_connectfi_status_retries_past_a_5xx_burst
    "signzy.repush": (
        "SignzyRepushFunction",
        {"onboardingId": "65a1b2c3d4e5f60718293a4b"},
        ("signzy", "repush"),
        False,
    ),
    "cdp.onboarding": ("CdpOnboardingFunction", ONBOARDING_BODY, ("cdp", "onboarding"), False),
    "connectfi.identification": (
        "ConnectFiIdentificationFunction",
        {"customerId": "cstap_5mBHiIx3QbkvEpjGfKsI9k", "reference": "faults1"},
        ("connectfi", "identification"),
        False,
    ),
}
ROUTES = {name: call for name, call in CALLS.items() if call}
READS = [name for name, call in ROUTES.items() if call[3]]
WRITES = [name for name, call in ROUTES.items() if not call[3]]


def calls_of(sandbox, provider_operation):
    return sandbox.call_count(*provider_operation)


def warm(gateway, function, body):
    """One successful call first, so tokens are cached and only the faulted call is counted."""
    assert gateway.call(function, body).status == 200


@pytest.mark.parametrize("route", READS)
@pytest.mark.parametrize("fault", ["reset", "status", "html", "rate_limit"])
def test_reads_are_retried_past_one_fault(sandboxed_gateway, route, fault):
    function, body, operation, _ = ROUTES[route]
    sandbox = sandboxed_gateway.provider
    warm(sandboxed_gateway, function, body)
    before = calls_of(sandbox, operation)
    sandbox.inject_fault(*operation, fault, retryAfter=0)

    answer = sandboxed_gateway.call(function, body)

    assert answer.status == 200, answer.text
    assert calls_of(sandbox, operation) - before == 2


@pytest.mark.parametrize("route", WRITES)
@pytest.mark.parametrize(
    ("fault", "code"),
    [("reset", "provider_unavailable"), ("status", "provider_error"), ("html", "provider_bad_response")],
)
def test_writes_are_never_retried_blindly(sandboxed_gateway, route, fault, code):
    function, body, operation, _ = ROUTES[route]
    sandbox = sandboxed_gateway.provider
    warm(sandboxed_gateway, function, body)
    before = calls_of(sandbox, operation)
    sandbox.inject_fault(*operation, fault)

    answer = sandboxed_gateway.call(function, body)

    assert (answer.status, answer.error["code"]) == (502, code)
    assert calls_of(sandbox, operation) - before == 1


@pytest.mark.parametrize("route", list(ROUTES))
def test_a_truncated_answer_is_a_clean_502(sandboxed_gateway, route):
    function, body, operation, _ = ROUTES[route]
    warm(sandboxed_gateway, function, body)
    sandboxed_gateway.provider.inject_fault(*operation, "truncated")

    answer = sandboxed_gateway.call(function, body)

    assert (answer.status, answer.error["code"]) == (502, "provider_bad_response")


@pytest.mark.parametrize("route", list(ROUTES))
def test_a_hanging_provider_is_a_504_within_the_time_budget(sandboxed_gateway, route):
    function, body, operation, _ = ROUTES[route]
    warm(sandboxed_gateway, function, body)
    sandboxed_gateway.provider.inject_fault(*operation, "slow", seconds=5)  # a read timeout is not retried

    started = time.monotonic()
    answer = sandboxed_gateway.call(function, body)

    assert (answer.status, answer.error["code"]) == (504, "provider_timeout")
    assert time.monotonic() - started < 4  # read timeout 1 s in tests (10 s deployed, budget 20 s < 29 s)


def test_a_5xx_burst_longer_than_the_retries_is_a_502_and_a_429_burst_a_429(sandboxed_gateway):
    function, body, operation, _ = ROUTES["cladfy.krapin"]
    sandbox = sandboxed_gateway.provider
    sandbox.inject_fault(*operation, "status", times=3)
    assert sandboxed_gateway.call(function, body).error["code"] == "provider_error"
    sandbox.inject_fault(*operation, "rate_limit", times=3, retryAfter=0)
    assert sandboxed_gateway.call(function, body).status == 429


def test_a_retry_after_longer_than_a_caller_should_wait_is_not_waited_for(sandboxed_gateway):
    function, body, operation, _ = ROUTES["cdp.lookup"]
    warm(sandboxed_gateway, function, body)
    sandboxed_gateway.provider.inject_fault(*operation, "rate_limit", retryAfter=120)

    started = time.monotonic()
    answer = sandboxed_gateway.call(function, body)

    assert (answer.status, answer.error["code"]) == (429, "rate_limited")
    assert time.monotonic() - started < 5  # not the 120 s asked for


def test_connectfi_status_retries_past_a_5xx_burst(sandboxed_gateway):
    started = sandboxed_gateway.call(
        "ConnectFiIdentificationFunction", {"customerId": "cstap_5mBHiIx3QbkvEpjGfKsI9k", "reference": "faults2"}
    )
    application_id = started.json()["data"]["applicationId"]
    sandboxed_gateway.provider.inject_fault("connectfi", "status", "status", times=2)

    answer = sandboxed_gateway.call(
        "ConnectFiStatusFunction", {"customerId": "cstap_5mBHiIx3QbkvEpjGfKsI9k", "applicationId": application_id}
    )

    assert answer.status == 200
    assert answer.json()["data"]["applicationId"] == application_id
