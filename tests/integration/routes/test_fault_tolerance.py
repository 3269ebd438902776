"""Provider faults injected in the sandbox: every route still answers the error envelope, in time; reads are
retried, writes never blindly."""

from __future__ import annotations

import time

import pytest

from tests.support.routes import ProviderRoute, provider_routes, retried_at_once

ROUTES = {route.function: route for route in provider_routes()}
READS = [name for name, route in ROUTES.items() if not route.write]
WRITES = [name for name, route in ROUTES.items() if route.write]


def warm(gateway, route: ProviderRoute) -> tuple[str, str]:
    """Successful calls first, so tokens are cached and the answer form is settled; the first sandbox operation the
    route calls (of those a second call counts, in the order the sandbox first saw them: connectFi's documents
    route generates, then uploads)."""
    sandbox = gateway.provider
    assert gateway.call(route.function, route.body).status == 200
    before = sandbox.calls
    assert gateway.call(route.function, route.body).status == 200
    return next(key for key, count in sandbox.calls.items() if count != before.get(key, 0))


def test_every_provider_route_is_covered():
    assert set(READS) >= {"CladfyKraPinFunction", "CdpCustomerLookupFunction", "ConnectFiStatusFunction"}
    assert set(WRITES) >= {
        "SignzyRepushFunction",
        "CdpOnboardingFunction",
        "ConnectFiIdentificationFunction",
        "ConnectFiDocumentsFunction",
        "ConnectFiUpdateFunction",
    }


@pytest.mark.parametrize("route", READS)
@pytest.mark.parametrize("fault", ["reset", "cut", "status", "html", "rate_limit"])
def test_reads_are_retried_past_one_fault(sandboxed_gateway, route, fault):
    sandbox = sandboxed_gateway.provider
    operation = warm(sandboxed_gateway, ROUTES[route])
    before = sandbox.call_count(*operation)
    sandbox.inject_fault(*operation, fault, **retried_at_once(fault))

    answer = sandboxed_gateway.call(route, ROUTES[route].body)

    assert answer.status == 200, answer.text
    assert sandbox.call_count(*operation) - before == 2


@pytest.mark.parametrize("route", WRITES)
def test_writes_are_retried_past_a_rate_limit_which_refused_them_undone(sandboxed_gateway, route):
    sandbox = sandboxed_gateway.provider
    operation = warm(sandboxed_gateway, ROUTES[route])
    before = sandbox.call_count(*operation)
    sandbox.inject_fault(*operation, "rate_limit", **retried_at_once("rate_limit"))

    answer = sandboxed_gateway.call(route, ROUTES[route].body)

    assert answer.status == 200, answer.text
    assert sandbox.call_count(*operation) - before == 2


@pytest.mark.parametrize("route", WRITES)
@pytest.mark.parametrize(
    ("fault", "code"),
    [
        ("reset", "provider_unavailable"),
        ("cut", "provider_unavailable"),
        ("status", "provider_error"),
        ("html", "provider_bad_response"),
    ],
)
def test_writes_are_never_retried_blindly(sandboxed_gateway, route, fault, code):
    sandbox = sandboxed_gateway.provider
    operation = warm(sandboxed_gateway, ROUTES[route])
    before = sandbox.call_count(*operation)
    sandbox.inject_fault(*operation, fault)

    answer = sandboxed_gateway.call(route, ROUTES[route].body)

    assert (answer.status, answer.error["code"]) == (502, code)
    assert sandbox.call_count(*operation) - before == 1


@pytest.mark.parametrize("route", list(ROUTES))
def test_a_truncated_answer_is_a_clean_502(sandboxed_gateway, route):
    operation = warm(sandboxed_gateway, ROUTES[route])
    sandboxed_gateway.provider.inject_fault(*operation, "truncated")

    answer = sandboxed_gateway.call(route, ROUTES[route].body)

    assert (answer.status, answer.error["code"]) == (502, "provider_bad_response")


@pytest.mark.parametrize("route", list(ROUTES))
def test_a_hanging_provider_is_a_504_within_the_time_budget(sandboxed_gateway, provider_timeouts, route):
    operation = warm(sandboxed_gateway, ROUTES[route])
    provider_timeouts.short()  # a 1 s read timeout within a 4 s budget (10 s and 20 s deployed, below 29 s)
    sandboxed_gateway.provider.inject_fault(*operation, "slow", seconds=10)  # a read timeout is not retried

    started = time.monotonic()
    answer = sandboxed_gateway.call(route, ROUTES[route].body)

    assert (answer.status, answer.error["code"]) == (504, "provider_timeout")
    assert time.monotonic() - started < 8  # the gateway answered, not the provider (after 10 s)


def test_an_answer_sent_a_byte_at_a_time_is_a_504_when_the_budget_ends(sandboxed_gateway, provider_timeouts):
    # Given a provider that does the lookup, then sends its answer a byte every 0.2 s (each read within the 1 s read
    # timeout, the whole answer far past the 4 s budget)
    route = ROUTES["CladfyKraPinFunction"]
    operation = warm(sandboxed_gateway, route)
    provider_timeouts.short()
    sandboxed_gateway.provider.inject_fault(*operation, "drip", seconds=0.2)

    # When a caller asks for it
    started = time.monotonic()
    answer = sandboxed_gateway.call(route.function, route.body)

    # Then the gateway answers 504 when its budget ends: not after a read timeout, not when the answer has come
    assert (answer.status, answer.error["code"]) == (504, "provider_timeout")
    assert 3.5 < time.monotonic() - started < 8


def test_a_5xx_burst_longer_than_the_retries_is_a_502_and_a_429_burst_a_429(sandboxed_gateway):
    route = ROUTES["CladfyKraPinFunction"]
    sandbox = sandboxed_gateway.provider
    sandbox.inject_fault("cladfy", "krapin", "status", times=3)
    assert sandboxed_gateway.call(route.function, route.body).error["code"] == "provider_error"
    sandbox.inject_fault("cladfy", "krapin", "rate_limit", times=3, retryAfter=0)
    limited = sandboxed_gateway.call(route.function, route.body)
    assert limited.status == 429
    assert limited.headers["Retry-After"] == "0"  # the provider's pause, said to the caller


def test_a_retry_after_longer_than_a_caller_should_wait_is_not_waited_for(sandboxed_gateway):
    route = ROUTES["CdpCustomerLookupFunction"]
    operation = warm(sandboxed_gateway, route)
    sandboxed_gateway.provider.inject_fault(*operation, "rate_limit", retryAfter=120)

    started = time.monotonic()
    answer = sandboxed_gateway.call(route.function, route.body)

    assert (answer.status, answer.error["code"]) == (429, "rate_limited")
    assert time.monotonic() - started < 30  # not the 120 s asked for
