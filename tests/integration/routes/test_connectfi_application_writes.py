"""How the applications store writes a state: a late state, or one moving a completed application backwards, costs
one conditional write; a state found as stored is a check (its times noted), whatever the stored item lacks; a state
that meets another write each time it is compared is compared again once, then left to the next check; a new state
is stored and announced in three writes, none more once its status is published."""

from __future__ import annotations

import pytest

from tests.integration.routes.test_connectfi import APPLICATION
from tests.integration.routes.test_connectfi_applications import state

MORE_THAN_ONE_RETRY = 10  # writes: far past the one comparison again the store allows


@pytest.fixture
def store(gateway):
    from kyc_gateway.providers.connectfi import applications

    return applications


@pytest.fixture
def writes(store):
    """The store's UpdateItem calls from now on, by their update expression."""
    from kyc_gateway import aws

    made: list[str] = []

    def counted(params, **_: object) -> None:
        made.append(params["UpdateExpression"])

    events = aws.client("dynamodb").meta.events
    events.register("before-parameter-build.dynamodb.UpdateItem", counted)
    yield made
    events.unregister("before-parameter-build.dynamodb.UpdateItem", counted)


@pytest.mark.parametrize(
    ("stored", "asked_at", "arriving", "arriving_asked_at"),
    [
        (state("waiting_review"), 2, state("data_request"), 1),
        (state("waiting_review"), 2, state("waiting_review"), 1),
        (state("completed", "Approved"), 1, state("waiting_review"), 2),
    ],
    ids=["older", "the same, older", "a completed one backwards"],
)
def test_a_late_or_backward_state_is_refused_by_one_conditional_write(
    store, clock, writes, stored, asked_at, arriving, arriving_asked_at
):
    # Given a state stored
    now = clock.stop()
    store.record_and_announce(stored, observed_at=now + asked_at)
    writes.clear()

    # When a state it must not be replaced by arrives
    recorded = store.record_and_announce(arriving, observed_at=now + arriving_asked_at)

    # Then it is ignored on the one write's refusal (the stored item it answers with says why): no second write
    assert recorded is None
    assert len(writes) == 1
    kept = store.get(APPLICATION)
    assert (kept["status"], kept["observedAt"]) == (stored["status"], store.timestamp(now + asked_at))


def test_a_state_asked_for_when_the_stored_one_was_and_found_as_stored_is_a_check(store, clock):
    # Given a state stored, asked for at second 1
    now = clock.stop()
    store.record_and_announce(state(), observed_at=now + 1)
    clock.advance(5)

    # When the same state, asked for at the same time, arrives (another path saw the same answer)
    recorded = store.record_and_announce(state(), observed_at=now + 1)

    # Then it is not a stale state: the check is noted
    assert recorded is not None and recorded["announced"] is False
    assert store.get(APPLICATION)["checkedAt"] == store.timestamp(now + 5)


def test_a_state_found_as_stored_on_an_item_without_its_observation_time_notes_the_check(store, clock, aws):
    # Given a state stored whose item has no observation time (written by hand, or before the store kept one)
    now = clock.stop()
    store.record_and_announce(state(), observed_at=now + 1)
    aws.client("dynamodb").update_item(
        TableName=store._table(), Key={"applicationId": {"S": APPLICATION}}, UpdateExpression="REMOVE observedAt"
    )

    # When the same state arrives
    recorded = store.record_and_announce(state(), observed_at=now + 2)

    # Then the check is noted, and the item has its observation time again
    assert recorded is not None
    assert store.get(APPLICATION)["observedAt"] == store.timestamp(now + 2)


def test_a_state_meeting_another_write_each_time_it_is_compared_is_compared_again_once_then_left(
    store, clock, aws, writes
):
    # Given a state stored, and another writer that, each time, writes another status just before the check is
    # noted and the stored one back just before a state is stored (the race the second comparison exists for)
    now = clock.stop()
    store.record_and_announce(state("waiting_review"), observed_at=now + 1)
    writes.clear()
    table, key = store._table(), {"applicationId": {"S": APPLICATION}}

    def racing(params, **_: object) -> None:
        assert len(writes) <= MORE_THAN_ONE_RETRY, "compared again without end"
        status = "data_request" if params["UpdateExpression"].startswith("SET checkedAt") else "waiting_review"
        aws.client("dynamodb").update_item(
            TableName=table,
            Key=key,
            UpdateExpression="SET #status = :status",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={":status": {"S": status}},
        )

    from kyc_gateway import aws as gateway_aws

    events = gateway_aws.client("dynamodb").meta.events
    events.register("before-parameter-build.dynamodb.UpdateItem", racing)
    try:
        # When the same state, asked for later, arrives
        recorded = store.record_and_announce(state("waiting_review"), observed_at=now + 2)
    finally:
        events.unregister("before-parameter-build.dynamodb.UpdateItem", racing)

    # Then it is compared twice (a write, then noting the check, each time), and left for the next check to store
    assert recorded is None
    assert len(writes) == 4


def test_a_new_state_with_nothing_newer_stored_meanwhile_is_stored_and_announced_in_three_writes(store, writes):
    # Given an application nothing is stored for, When a new state of it arrives (nothing newer stored meanwhile)
    recorded = store.record_and_announce(state("waiting_review"))

    # Then it is stored, its announcement claimed, then marked published: no further claim for a status published
    assert recorded["announced"] is True
    assert [expression.split(" = ")[0] for expression in writes] == [
        "SET #customerId",
        "SET announcing",
        "SET publishedStatus",
    ]
    assert store.get(APPLICATION)["publishedStatus"] == "waiting_review"
