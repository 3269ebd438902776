"""The ApplicationStatusChanged contract (schemas/ApplicationStatusChanged.json) against what the gateway really
puts on EventBridge, from each path that announces: an identification, an update and a webhook."""

from __future__ import annotations

import json

from jsonschema import Draft202012Validator

from project import template as cfn
from tests.integration.routes.test_connectfi import (
    APPLICATION,
    CUSTOMER,
    IDENTIFICATION,
    IDENTIFY,
    LOGIN,
    STATUS,
    application,
    login_reply,
)
from tests.integration.routes.test_connectfi_stepup import UPDATE, UPDATE_FN, UPDATE_REQUEST
from tests.support.webhooks import deliver, process_queue, webhook

SCHEMA = json.loads((cfn.ROOT / "schemas" / "ApplicationStatusChanged.json").read_text())


def test_the_schema_is_valid_json_schema():
    Draft202012Validator.check_schema(SCHEMA)


def test_the_docs_example_event_passes_the_schema_and_has_every_field_a_real_one_has():
    # Given the example of docs/events.md, which readers copy as a test fixture
    page = (cfn.ROOT / "docs" / "events.md").read_text(encoding="utf-8")
    example = json.loads(page.split("```json\n", 1)[1].split("```", 1)[0])

    # Then it is valid against the contract the page tells consumers to validate with, and is complete
    assert not list(Draft202012Validator(SCHEMA).iter_errors(example))
    assert set(example["detail"]) == set(SCHEMA["$defs"]["detail"]["properties"])


def test_every_announcement_matches_the_published_contract(gateway, queues, announcements):
    sqs, url, _ = queues
    gateway.provider.reply(LOGIN, login_reply())
    # Given an application started (pending_step_up), updated (waiting_review), then completed by a webhook
    gateway.provider.reply(IDENTIFY, application("pending_step_up"))
    assert gateway.call("ConnectFiIdentificationFunction", IDENTIFICATION).status == 200
    gateway.provider.reply(UPDATE, application("waiting_review"))
    assert gateway.call(UPDATE_FN, UPDATE_REQUEST).status == 200
    gateway.provider.reply(STATUS, application("completed", "Approved"))
    deliver(gateway, webhook("completed", "Approved"))
    process_queue(gateway, sqs, url)

    # Then each announcement is valid against the contract, and carries exactly the documented fields
    events = announcements()
    assert [event["detail"]["status"] for event in events] == ["pending_step_up", "waiting_review", "completed"]
    validator = Draft202012Validator(SCHEMA)
    documented = set(SCHEMA["$defs"]["detail"]["properties"])
    for event in events:
        assert not list(validator.iter_errors(event)), event
        assert set(event["detail"]) == documented
    assert [event["detail"]["previousStatus"] for event in events] == [None, "pending_step_up", "waiting_review"]
    assert {(event["detail"]["applicationId"], event["detail"]["customerId"]) for event in events} == {
        (APPLICATION, CUSTOMER)
    }


def test_the_contract_refuses_what_a_consumer_could_not_handle():
    validator = Draft202012Validator(SCHEMA)
    event = {
        "source": "kyc-gateway.connectfi",
        "detail-type": "ApplicationStatusChanged",
        "detail": {
            "applicationId": APPLICATION,
            "customerId": CUSTOMER,
            "reference": "r1",
            "previousStatus": None,
            "status": "completed",
            "outcome": "Approved",
            "observedAt": "2026-11-22T10:00:00.000Z",
        },
    }
    assert not list(validator.iter_errors(event))
    for broken in ({"status": None}, {"applicationId": "iapp with spaces"}, {"outcome": 1}, {"observedAt": "today"}):
        assert list(validator.iter_errors({**event, "detail": {**event["detail"], **broken}})), broken
    missing = {key: value for key, value in event["detail"].items() if key != "previousStatus"}
    assert list(validator.iter_errors({**event, "detail": missing}))
