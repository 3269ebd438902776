"""The circuit breaker: fail fast while a provider keeps failing, recover when it answers again."""

from __future__ import annotations

import pytest

from kyc_gateway.errors import ProviderCircuitOpen
from kyc_gateway.http import CircuitBreaker


def test_it_opens_after_the_threshold_of_consecutive_failures_and_fails_fast(clock):
    breaker = CircuitBreaker(threshold=3, cooldown=30)
    for _ in range(2):
        breaker.record(failed=True)
    breaker.check("cdp")  # two failures: still closed

    breaker.record(failed=True)

    with pytest.raises(ProviderCircuitOpen) as raised:
        breaker.check("cdp")
    assert (raised.value.status, raised.value.code, raised.value.provider) == (502, "circuit_open", "cdp")


def test_a_success_resets_the_count(clock):
    breaker = CircuitBreaker(threshold=3, cooldown=30)
    breaker.record(failed=True)
    breaker.record(failed=True)
    breaker.record(failed=False)
    breaker.record(failed=True)

    breaker.check("cdp")


def test_after_the_cooldown_one_call_goes_through_and_its_failure_reopens_at_once(clock):
    breaker = CircuitBreaker(threshold=2, cooldown=30)
    breaker.record(failed=True)
    breaker.record(failed=True)
    clock.advance(31)

    breaker.check("cdp")  # half-open: a trial call is allowed
    breaker.record(failed=True)

    with pytest.raises(ProviderCircuitOpen):
        breaker.check("cdp")
    clock.advance(31)
    breaker.check("cdp")
    breaker.record(failed=False)
    breaker.record(failed=True)
    breaker.check("cdp")  # closed again: one failure is not enough
