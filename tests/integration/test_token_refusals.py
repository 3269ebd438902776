"""Refused logins: the provider refusing the gateway's credentials is the answer of every request waiting for that
renewal, on any instance, without a login each; a token still valid serves until it expires; a token the provider
refused never serves again."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.support import dynamodb
from tests.support.token_cache import (
    KEY,
    CountingProvider,
    FailingProvider,
    RefusingProvider,
    new_cache,
    outcome_of,
    stored_item,
    table_of_waits_that_move_the_clock,  # noqa: F401 - the `table` fixture
    warnings,
)

WAITED = "The provider rejected the gateway's credentials while this request waited for a token"


def refused_while(
    waiting: Callable[[], Any],
    polls: bool,
    clock,
    monkeypatch,
    aws,
    table: str,
    endpoint: type[CountingProvider] = RefusingProvider,
    shared_as: str = "refusedAt",
) -> tuple[CountingProvider, list]:
    """A token endpoint refusing the gateway's credentials (or failing otherwise: `endpoint`) once `waiting` (run on
    a thread of its own) waits for the refused renewal: it `polls` the table (another instance: its waits take no
    time, and last until the refusal is in the table, as `shared_as`, so that its polls never outlast the renewal's
    lease), or waits for the lock (this instance); and the thread, then what `waiting` got (a token, or the
    error)."""
    from kyc_gateway import clock as gateway_clock

    got: list = []
    polling = threading.Event()

    def poll_after_the_refusal(seconds: float) -> None:
        clock.slept.append(seconds)
        polling.set()
        until = time.monotonic() + 5
        while shared_as not in (stored_item(aws, table) or {}) and time.monotonic() < until:
            time.sleep(0.005)

    monkeypatch.setattr(gateway_clock, "sleep", poll_after_the_refusal)

    class RefusingWhileWaited(endpoint):
        def __call__(self, previous):
            waiter = threading.Thread(target=lambda: got.append(outcome_of(waiting)))
            waiter.start()
            polling.wait(5 if polls else 0.2)  # (a thread blocked on the lock gives no sign)
            got.insert(0, waiter)
            return super().__call__(previous)

    return RefusingWhileWaited(), got


@pytest.mark.parametrize("waiter", ["another instance", "another thread of this instance"])
def test_a_refused_login_is_the_answer_of_the_requests_waiting_for_it_and_the_next_request_tries_again(
    table, clock, waiter, monkeypatch, aws
):
    from kyc_gateway.errors import ProviderAuthFailed

    # Given a renewal the provider refuses (the gateway's credentials), while another request waits for it
    clock.stop()
    renewing = new_cache(table)
    waiting_cache = new_cache(table) if waiter == "another instance" else renewing
    fetch = CountingProvider()
    polls = waiter == "another instance"
    refusing, got = refused_while(lambda: waiting_cache.get(fetch), polls, clock, monkeypatch, aws, table)

    # When the renewal is refused
    with pytest.raises(ProviderAuthFailed) as refused:
        renewing.get(refusing)
    got[0].join()
    (outcome,) = got[1:]

    # Then the waiting request got the refusal, 502 provider_auth_failed for the provider, without a login of its own
    assert isinstance(outcome, ProviderAuthFailed), outcome
    assert (outcome.status, outcome.code, outcome.provider) == (502, "provider_auth_failed", "provider")
    assert outcome.message == "The provider rejected the gateway's credentials while this request waited for a token"
    assert (refused.value.provider_status, refusing.calls, fetch.calls) == (401, 1, 0)
    # And a request asking after the refusal logs in
    clock.advance(0.001)
    assert (waiting_cache.get(fetch).value, fetch.calls) == ("token-1", 1)


def test_a_login_that_failed_is_the_answer_of_the_requests_of_other_instances_waiting_for_it(
    table, clock, monkeypatch, aws
):
    from kyc_gateway.errors import ProviderTimeout

    # Given a renewal the provider does not answer in time (504), while a request of another instance waits for it
    clock.stop()
    renewing, waiting_cache, fetch = new_cache(table), new_cache(table), CountingProvider()
    failing, got = refused_while(
        lambda: waiting_cache.get(fetch), True, clock, monkeypatch, aws, table, FailingProvider, "failedAt"
    )

    # When the renewal fails
    with pytest.raises(ProviderTimeout):
        renewing.get(failing)
    got[0].join()
    (outcome,) = got[1:]

    # Then the waiting request fails with it at once, its status and code, without a login of its own (one login
    # per burst, not one after another)
    assert isinstance(outcome, ProviderTimeout), outcome
    assert (outcome.status, outcome.code, outcome.provider) == (504, "provider_timeout", "provider")
    assert (failing.calls, fetch.calls) == (1, 0)
    # And a request asking after the failure logs in
    clock.advance(0.001)
    assert (waiting_cache.get(fetch).value, fetch.calls) == ("token-1", 1)


def test_a_renewal_refused_early_serves_the_token_still_valid_then_the_refusal(table, clock):
    from kyc_gateway.errors import ProviderAuthFailed

    # Given a token due for renewal (a fifth of its 100 s early), and the provider refusing every renewal
    clock.stop()
    first = new_cache(table)
    issued = first.get(CountingProvider(lifetime=100))
    clock.advance(85)
    refusing = RefusingProvider()

    # When instances need a token before it expires (a second apart, and one of another instance at the instant of
    # the first refusal: it asked while that renewal was under way), then after
    before_expiry = [first.get(refusing), new_cache(table).get(refusing)]
    clock.advance(1)
    before_expiry.append(new_cache(table).get(refusing))
    clock.advance(15)

    # Then each renewal was tried and refused, the valid token serving meanwhile (the request that waited for the
    # first refusal served without a login of its own); then the refusal is the answer
    assert before_expiry == [issued, issued, issued]
    with pytest.raises(ProviderAuthFailed):
        new_cache(table).get(refusing)
    assert refusing.calls == 3


def test_a_renewal_refused_at_the_instant_the_token_expires_is_the_refusal(table, clock):
    from kyc_gateway.errors import ProviderAuthFailed

    # Given a token of 100 s, and the provider refusing its renewal at the very instant it expires
    clock.stop()
    cache = new_cache(table)
    cache.get(CountingProvider(lifetime=100))
    clock.advance(100)

    # When a request needs a token, Then the expired token does not serve: the refusal is the answer
    with pytest.raises(ProviderAuthFailed):
        cache.get(RefusingProvider())


def test_a_refusal_not_shared_is_logged_and_the_request_still_refused(table, clock, logs):
    from kyc_gateway.errors import ProviderAuthFailed

    # Given an instance whose login is refused, and whose token table refuses the refusal's write
    clock.stop()
    refusing = RefusingProvider()

    def cut_off_then_refuse(previous):
        dynamodb.cut_off()
        return refusing(previous)

    # When it needs a token, Then the request gets the refusal and the lost write is said
    with pytest.raises(ProviderAuthFailed):
        new_cache(table).get(cut_off_then_refuse)
    assert warnings(logs()) == [("token refusal not shared", KEY, "NoCredentialsError")]


@pytest.mark.parametrize(
    ("seconds_later", "expected"),
    [(85, "the token"), (101, "the refusal")],
    ids=["token still valid", "token expired"],
)
def test_without_the_table_a_thread_waiting_for_a_refused_renewal_gets_the_token_still_valid_or_the_refusal(
    table, clock, monkeypatch, aws, seconds_later, expected
):
    from kyc_gateway.errors import ProviderAuthFailed

    # Given an instance whose token table cannot be used, its token of 100 s due for renewal (or expired), and the
    # provider refusing the renewal while another thread of the instance waits for it
    clock.stop()
    cache = new_cache("no-such-table")
    issued = cache.get(CountingProvider(lifetime=100))
    clock.advance(seconds_later)
    fetch = CountingProvider()
    refusing, got = refused_while(lambda: cache.get(fetch), False, clock, monkeypatch, aws, table)

    # When the renewal is refused
    renewing = outcome_of(lambda: cache.get(refusing))
    got[0].join()
    (waited,) = got[1:]

    # Then both requests get the token while it is valid, else the refusal, with one login between them
    if expected == "the token":
        assert renewing == waited == issued
    else:
        assert isinstance(renewing, ProviderAuthFailed) and renewing.provider_status == 401
        assert isinstance(waited, ProviderAuthFailed) and waited.message == WAITED
    assert (refusing.calls, fetch.calls) == (1, 0)


def test_without_the_table_a_token_the_provider_refused_never_serves_again_even_when_its_renewal_is_refused(
    clock,
):
    from kyc_gateway.errors import ProviderAuthFailed

    # Given an instance whose token table cannot be used, and its token refused by the provider long before it
    # would expire
    clock.stop()
    cache = new_cache("no-such-table")
    cache.invalidate(cache.get(CountingProvider(lifetime=3600)))

    # When the renewal that follows is refused too, Then the refusal is the answer: not the refused token
    with pytest.raises(ProviderAuthFailed):
        cache.get(RefusingProvider())


def _not_the_providers(failure: str, monkeypatch) -> Exception:
    from kyc_gateway import clock as gateway_clock
    from kyc_gateway import errors

    if failure == "a timeout at the request's own deadline":
        monkeypatch.setattr(gateway_clock, "time_left", lambda: 0.2)  # its budget was what the request had left
        return errors.ProviderTimeout(provider="provider")
    return {
        "the gateway's own (its secret unreadable)": errors.ConfigurationError("provider credentials are unavailable"),
        "this instance's open circuit": errors.ProviderCircuitOpen(provider="provider"),
        "a rate limit": errors.ProviderRateLimited(provider="provider", provider_status=429),
    }[failure]


@pytest.mark.parametrize(
    "failure",
    [
        "the gateway's own (its secret unreadable)",
        "this instance's open circuit",
        "a rate limit",
        "a timeout at the request's own deadline",
    ],
)
def test_a_login_failing_otherwise_than_by_the_provider_is_not_shared_and_frees_the_lease(
    table, clock, aws, monkeypatch, failure
):
    # Given a renewal failing by what says nothing of the provider to the other requests waiting for it
    clock.stop()

    def failing(previous):
        raise _not_the_providers(failure, monkeypatch)

    # When it fails
    with pytest.raises(Exception):  # noqa: B017 - its own error, whichever it is
        new_cache(table).get(failing)

    # Then no other request is told the provider failed: the lease is free, and the next request logs in itself
    item = stored_item(aws, table) or {}
    assert "failedAt" not in item and "leaseOwner" not in item
    assert new_cache(table).get(CountingProvider()).value == "token-1"
