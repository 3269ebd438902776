"""The shared token cache: DynamoDB-backed, in memory per instance, renewed early, no stampede."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import pytest

from local.functions import cold_start


@pytest.fixture
def table(physical_ids):
    cold_start()
    return physical_ids["TokenTable"]


class CountingProvider:
    """A token endpoint that counts requests; each token lives `lifetime` seconds."""

    def __init__(self, lifetime: float = 3600, delay: float = 0.0) -> None:
        self.lifetime = lifetime
        self.delay = delay
        self.calls = 0
        self.previous_seen = []
        self._lock = threading.Lock()

    def __call__(self, previous):
        from kyc_gateway.token_cache import Token

        with self._lock:
            self.calls += 1
            number = self.calls
        self.previous_seen.append(previous)
        time.sleep(self.delay)
        from kyc_gateway import clock

        now = clock.now()
        return Token.issued(
            f"token-{number}",
            now=now,
            expires_at=now + self.lifetime,
            refresh_value=f"refresh-{number}",
            refresh_expires_at=now + 2 * self.lifetime,
        )


def new_cache(table, key="provider#abc", renewal_seconds=20.0):
    from kyc_gateway.token_cache import TokenCache

    return TokenCache(key, table, renewal_seconds=renewal_seconds)


def test_a_token_is_fetched_once_and_then_served_from_memory(table):
    fetch = CountingProvider()
    cache = new_cache(table)

    tokens = {cache.get(fetch).value for _ in range(5)}

    assert tokens == {"token-1"}
    assert fetch.calls == 1


def test_another_instance_reuses_the_stored_token(table):
    fetch = CountingProvider()
    new_cache(table).get(fetch)

    assert new_cache(table).get(fetch).value == "token-1"
    assert fetch.calls == 1


def test_twenty_concurrent_cold_instances_make_one_token_request(table):
    # Given 20 instances with empty memories and a slow token endpoint
    fetch = CountingProvider(delay=0.3)
    caches = [new_cache(table) for _ in range(20)]
    barrier = threading.Barrier(len(caches))
    results = []

    def cold_call(cache):
        barrier.wait()
        results.append(cache.get(fetch).value)

    # When they all need a token at the same moment
    threads = [threading.Thread(target=cold_call, args=(cache,)) for cache in caches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    # Then one of them fetched it and all use that one token
    assert fetch.calls == 1
    assert results == ["token-1"] * 20


def test_a_token_is_renewed_shortly_before_it_expires_with_its_previous_token_at_hand(table, clock):
    fetch = CountingProvider(lifetime=100)
    cache = new_cache(table)

    first = cache.get(fetch)
    # token lifetime 100 s -> renewed 20 s early
    assert first.renew_at == pytest.approx(first.expires_at - 20, abs=0.01)
    clock.advance(79)
    assert cache.get(fetch).value == "token-1"
    clock.advance(2)
    assert cache.get(fetch).value == "token-2"
    assert fetch.previous_seen[-1].refresh_value == "refresh-1"


def test_margin_is_at_most_a_minute_for_long_lived_tokens():
    from kyc_gateway.token_cache import Token

    token = Token.issued("t", now=0, expires_at=1209600)

    assert token.renew_at == 1209600 - 60


def test_invalidating_a_refused_token_makes_every_instance_fetch_a_new_one(table):
    fetch = CountingProvider()
    first, other = new_cache(table), new_cache(table)
    refused = first.get(fetch)
    other.get(fetch)

    first.invalidate(refused)

    assert first.get(fetch).value == "token-2"
    assert new_cache(table).get(fetch).value == "token-2"
    assert fetch.calls == 2


def test_invalidating_a_token_already_replaced_keeps_the_replacement(table):
    fetch = CountingProvider()
    slow, fast = new_cache(table), new_cache(table)
    stale = slow.get(fetch)
    fast.invalidate(stale)
    assert fast.get(fetch).value == "token-2"

    slow.invalidate(stale)  # a late 401 on the old token must not throw away the new one

    assert new_cache(table).get(fetch).value == "token-2"
    assert fetch.calls == 2


def test_a_failed_fetch_releases_the_lease_so_the_next_caller_can_try(table):
    cache = new_cache(table)

    def failing(previous):
        raise RuntimeError("token endpoint down")

    with pytest.raises(RuntimeError):
        cache.get(failing)

    fetch = CountingProvider()
    assert new_cache(table).get(fetch).value == "token-1"


def test_without_dynamodb_the_instance_still_gets_a_token(aws, monkeypatch):
    cold_start()
    fetch = CountingProvider()
    cache = new_cache("no-such-table")

    assert cache.get(fetch).value == "token-1"
    assert cache.get(fetch).value == "token-1"
    assert fetch.calls == 1


def test_a_token_nobody_renews_in_time_is_token_unavailable_counted_for_its_provider(table, logs):
    from kyc_gateway import clock
    from kyc_gateway.errors import ProviderUnavailable
    from kyc_gateway.observability import record_outcome

    # Given another instance holding the renewal lease, and no token stored
    assert new_cache(table, key="cdp#abc")._take_lease(clock.now())
    waiting = new_cache(table, key="cdp#abc")

    # When this instance needs a token with 0.2 s of its request left, Then it gives up in time, naming the provider
    clock.start_request(SimpleNamespace(get_remaining_time_in_millis=lambda: 1700))  # 1.5 s kept for the answer
    try:
        with pytest.raises(ProviderUnavailable) as raised:
            waiting.get(CountingProvider())
    finally:
        clock.start_request(None)
    assert (raised.value.code, raised.value.provider) == ("token_unavailable", "cdp")

    # And the request's outcome is counted as that provider's token failure (its alarm's metric)
    record_outcome("cdp.lookup", raised.value.code, raised.value.status, 1.0, raised.value.provider)
    written = logs().replace(" ", "")
    assert '"TokenFailures":[1.0]' in written and '"Provider":"cdp"' in written
