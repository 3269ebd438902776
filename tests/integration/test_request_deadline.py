"""One deadline per request: every provider call of it, retries included, ends before the Lambda's timeout, so the
caller always gets the gateway's answer (a documents request makes up to three calls in a row)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest

from kyc_gateway import clock
from kyc_gateway.errors import ProviderTimeout
from kyc_gateway.http import ProviderHttp
from kyc_gateway.settings import Settings
from tests.support.fake_provider import Reply


@dataclass
class Context:
    remaining_ms: int

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@pytest.fixture(autouse=True)
def no_request_afterwards():
    yield
    clock.start_request(None)


def test_a_slow_provider_is_cut_at_the_requests_deadline_not_at_the_full_budget(provider):
    # Given a request with 3 s left in its Lambda, and a provider that takes 10 s
    provider.reply("/slow", Reply(200, b"{}", delay=10))
    http = ProviderHttp("cladfy", provider.url, Settings())  # a 20 s budget of its own
    clock.start_request(Context(3000))

    # When the gateway calls it, Then it gives up in time to answer (the deadline keeps 1.5 s back)
    started = time.monotonic()
    with pytest.raises(ProviderTimeout):
        http.post("/slow", operation="slow", idempotent=True, json_body={})
    assert time.monotonic() - started < 3.0 - clock.ANSWER_MARGIN_SECONDS + 1.0  # 1.5 s, with a slow machine's slack


def test_a_call_after_the_deadline_is_not_sent(provider):
    provider.reply("/any", {})
    http = ProviderHttp("cladfy", provider.url, Settings())
    clock.start_request(Context(1000))  # less than the answer margin

    with pytest.raises(ProviderTimeout) as raised:
        http.post("/any", operation="any", idempotent=False, json_body={})

    assert provider.requests() == [] and not raised.value.outcome_unknown


def test_outside_a_request_the_budget_alone_applies():
    clock.start_request(None)
    assert clock.time_left() is None


def test_a_retry_is_not_made_when_it_would_not_fit_before_the_requests_deadline(provider, stopped_clock):
    # Given a request with 3 s left before its deadline, though the provider's own budget is 20 s
    provider.reply("/read", Reply(503, b"{}"), Reply(200, b"{}"))
    http = ProviderHttp("cladfy", provider.url, Settings())
    clock.start_request(Context(4500))

    # When the provider answers 503, Then no retry is made: it would not leave a 3.05 s connect timeout in time
    assert http.post("/read", operation="read", idempotent=True, json_body={}).status == 503
    assert len(provider.requests("/read")) == 1


def test_a_call_with_half_a_second_left_is_still_made(provider, stopped_clock):
    provider.reply("/any", {})
    http = ProviderHttp("cladfy", provider.url, Settings())
    clock.start_request(Context(2000))

    assert http.post("/any", operation="any", idempotent=False, json_body={}).status == 200


def test_a_call_with_no_time_left_at_all_is_not_sent(provider, stopped_clock):
    provider.reply("/any", {})
    http = ProviderHttp("cladfy", provider.url, Settings())
    clock.start_request(Context(int(clock.ANSWER_MARGIN_SECONDS * 1000)))  # exactly the answer margin

    with pytest.raises(ProviderTimeout) as raised:
        http.post("/any", operation="any", idempotent=False, json_body={})

    assert provider.requests() == []
    assert (raised.value.provider, raised.value.outcome_unknown) == ("cladfy", False)


def test_a_call_the_request_has_no_time_left_for_is_not_counted_against_the_provider(provider):
    # Given a request whose time is spent
    http = ProviderHttp("cladfy", provider.url, Settings())
    clock.start_request(Context(int(clock.ANSWER_MARGIN_SECONDS * 1000)))

    # When it would call the provider eleven times (more than the failures that open its circuit)
    for _ in range(11):
        with pytest.raises(ProviderTimeout):
            http.post("/any", operation="any", idempotent=True, json_body={})

    # Then nothing was sent, and the provider's circuit is still closed
    assert provider.requests() == []
    assert http.circuit.open_for() == 0 and http.circuit._failures == 0


@pytest.mark.parametrize(
    ("remaining_ms", "limits", "counted"),
    [
        (3000, {"PROVIDER_BUDGET_SECONDS": 20}, False),
        (30_000, {"PROVIDER_BUDGET_SECONDS": 1}, True),
        (3000, {"PROVIDER_BUDGET_SECONDS": 20, "PROVIDER_READ_TIMEOUT_SECONDS": 1}, True),
    ],
    ids=[
        "cut short by the request's deadline",
        "at the provider's own budget",
        "at the provider's read timeout, its request's deadline near",
    ],
)
def test_only_a_timeout_of_the_providers_own_counts_against_its_circuit(provider, remaining_ms, limits, counted):
    # Given a provider that answers nothing for 10 s, whose circuit opens at the first failure
    provider.reply("/slow", Reply(200, b"{}", delay=10))
    settings = Settings(PROVIDER_CIRCUIT_FAILURES=1, **limits)
    http = ProviderHttp("cladfy", provider.url, settings)

    # When a request calls it with less time left than the provider's budget, or more
    clock.start_request(Context(remaining_ms))
    with pytest.raises(ProviderTimeout):
        http.post("/slow", operation="slow", idempotent=True, json_body={})

    # Then only a timeout of the provider's own (its budget, its read timeout) is its failure, not the request's
    # deadline: the circuit opens for those alone
    assert (http.circuit.open_for() > 0) is counted


@pytest.mark.parametrize(
    ("ran_for", "counted"),
    [(-0.001, True), (0.0, False)],
    ids=["just before the end of what it had left", "at the end of what it had left"],
)
def test_a_timeout_counts_against_the_circuit_until_the_call_ran_to_the_end_of_its_cut_budget(
    monkeypatch, ran_for, counted
):
    from kyc_gateway import http as http_module

    # Given a call whose budget the request's deadline cut to 2 s (under the provider's own), on a clock the test
    # moves, and an attempt that times out after `ran_for` seconds past the end of that budget's margin
    settings = Settings(PROVIDER_CIRCUIT_FAILURES=1, PROVIDER_BUDGET_SECONDS=20)
    http = ProviderHttp("cladfy", "http://127.0.0.1:9", settings)
    now = [0.0]  # the elapsed time is then exactly what the test adds
    monkeypatch.setattr(clock, "monotonic", lambda: now[0])
    monkeypatch.setattr(clock, "time_left", lambda: 2.0)

    def times_out(*_args, **_kwargs):
        now[0] += 2.0 - http_module._ITS_END_SECONDS + ran_for
        raise ProviderTimeout(provider="cladfy")

    monkeypatch.setattr(http, "_post_with_retries", times_out)

    # When the call times out
    with pytest.raises(ProviderTimeout):
        http.post("/slow", operation="slow", idempotent=True, json_body={})

    # Then it is the deadline's cut from the end of what it had left on, not the provider failing; before, it is
    assert (http.circuit.open_for() > 0) is counted
