"""The shared token cache: DynamoDB-backed, in memory per instance, renewed early, no stampede."""

from __future__ import annotations

import threading

import pytest

from local.functions import cold_start
from tests.support import dynamodb
from tests.support.token_cache import (
    KEY,
    CountingProvider,
    in_request,
    new_cache,
    stored_item,
    table_of_waits_that_move_the_clock,  # noqa: F401 - the `table` fixture
    warnings,
)

# --- tokens --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lifetime", "early"),
    [(100, 20), (300, 60), (1209600, 60), (-10, 0)],
    ids=["a fifth of 100 s", "a fifth of 300 s is the minute", "a minute for 14 days", "already expired: at expiry"],
)
def test_a_token_is_renewed_a_fifth_of_its_lifetime_before_it_expires_at_most_a_minute(lifetime, early):
    from kyc_gateway.token_cache import Token

    token = Token.issued("t", now=1000.0, expires_at=1000.0 + lifetime)

    assert (token.expires_at, token.renew_at) == (1000.0 + lifetime, 1000.0 + lifetime - early)


@pytest.mark.parametrize(
    ("refresh_value", "expires_in", "usable"),
    [("r", None, True), ("r", 5.5, True), ("r", 5.0, False), ("r", 4.0, False), (None, 60.0, False), ("", None, False)],
)
def test_a_refresh_token_is_used_until_five_seconds_before_it_expires(refresh_value, expires_in, usable):
    from kyc_gateway.token_cache import Token

    now = 1000.0
    token = Token("t", now + 60, now + 48, refresh_value, None if expires_in is None else now + expires_in)

    assert token.usable_refresh(now) == (refresh_value if usable else None)


def test_tokens_are_kept_per_provider_and_per_base_url():
    from kyc_gateway.token_cache import cache_key

    key = cache_key("cdp", "https://idp.example/realms/a")

    # The provider leads the key: each function's role reaches only its provider's tokens (LeadingKeys <provider>#*)
    assert key.partition("#")[0] == "cdp"
    assert key == cache_key("cdp", "https://idp.example/realms/a")
    assert key != cache_key("cdp", "https://idp.example/realms/b")
    assert cache_key("cdp", "a", "b") != cache_key("cdp", "a", "c") != cache_key("signzy", "a", "b")


# --- one token request per expiry window ---------------------------------------------------------------------------


def test_a_token_is_fetched_once_and_then_served_from_memory(table):
    fetch = CountingProvider()
    cache = new_cache(table)

    tokens = {cache.get(fetch).value for _ in range(5)}

    assert tokens == {"token-1"}
    assert fetch.calls == 1


def test_another_instance_uses_the_stored_token_and_renews_it_with_its_refresh_token(table, clock):
    # Given a token one instance fetched and stored
    clock.stop()
    fetch = CountingProvider(lifetime=100)
    first = new_cache(table).get(fetch)

    # When another instance needs one, then again once it is due for renewal
    assert new_cache(table).get(fetch) == first
    clock.advance(80)
    other = new_cache(table)
    renewed = other.get(fetch)

    # Then it used the stored token, and renewed it handing the provider that token (and its refresh token)
    assert (renewed.value, fetch.calls) == ("token-2", 2)
    assert fetch.previous_seen == [None, first]


def test_twenty_concurrent_cold_instances_make_one_token_request(physical_ids):
    # Given 20 instances with empty memories and a slow token endpoint (waiting in real time)
    cold_start()
    table = physical_ids["TokenTable"]
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


def test_a_token_is_renewed_from_its_renewal_time_on_with_its_previous_token_at_hand(table, clock):
    start = clock.stop()
    fetch = CountingProvider(lifetime=100)  # renewed 20 s early
    cache = new_cache(table)
    first = cache.get(fetch)

    clock.advance(80 - 0.001)
    assert cache.get(fetch) == first
    clock.advance(0.001)
    assert cache.get(fetch).value == "token-2"

    assert fetch.previous_seen == [None, first]
    assert first.renew_at == start + 80


def test_the_instance_renewing_hands_the_provider_the_newest_stored_token_not_its_older_copy(table, clock):
    # Given an instance holding token-1, and another that renewed it since (token-2 stored)
    clock.stop()
    fetch = CountingProvider(lifetime=100)
    behind, ahead = new_cache(table), new_cache(table)
    behind.get(fetch)
    clock.advance(80)
    newest = ahead.get(fetch)

    # When the first renews in its turn
    clock.advance(80)
    assert behind.get(fetch).value == "token-3"

    # Then the provider got token-2 (whose refresh token is the live one), never token-1's again
    assert fetch.previous_seen[-1] == newest


# --- what is stored ------------------------------------------------------------------------------------------------


def test_the_stored_token_expires_from_the_table_an_hour_after_it_and_its_refresh_token_are_dead(aws, table, clock):
    # Given a token with a refresh token living twice as long
    now = clock.stop()
    fetch = CountingProvider(lifetime=600)
    cache = new_cache(table)

    cache.get(fetch)

    assert stored_item(aws, table) == {
        "pk": "provider#abc",
        "token": "token-1",
        "expiresAt": str(now + 600),
        "renewAt": str(now + 540),
        "refreshToken": "refresh-1",
        "refreshExpiresAt": str(now + 1200),
        "ttl": str(int(now) + 1200 + 3600),
    }  # and no lease left behind

    # When its renewal brings no refresh token, Then the old refresh token is no longer stored
    fetch.with_refresh = False
    clock.advance(540)
    cache.get(fetch)
    assert stored_item(aws, table) == {
        "pk": "provider#abc",
        "token": "token-2",
        "expiresAt": str(now + 1140),
        "renewAt": str(now + 1080),
        "ttl": str(int(now) + 1140 + 3600),
    }
    assert new_cache(table).get(fetch).refresh_value is None  # the stored one, fetched nowhere else
    assert fetch.calls == 2


def test_a_refresh_token_without_an_expiry_is_stored_and_handed_over(aws, table, clock):
    clock.stop()
    fetch = CountingProvider(lifetime=100, refresh_expires=False)
    first = new_cache(table).get(fetch)

    clock.advance(80)
    new_cache(table).get(fetch)

    assert "refreshExpiresAt" not in stored_item(aws, table)
    assert fetch.previous_seen[-1] == first and first.refresh_value == "refresh-1"


def test_the_table_is_read_consistently_so_a_token_just_stored_is_seen(table):
    from kyc_gateway import aws as gateway_aws

    reads = []
    gateway_aws.client("dynamodb").meta.events.register(
        "before-parameter-build.dynamodb.GetItem", lambda params, **_: reads.append(params)
    )

    new_cache(table).get(CountingProvider())

    assert reads and all(read["ConsistentRead"] is True for read in reads)


# --- invalidation --------------------------------------------------------------------------------------------------


def test_invalidating_a_refused_token_makes_every_instance_fetch_a_new_one(table):
    fetch = CountingProvider()
    first, other = new_cache(table), new_cache(table)
    refused = first.get(fetch)
    other.get(fetch)

    first.invalidate(refused)

    assert first.get(fetch).value == "token-2"
    assert new_cache(table).get(fetch).value == "token-2"
    assert fetch.calls == 2
    assert fetch.previous_seen[-1].refresh_value == "refresh-1"  # a refused token's refresh token may still serve


def test_a_thread_needing_a_token_while_another_invalidates_it_never_brings_the_refused_token_back(table):
    # Given an instance whose token the provider just refused, and another of its threads needing a token while
    # the first is storing the refusal (between forgetting the token in memory and marking it in the table)
    from kyc_gateway import aws

    fetch = CountingProvider()
    cache = new_cache(table)
    refused = cache.get(fetch)
    invalidating = threading.current_thread()
    other_thread: list[str] = []
    workers: list[threading.Thread] = []

    def meanwhile(**_: object) -> None:
        if threading.current_thread() is invalidating and not workers:
            workers.append(threading.Thread(target=lambda: other_thread.append(cache.get(fetch).value)))
            workers[0].start()
            workers[0].join(timeout=0.5)  # it finishes now, unless it waits for the invalidation to be stored

    events = aws.client("dynamodb").meta.events
    events.register("before-call.dynamodb.UpdateItem", meanwhile)
    try:
        # When the refused token is invalidated
        cache.invalidate(refused)
    finally:
        events.unregister("before-call.dynamodb.UpdateItem", meanwhile)
    workers[0].join()

    # Then neither thread uses the refused token again: one new token serves both
    assert other_thread == [cache.get(fetch).value] == ["token-2"]
    assert fetch.calls == 2


def test_invalidating_a_token_already_replaced_keeps_the_replacement_without_a_word(table, logs):
    fetch = CountingProvider()
    slow, fast = new_cache(table), new_cache(table)
    stale = slow.get(fetch)
    fast.invalidate(stale)
    assert fast.get(fetch).value == "token-2"

    slow.invalidate(stale)  # a late 401 on the old token must not throw away the new one
    fast.invalidate(stale)

    assert slow.get(fetch).value == fast.get(fetch).value == new_cache(table).get(fetch).value == "token-2"
    assert fetch.calls == 2
    assert warnings(logs()) == []


# --- failures ------------------------------------------------------------------------------------------------------


def test_a_failed_fetch_releases_the_lease_so_the_next_caller_fetches_at_once(table, clock):
    cache = new_cache(table)

    def failing(previous):
        raise RuntimeError("token endpoint down")

    with pytest.raises(RuntimeError):
        cache.get(failing)

    fetch = CountingProvider()
    with in_request(seconds_left=0.5):
        assert new_cache(table).get(fetch).value == "token-1"
    assert clock.slept == []


@pytest.mark.usefixtures("table")
def test_without_dynamodb_the_instance_fetches_its_own_tokens_and_says_so(clock, logs):
    # Given an instance whose token table cannot be used
    clock.stop()
    fetch = CountingProvider(lifetime=100)
    cache = new_cache("no-such-table")

    # Then it fetches a token, keeps it in memory, renews it with it at hand, and forgets it when refused
    first = cache.get(fetch)
    assert cache.get(fetch) == first
    clock.advance(80)
    second = cache.get(fetch)
    cache.invalidate(second)
    assert cache.get(fetch).value == "token-3"
    cache.invalidate(second)  # a late refusal of the token it replaced keeps the new one
    assert cache.get(fetch).value == "token-3"

    assert [previous and previous.value for previous in fetch.previous_seen] == [None, "token-1", "token-2"]
    unavailable = ("token table unavailable; fetching without it", KEY, "ResourceNotFoundException")
    not_stored = ("token invalidation not stored", KEY, "ResourceNotFoundException")
    assert warnings(logs()) == [unavailable, unavailable, not_stored, unavailable, not_stored]


def test_when_dynamodb_and_the_token_endpoint_fail_together_the_caller_hears_of_the_endpoint(table, logs):
    # Given an instance whose token request fails after its DynamoDB client stopped working
    def failing(previous):
        dynamodb.cut_off()
        raise RuntimeError("token endpoint down")

    # When it needs a token, Then the error is the token endpoint's (its lease is left to lapse)
    with pytest.raises(RuntimeError, match="token endpoint down"):
        new_cache(table).get(failing)

    # And without DynamoDB, neither the next token request nor a refused token's invalidation fails: both are logged
    cache = new_cache(table)
    cache.invalidate(cache.get(CountingProvider()))
    assert warnings(logs()) == [
        ("token table unavailable; fetching without it", KEY, "NoCredentialsError"),
        ("token invalidation not stored", KEY, "NoCredentialsError"),
    ]
