"""The circuit breaker: fail fast while a provider keeps failing, recover when it answers again."""

from __future__ import annotations

import pytest

from kyc_gateway.errors import ProviderCircuitOpen
from kyc_gateway.http import CircuitBreaker


def opened(threshold: int = 2, cooldown: float = 30) -> CircuitBreaker:
    breaker = CircuitBreaker(threshold=threshold, cooldown=cooldown)
    for _ in range(threshold):
        breaker.record(failed=True)
    return breaker


def test_a_new_breaker_lets_calls_through_from_the_first_moment(stopped_clock):
    breaker = CircuitBreaker(threshold=3, cooldown=30)

    breaker.check("cdp")  # at monotonic time 0, as early in a Lambda's life as can be
    assert breaker.open_for() == 0


def test_it_opens_after_the_threshold_of_consecutive_failures_and_fails_fast(stopped_clock):
    breaker = CircuitBreaker(threshold=3, cooldown=30)
    for _ in range(2):
        breaker.record(failed=True)
    breaker.check("cdp")  # two failures: still closed

    breaker.record(failed=True)

    with pytest.raises(ProviderCircuitOpen) as raised:
        breaker.check("cdp")
    assert (raised.value.status, raised.value.code, raised.value.provider) == (502, "circuit_open", "cdp")


def test_it_stays_open_for_exactly_the_cooldown_and_says_for_how_long(stopped_clock):
    breaker = opened(cooldown=30)
    assert breaker.open_for() == 30

    stopped_clock.advance(29.5)
    assert breaker.open_for() == 0.5
    with pytest.raises(ProviderCircuitOpen):
        breaker.check("cdp")

    stopped_clock.advance(0.5)
    breaker.check("cdp")  # the cooldown is over: calls go through again
    assert breaker.open_for() == 0
    stopped_clock.advance(10)
    assert breaker.open_for() == 0


def test_a_success_resets_the_count(stopped_clock):
    breaker = CircuitBreaker(threshold=3, cooldown=30)
    breaker.record(failed=True)
    breaker.record(failed=True)
    breaker.record(failed=False)
    breaker.record(failed=True)
    breaker.record(failed=True)

    breaker.check("cdp")  # two failures since the success: still closed


def test_a_success_closes_the_circuit_at_once(stopped_clock):
    breaker = opened()

    breaker.record(failed=False)

    breaker.check("cdp")
    assert breaker.open_for() == 0


def test_after_the_cooldown_one_call_goes_through_and_its_failure_reopens_at_once(stopped_clock):
    breaker = opened(cooldown=30)
    stopped_clock.advance(31)

    breaker.check("cdp")  # half-open: a trial call is allowed
    breaker.record(failed=True)

    with pytest.raises(ProviderCircuitOpen):
        breaker.check("cdp")
    assert breaker.open_for() == 30
    stopped_clock.advance(31)
    breaker.check("cdp")
    breaker.record(failed=False)
    breaker.record(failed=True)
    breaker.check("cdp")  # closed again: one failure is not enough
