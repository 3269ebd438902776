"""The connectFi applications store as the reconciliation's queue: served longest-waiting first, due only when checked
before the cutoff, read page by page, and left by an application that is closed, postponed out, unknown three times
in a row or retired as read; read back from the table."""

from __future__ import annotations

import pytest

from tests.integration.routes.test_connectfi import APPLICATION, CUSTOMER
from tests.integration.routes.test_connectfi_applications import due_ids, state


def test_the_queue_is_served_longest_waiting_first_and_a_postponed_application_goes_to_the_back(store, clock):
    for number in range(3):
        store.record_and_announce(state(application_id=f"iapp_queue{number}"))
        clock.advance(1)

    store.postpone("iapp_queue0")

    assert due_ids(store) == ["iapp_queue1", "iapp_queue2", "iapp_queue0"]


def test_an_application_is_due_only_once_checked_strictly_before_the_cutoff(store):
    store.record_and_announce(state())
    checked_at = store.get(APPLICATION)["checkedAt"]
    seconds = _epoch(checked_at)

    assert due_ids(store, checked_before=seconds) == []
    assert due_ids(store, checked_before=seconds + 0.001) == [APPLICATION]
    (due,) = store.due(checked_before=seconds + 0.001)
    assert (due["applicationId"], due["customerId"], due["checkedAt"]) == (APPLICATION, CUSTOMER, checked_at)


def _epoch(timestamp: str) -> float:
    import datetime as dt

    return dt.datetime.fromisoformat(timestamp).timestamp()


def test_every_page_of_the_queue_is_read(store, monkeypatch):
    from kyc_gateway import aws

    # Given a table whose queries answer one item per page (DynamoDB pages at 1 MB)
    for number in range(3):
        store.record_and_announce(state(application_id=f"iapp_page{number}"))
    real_client, dynamodb = aws.client, aws.client("dynamodb")

    class OneItemPages:
        def query(self, **arguments):
            return dynamodb.query(**arguments, Limit=1)

    paged = {"dynamodb": OneItemPages()}
    monkeypatch.setattr(aws, "client", lambda service: paged.get(service) or real_client(service))

    assert due_ids(store) == ["iapp_page0", "iapp_page1", "iapp_page2"]


@pytest.mark.parametrize("leave", ["postpone", "unknown_again"])
def test_nothing_is_stored_for_an_application_never_stored(store, leave):
    arguments = ["2026-01-01T00:00:00.000Z"] if leave == "unknown_again" else []
    getattr(store, leave)("iapp_neverStored", *arguments)

    assert store.get("iapp_neverStored") is None
    assert due_ids(store) == []


def test_a_postponed_application_that_left_the_queue_does_not_come_back(store, clock):
    store.record_and_announce(state("completed", "Approved"))
    clock.advance(5)
    checked = store.get(APPLICATION)["checkedAt"]

    store.postpone(APPLICATION)

    assert (store.get(APPLICATION)["checkedAt"], due_ids(store)) == (checked, [])


def test_an_application_connectfi_does_not_know_three_checks_in_a_row_leaves_the_queue_with_its_state(store, clock):
    # Given an application connectFi did not know twice, then knew (a wrong base URL fixed) in a new state, did not
    # know twice again, then knew as stored, then did not know
    store.record_and_announce(state())
    assert [unknown(store) for _ in range(2)] == [False, False]
    clock.advance(1)
    store.record_and_announce(state("data_request"))  # a change: its count starts over
    assert [unknown(store) for _ in range(2)] == [False, False]
    clock.advance(1)
    store.record_and_announce(state("data_request"))  # found as stored: its count starts over all the same
    clock.advance(1)
    checked = store.get(APPLICATION)["checkedAt"]

    # When it is unknown again, Then it goes to the back of the queue, and leaves it the third time in a row
    assert unknown(store) is False
    assert store.get(APPLICATION)["checkedAt"] > checked and due_ids(store) == [APPLICATION]
    assert [unknown(store) for _ in range(2)] == [False, True]
    assert due_ids(store) == []
    assert store.get(APPLICATION)["status"] == "data_request"
    assert unknown(store) is False  # it left the queue already


def unknown(store) -> bool:
    """A reconciliation run found the application unknown to connectFi, due since the check time it read."""
    return store.unknown_again(APPLICATION, store.get(APPLICATION)["checkedAt"])


def test_runs_overlapping_that_find_an_application_unknown_count_it_once(store, clock):
    # Given an application due, read by three reconciliation runs at once
    store.record_and_announce(state())
    clock.advance(1)
    seen = store.get(APPLICATION)["checkedAt"]

    # When each finds connectFi does not know it
    left = [store.unknown_again(APPLICATION, seen) for _ in range(3)]

    # Then it is counted once: it stays in the queue, and two more rounds are needed before it leaves
    assert left == [False, False, False]
    assert due_ids(store) == [APPLICATION]
    clock.advance(1)
    assert [unknown(store) for _ in range(2)] == [False, True]


def test_an_application_retired_as_read_leaves_the_queue_with_its_state(store):
    store.record_and_announce(state("data_request"))
    read = store.get(APPLICATION)

    assert store.retire(APPLICATION, read["updatedAt"]) is True

    assert due_ids(store) == []
    assert store.get(APPLICATION)["status"] == "data_request"
    assert store.retire(APPLICATION, read["updatedAt"]) is False  # it left the queue already


def test_an_application_is_not_retired_on_a_state_it_no_longer_has(store):
    store.record_and_announce(state("data_request"))

    assert store.retire(APPLICATION, "2020-01-01T00:00:00.000Z") is False
    assert due_ids(store) == [APPLICATION]


def test_a_completed_application_is_never_retired(store, monkeypatch):
    from tests.integration.routes.test_connectfi_reconciliation import failing_announcements

    # Given a completed application still in the queue (its announcement failed)
    failing_announcements(monkeypatch, 1)
    with pytest.raises(store.AnnouncementFailed):
        store.record_and_announce(state("completed", "Approved"))
    read = store.get(APPLICATION)

    # Then it is not retired: it stays due until its announcement is made
    assert store.retire(APPLICATION, read["updatedAt"]) is False
    assert due_ids(store) == [APPLICATION]


def test_how_long_an_application_has_stood_still_is_read_from_its_last_change(store, clock):
    store.record_and_announce(state())
    changed = store.get(APPLICATION)
    clock.advance(3600)
    store.record_and_announce(state())  # found as stored: not a change

    assert store.stood_still_since(store.get(APPLICATION)) == _epoch(changed["updatedAt"])
