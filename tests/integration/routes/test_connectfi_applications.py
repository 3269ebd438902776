"""The connectFi applications store: what a confirmed state stores, when it is a change, and what is announced (once,
with a lease), read back from the table and EventBridge. The store as the reconciliation's queue is in
test_connectfi_application_queue.py."""

from __future__ import annotations

import json
import re

import pytest

from tests.integration.routes.test_connectfi import APPLICATION, CUSTOMER, application
from tests.support.emf import log_lines
from tests.support.webhooks import read_application

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
EVERYONE_DUE = 4e9  # epoch seconds, in 2096: every application in the queue has been checked before it
# A state with each of its fields changed in turn: each is another state
EACH_FIELD_CHANGED = [
    {"customerId": "cstap_another"},
    {"reference": "extRefApp101"},
    {"aggregatorId": "OTHERCLIENT"},
    {"status": "data_request"},
    {"outcome": "Declined"},
    {"entityApplications": [{"entityId": CUSTOMER, "isCustomer": True, "status": "running", "outcome": None}]},
]


def state(status: str = "waiting_review", outcome: str | None = None, application_id: str = APPLICATION, **changes):
    return application(status, outcome)["data"] | {"applicationId": application_id} | changes


def due_ids(store, checked_before: float = EVERYONE_DUE) -> list[str]:
    return [due["applicationId"] for due in store.due(checked_before=checked_before)]


def details(announcements) -> list[dict]:
    return [event["detail"] for event in announcements()]


# --- what is stored and announced -------------------------------------------------------------------------------------


def test_a_new_state_is_stored_as_connectfi_gave_it_and_announced_with_its_details(store, announcements, clock):
    asked = clock.stop()
    stored = store.record_and_announce(state("waiting_review"), observed_at=asked - 0.25)

    assert stored["announced"] is True
    view = json.loads(read_application(APPLICATION)["body"])
    assert view == {
        "applicationId": APPLICATION,
        "customerId": CUSTOMER,
        "reference": "extRefApp100",
        "aggregatorId": "CLIENTID",
        "status": "waiting_review",
        "outcome": None,
        "entityApplications": state()["entityApplications"],
        "createdAt": view["createdAt"],
        "updatedAt": view["createdAt"],
    }
    assert TIMESTAMP.match(view["createdAt"])
    (event,) = announcements()
    assert (event["source"], event["detail-type"]) == ("kyc-gateway.connectfi", "ApplicationStatusChanged")
    assert event["detail"] == {
        "applicationId": APPLICATION,
        "customerId": CUSTOMER,
        "reference": "extRefApp100",
        "previousStatus": None,
        "status": "waiting_review",
        "outcome": None,
        "observedAt": "2023-11-14T22:13:19.750Z",  # when connectFi was asked: what orders the events
    }


def test_a_state_without_entity_applications_is_stored_with_none(store):
    without = state()
    del without["entityApplications"]

    store.record_and_announce(without)

    assert json.loads(read_application(APPLICATION)["body"])["entityApplications"] == []


def test_a_field_connectfi_answers_as_null_is_stored_as_dynamodbs_null(store, aws):
    from kyc_gateway.settings import get_settings

    # Given a state whose outcome connectFi answered null (no outcome yet)
    store.record_and_announce(state("waiting_review", outcome=None))

    # Then the item holds DynamoDB's NULL for it, which DynamoDB takes only as true (its emulator takes any value)
    item = aws.client("dynamodb").get_item(
        TableName=get_settings().require("applications_table_name"), Key={"applicationId": {"S": APPLICATION}}
    )["Item"]
    assert item["outcome"] == {"NULL": True}


def test_each_announcement_names_the_status_announced_before_it(store, announcements):
    store.record_and_announce(state("waiting_review"))
    store.record_and_announce(state("data_request"))
    store.record_and_announce(state("completed", "Approved"))

    assert [(d["previousStatus"], d["status"], d["outcome"]) for d in details(announcements)] == [
        (None, "waiting_review", None),
        ("waiting_review", "data_request", None),
        ("data_request", "completed", "Approved"),
    ]


def test_times_are_utc_to_the_millisecond_and_sort_as_the_times_they_name(store):
    assert store.timestamp(0) == "1970-01-01T00:00:00.000Z"
    assert store.timestamp(1_795_000_000.1239) == "2026-11-18T11:06:40.123Z"
    assert store.timestamp(9.5) < store.timestamp(10.0)


@pytest.mark.parametrize(
    "change",
    EACH_FIELD_CHANGED,
)
def test_any_field_connectfi_changes_is_a_change_and_moves_updated_at(store, clock, change):
    store.record_and_announce(state())
    first = store.get(APPLICATION)
    clock.advance(5)

    store.record_and_announce(state() | change)

    after = store.get(APPLICATION)
    assert after["updatedAt"] > first["updatedAt"] and after["checkedAt"] == after["updatedAt"]
    assert after["createdAt"] == first["createdAt"]
    assert {name: after[name] for name in change} == change


def test_a_state_found_as_stored_moves_only_its_check_time_and_is_not_announced_again(store, announcements, clock):
    store.record_and_announce(state())
    first = store.get(APPLICATION)
    clock.advance(5)

    again = store.record_and_announce(state())

    assert again["announced"] is False
    after = store.get(APPLICATION)
    assert (after["updatedAt"], after["createdAt"]) == (first["updatedAt"], first["createdAt"])
    assert after["checkedAt"] > first["checkedAt"]
    assert len(announcements()) == 1


def test_an_older_state_arriving_after_completion_changes_nothing(store, announcements, clock, logs):
    store.record_and_announce(state("completed", "Approved"))
    first = store.get(APPLICATION)
    clock.advance(5)

    assert store.record_and_announce(state("waiting_review")) is None

    assert store.get(APPLICATION) == first  # not even its check time
    assert [d["status"] for d in details(announcements)] == ["completed"]
    (line,) = log_lines(logs(), "stale state ignored")
    assert line["application_id"] == APPLICATION


def test_a_completed_application_that_changes_again_is_stored_not_announced_again_and_not_rechecked(
    store, announcements
):
    # Given a completed application, announced (it left the reconciliation's queue)
    store.record_and_announce(state("completed", "Approved"))
    assert due_ids(store) == []

    # When connectFi later answers it with a detail changed (still completed)
    entities = [{"entityId": CUSTOMER, "isCustomer": True, "status": "completed", "outcome": "Approved"}]
    stored = store.record_and_announce(state("completed", "Approved", entityApplications=entities))

    # Then the change is stored, nothing is announced twice, and it stays out of the queue
    assert (stored["announced"], store.get(APPLICATION)["entityApplications"]) == (False, entities)
    assert len(announcements()) == 1
    assert due_ids(store) == []


def test_an_application_is_due_until_its_final_status_is_announced(store):
    store.record_and_announce(state("waiting_review"))
    assert due_ids(store) == [APPLICATION]

    store.record_and_announce(state("completed", "Approved"))

    assert due_ids(store) == []


# --- announcing once --------------------------------------------------------------------------------------------------


class Crash(BaseException):
    """The invocation dies between claiming an announcement and sending it (a timeout): no handler runs."""


@pytest.fixture
def dying_event_bus(monkeypatch):
    """EventBridge's client, dying on the next put_events (once)."""
    from kyc_gateway import aws

    real_client, events, left = aws.client, aws.client("events"), {"deaths": 1}

    class Dying:
        def put_events(self, **arguments):
            if left["deaths"]:
                left["deaths"] -= 1
                raise Crash
            return events.put_events(**arguments)

    monkeypatch.setattr(aws, "client", lambda service: Dying() if service == "events" else real_client(service))


def test_an_announcement_claimed_by_an_invocation_that_died_is_free_again_after_its_60_s_lease(
    store, announcements, clock, dying_event_bus
):
    # Given an invocation that died after claiming the announcement of a new state
    with pytest.raises(Crash):
        store.record_and_announce(state())

    # When the same state is seen again within the lease, then just after it
    clock.advance(59.5)
    within = store.record_and_announce(state())
    clock.advance(1)
    after = store.record_and_announce(state())

    # Then it is left to its claimer within the lease, and announced once the lease is over
    assert (within["announced"], after["announced"]) == (False, True)
    assert [d["status"] for d in details(announcements)] == ["waiting_review"]
    assert store.get(APPLICATION)["publishedStatus"] == "waiting_review"


def test_a_status_another_path_announced_meanwhile_is_not_announced_again(store, announcements, monkeypatch):
    from kyc_gateway import aws

    # Given the table, and another path (a webhook) storing and announcing the same state just as this one (the
    # reconciliation) has stored it and is about to claim its announcement
    real_client, dynamodb, others = aws.client, aws.client("dynamodb"), []

    class AnotherPathFirst:
        def __getattr__(self, name):
            return getattr(dynamodb, name)

        def update_item(self, **arguments):
            if arguments["UpdateExpression"].startswith("SET announcing") and not others:
                others.append("running")
                others[0] = store.record_and_announce(state())
            return dynamodb.update_item(**arguments)

    tables = {"dynamodb": AnotherPathFirst()}
    monkeypatch.setattr(aws, "client", lambda service: tables.get(service) or real_client(service))

    # When this path goes on to announce it
    this = store.record_and_announce(state())

    # Then it was announced once, by the other path
    assert ([other["announced"] for other in others], this["announced"]) == ([True], False)
    assert [d["status"] for d in details(announcements)] == ["waiting_review"]


def test_an_announcement_eventbridge_refuses_is_released_for_an_immediate_retry(store, announcements, monkeypatch):
    from tests.integration.routes.test_connectfi_reconciliation import failing_announcements

    failing_announcements(monkeypatch, 1)
    with pytest.raises(store.AnnouncementFailed) as failed:
        store.record_and_announce(state())

    # (what the invocation's error says, for the runbook)
    assert (str(failed.value), str(failed.value.__cause__)) == ("RuntimeError", "EventBridge refused the event")
    assert store.record_and_announce(state())["announced"] is True
    assert [d["status"] for d in details(announcements)] == ["waiting_review"]
