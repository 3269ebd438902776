"""The token cache's renewal lease: while one instance renews a token, the others use the current token while it is
valid, or wait for the new one while their request has time (then 502 token_unavailable, counted for the provider);
a renewal that outlives its lease is taken over, and its late token is not stored over the newer one."""

from __future__ import annotations

import contextlib
import copy
import threading
from collections.abc import Iterator

import pytest

from local.functions import cold_start
from tests.support.aws_faults import LOST, inject, on_table, refused
from tests.support.token_cache import (
    KEY,
    CountingProvider,
    RefusingProvider,
    in_request,
    new_cache,
    outcome_of,
    stored_item,
    warnings,
)


@pytest.fixture
def table(physical_ids, clock):
    """The token table, for warm instances (a request's time is not spent building their DynamoDB client) whose
    waits move the clock rather than take time."""
    from kyc_gateway import aws

    cold_start()
    aws.client("dynamodb")
    clock.skip_sleeps()
    return physical_ids["TokenTable"]


def no_time_to_wait(cache, fetch) -> str:
    """The token `cache` gets for a request whose deadline has passed (it looks once, never waits): its value, or
    the error's code."""
    from kyc_gateway.errors import ProviderUnavailable

    with in_request(seconds_left=-1):
        try:
            return cache.get(fetch).value
        except ProviderUnavailable as error:
            return error.code


@pytest.mark.parametrize(
    ("renewal_seconds", "seconds_left", "lease", "slack"),
    [(20, None, 25, 0.0), (20, 3, 8, 0.5), (2, 10, 7, 0.5), (20, -0.5, 5, 0.5)],
    ids=["outside a request", "bounded by the request", "bounded by the renewal", "request past its deadline"],
)
def test_a_renewal_holds_its_lease_as_long_as_it_may_take_plus_a_margin_then_it_is_taken_over(
    aws, table, clock, logs, renewal_seconds, seconds_left, lease, slack
):
    # Given an instance renewing a token (its longest renewal, its request's time left; the request's time flows on
    # while it takes its lease, hence the slack), whose renewal lasts
    clock.stop()
    fetch = CountingProvider()
    renewing, other = new_cache(table, renewal_seconds=renewal_seconds), new_cache(table)
    seen_by_other = []

    def slow_renewal(previous):
        # When another instance needs a token at the lease's last moment, then just after it
        clock.advance(lease - slack)
        seen_by_other.append(no_time_to_wait(other, fetch))
        clock.advance(2 * slack or 0.001)
        seen_by_other.append(no_time_to_wait(other, fetch))
        return fetch(previous)

    if seconds_left is None:
        renewed = renewing.get(slow_renewal)
    else:
        with in_request(seconds_left):
            renewed = renewing.get(slow_renewal)

    # Then the other waits while the lease holds, and takes over once it has lapsed
    assert seen_by_other == ["token_unavailable", "token-1"]
    # and the late renewal's token serves its own instance, but is not stored over the newer one
    assert renewed.value == "token-2"
    assert stored_item(aws, table)["token"] == "token-1"
    assert warnings(logs()) == [("token not shared", KEY, "ConditionalCheckFailedException")]


def restored_from(snapshot):
    """An instance's copy of `snapshot`'s cache (its memory as the snapshot holds it, a lock of its own, as in a
    process of its own), after SnapStart's after-restore hook."""
    instance = copy.copy(snapshot)
    instance._lock = threading.Lock()
    instance.restored()
    return instance


def test_instances_restored_from_one_snapshot_never_take_each_others_lease_for_their_own(aws, table, clock, logs):
    # Given one instance's token cache, restored from a SnapStart snapshot into two instances (each a copy of it,
    # made its own by the after-restore hook), the first renewing for longer than its lease
    clock.stop()
    fetch = CountingProvider()
    snapshot = new_cache(table)
    late, taking_over = restored_from(snapshot), restored_from(snapshot)
    lease_taken, late_token_done = threading.Event(), threading.Event()
    taken_over = []

    def renewal_after_takeover(previous):
        lease_taken.set()
        late_token_done.wait(10)
        return fetch(previous)

    takeover = threading.Thread(target=lambda: taken_over.append(taking_over.get(renewal_after_takeover).value))

    def slow_renewal(previous):
        # When the other takes the lapsed lease over, and is still renewing when the first's token comes back
        clock.advance(26)
        takeover.start()
        lease_taken.wait(10)
        return fetch(previous)

    late_value = late.get(slow_renewal).value
    late_token_done.set()
    takeover.join(10)

    # Then the late token serves its own instance but is not stored: the lease is the other's, whose token is
    assert (late_value, taken_over) == ("token-1", ["token-2"])
    assert stored_item(aws, table)["token"] == "token-2"
    assert warnings(logs()) == [("token not shared", KEY, "ConditionalCheckFailedException")]


def test_while_another_instance_renews_the_current_token_is_used_until_it_expires(table, clock):
    # Given a token (100 s) due for renewal, which another instance is renewing
    clock.stop()
    fetch = CountingProvider(lifetime=100)
    renewing, waiting = new_cache(table), new_cache(table)
    current = waiting.get(fetch)
    clock.advance(80)
    seen_by_waiting = []

    def renewal(previous):
        # When this instance needs a token meanwhile: now, just before the token expires, and when it expires
        for step in (0, 20 - 0.001, 0.001):
            clock.advance(step)
            seen_by_waiting.append(no_time_to_wait(waiting, fetch))
        return fetch(previous)

    renewed = renewing.get(renewal)

    # Then it uses the current token while it is valid, never once expired, and the renewed one after
    assert seen_by_waiting == [current.value, current.value, "token_unavailable"]
    assert waiting.get(fetch) == renewed
    assert fetch.calls == 2


def polled_with_backoff(slept: list[float]) -> bool:
    """Each wait between reads is 50 ms doubling to 400 ms, times a random 0.5-1.5."""
    nominal = [min(0.05 * 2**poll, 0.4) for poll in range(len(slept))]
    return all(0.5 <= wait / expected <= 1.5 for wait, expected in zip(slept, nominal, strict=True))


@pytest.mark.parametrize("seconds_left", [0.3, 2.0])
def test_waiting_for_a_renewal_lasts_the_requests_time_left_then_token_unavailable_for_the_provider(
    table, clock, logs, seconds_left
):
    from kyc_gateway.errors import ProviderUnavailable
    from kyc_gateway.observability import record_outcome

    # Given another instance renewing CDP's token (its lease holds long), and no token stored
    clock.stop()
    slept = clock.slept
    waiting = new_cache(table, key="cdp#abc")
    raised = []

    def renewal(previous):
        # When this instance needs a token with `seconds_left` of its request left
        with in_request(seconds_left), pytest.raises(ProviderUnavailable) as error:
            waiting.get(CountingProvider())
        raised.append(error.value)
        return CountingProvider()(previous)

    new_cache(table, key="cdp#abc", renewal_seconds=100).get(renewal)

    # Then it reads the table again and again with a growing, jittered wait, until its time is up
    assert polled_with_backoff(slept)
    assert sum(slept[:-1]) < seconds_left < sum(slept) + 0.01  # (its time left is counted from the request's start)
    # and gives up with 502 token_unavailable naming the provider, its alarm's metric
    (error,) = raised
    assert (error.status, error.code, error.provider) == (502, "token_unavailable", "cdp")
    assert error.message == "No provider token could be obtained in time"
    record_outcome("cdp.lookup", error.code, error.status, 1.0, error.provider)
    written = logs().replace(" ", "")
    assert '"TokenFailures":[1.0]' in written and '"Provider":"cdp"' in written


@pytest.mark.parametrize(("holder_renewal_seconds", "outcome"), [(100, "token_unavailable"), (20, "token-1")])
def test_outside_a_request_an_instance_waits_as_long_as_a_renewal_may_take_and_takes_over_a_lapsed_one(
    table, clock, holder_renewal_seconds, outcome
):
    from kyc_gateway.errors import ProviderUnavailable

    # Given another instance renewing, whose lease lasts 105 s (or 25 s, as long as this instance's own would)
    clock.stop()
    slept = clock.slept
    fetch = CountingProvider()
    waiting = new_cache(table, renewal_seconds=20)
    outcomes = []

    def renewal(previous):
        # When this instance needs a token outside any request
        try:
            outcomes.append(waiting.get(fetch).value)
        except ProviderUnavailable as error:
            outcomes.append(error.code)
        return fetch(previous)

    new_cache(table, renewal_seconds=holder_renewal_seconds).get(renewal)

    # Then it waits its own renewal's longest plus twice the margin (30 s), taking over a lease lapsed before
    waited = min(30, holder_renewal_seconds + 5)
    assert outcomes == [outcome]
    assert sum(slept[:-1]) < waited <= sum(slept)
    assert polled_with_backoff(slept)
    factors = [wait / min(0.05 * 2**poll, 0.4) for poll, wait in enumerate(slept)]
    assert max(factors) - min(factors) > 0.5  # jittered: instances waiting together spread their reads


@contextlib.contextmanager
def renewed_first_by(renewing, fetch) -> Iterator[list]:
    """`renewing`, another instance's cache, renews the token with `fetch` just before this instance writes its
    lease (once); the instances yet to renew, empty once it has."""
    from kyc_gateway import aws

    pending = [renewing]

    def renew_first(**_: object) -> None:
        if pending:
            outcome_of(lambda: pending.pop().get(fetch))

    events = aws.client("dynamodb").meta.events
    events.register("before-call.dynamodb.UpdateItem", renew_first)
    try:
        yield pending
    finally:
        events.unregister("before-call.dynamodb.UpdateItem", renew_first)


@pytest.mark.parametrize("other_renewal", ["stores a new token", "is refused"])
def test_a_renewal_another_instance_finishes_between_this_ones_read_and_its_lease_is_not_made_twice(
    table, clock, other_renewal
):
    from kyc_gateway.errors import ProviderAuthFailed

    # Given an expired token, and an instance needing one that finds it expired; and just before it takes the
    # renewal's lease, another instance renews the token (its lease already released): storing a new one, or refused
    clock.stop()
    fetch = CountingProvider(lifetime=100)
    new_cache(table).get(fetch)
    clock.advance(101)
    refusing = RefusingProvider()
    other_fetch = fetch if other_renewal == "stores a new token" else refusing

    # When the instance takes the lease
    with renewed_first_by(new_cache(table), other_fetch) as pending:
        late = outcome_of(lambda: new_cache(table).get(fetch))

    # Then it gets no lease: it uses the new token, or the refusal, without a login of its own
    assert not pending
    if other_renewal == "stores a new token":
        assert (late.value, fetch.calls, refusing.calls) == ("token-2", 2, 0)
    else:
        assert isinstance(late, ProviderAuthFailed), late
        assert (fetch.calls, refusing.calls) == (1, 1)


@pytest.mark.parametrize(
    "unusable", [{"N": "97531"}, {"S": "with space"}, {"NULL": True}, {"M": {"a": {"S": "b"}}}], ids=repr
)
def test_a_row_no_request_can_use_is_renewed_once_when_two_instances_find_it(aws, table, clock, unusable):
    # Given a token row no request can use, read by an instance whose lease another instance beats: that one
    # renews the row first, between the first's read and its lease
    clock.stop()
    far = {"N": "9999999999"}
    aws.client("dynamodb").put_item(
        TableName=table, Item={"pk": {"S": KEY}, "token": unusable, "expiresAt": far, "renewAt": far}
    )
    fetch = CountingProvider(lifetime=100)

    # When the first instance takes its lease
    with renewed_first_by(new_cache(table), fetch) as first_to_renew:
        late = outcome_of(lambda: new_cache(table).get(fetch))

    # Then its lease is refused (the row's token changed since it read it), and it uses the other's: one login
    assert not first_to_renew
    assert (getattr(late, "value", late), fetch.calls) == ("token-1", 1)
    assert stored_item(aws, table)["token"] == "token-1"


def test_a_lease_applied_whose_every_answer_was_lost_is_stored_over_not_left_to_hold_the_others(aws, table, clock):
    # Given a lease the table applies while every answer to its write is lost (botocore's retries too)
    clock.stop()
    fetch = CountingProvider(lifetime=100)
    inject("dynamodb", "UpdateItem", on_table(table, LOST, text="SET leaseOwner"))

    # When an instance renews the token, the lease's write failing as far as it can tell
    first = new_cache(table).get(fetch)

    # Then it logs in anyway, stores the token over its own lease and releases it: another instance uses that token
    with in_request(seconds_left=3):
        other = outcome_of(lambda: new_cache(table).get(fetch))
    assert (first.value, getattr(other, "value", other), fetch.calls) == ("token-1", "token-1", 1)
    assert "leaseOwner" not in stored_item(aws, table)


def test_a_lease_the_table_refuses_is_logged_under_the_tokens_key_and_the_token_fetched_without_it(table, clock, logs):
    # Given the token table refusing every renewal's lease (its reads work)
    clock.stop()
    fetch = CountingProvider(lifetime=100)
    inject("dynamodb", "UpdateItem", on_table(table, refused("ThrottlingException"), text="SET leaseOwner"))

    # When an instance needs a token
    token = new_cache(table).get(fetch)

    # Then it fetches one without the lease, saying so under the token's key with the table's error; the token is
    # not shared (a write of the token holds only under the instance's lease)
    assert (token.value, fetch.calls) == ("token-1", 1)
    assert warnings(logs()) == [
        ("token lease not written; fetching without it", KEY, "ThrottlingException"),
        ("token not shared", KEY, "ConditionalCheckFailedException"),
    ]
