"""connectFi's update through the real handler: the caller's body forwarded as sent, connectFi's answer passed on
and its state stored and announced, its refusals mapped. (Documents and the journey: test_connectfi_stepup.py.)"""

from __future__ import annotations

import json

import pytest

from local.api_events import proxy_event
from local.functions import invoke
from project import template as cfn
from tests.integration.routes.test_connectfi import (
    APPLICATION,
    CUSTOMER,
    LOGIN,
    STATUS,
    application,
    connectfi_error,
    login_reply,
)
from tests.integration.routes.test_connectfi_stepup import DOCUMENT, UPDATE, UPDATE_FN, UPDATE_REQUEST
from tests.support.emf import log_lines
from tests.support.fake_provider import Reply


def test_an_update_is_forwarded_as_sent_and_its_answer_stored_and_announced(gateway, announcements):
    # Given connectFi completing the application on the update
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(UPDATE, application("completed", "Approved"))

    # When the caller attaches its documents
    answer = gateway.call(UPDATE_FN, UPDATE_REQUEST)

    # Then connectFi got the body as sent, the caller its answer, and the new state is stored and announced
    assert answer.status == 200
    assert answer.json() == application("completed", "Approved")
    (sent,) = gateway.provider.requests(UPDATE)
    assert sent.json() == UPDATE_REQUEST
    stored = invoke(cfn.functions()["ConnectFiApplicationFunction"], stored_application_event())
    assert json.loads(stored["body"])["status"] == "completed"
    (event,) = announcements()
    assert (event["detail-type"], event["detail"]["status"]) == ("ApplicationStatusChanged", "completed")


def stored_application_event() -> dict:
    return proxy_event(
        "GET",
        f"/connectfi/applications/{APPLICATION}",
        resource="/connectfi/applications/{applicationId}",
        path_parameters={"applicationId": APPLICATION},
    )


@pytest.mark.parametrize(
    "answered",
    [{"code": "0"}, {"code": "0", "data": None}, {"code": "0", "data": "ok"}, {"code": "0", "data": {}}],
    ids=["no-data", "null-data", "text-data", "empty-data"],
)
def test_an_update_answered_success_without_an_application_is_passed_on_and_its_status_asked_for(
    gateway, announcements, answered
):
    # Given connectFi answering an update with its success code and no application state (it publishes no field of
    # the update's answer), and its status of the application, now completed
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(UPDATE, answered)
    gateway.provider.reply(STATUS, application("completed", "Approved"))
    key = [("Idempotency-Key", f"update-{len(json.dumps(answered))}")]

    # When the caller attaches its documents, and sends it again under the same key
    answer = gateway.call(UPDATE_FN, UPDATE_REQUEST, headers=key)
    again = gateway.call(UPDATE_FN, UPDATE_REQUEST, headers=key)

    # Then the update is done: connectFi's answer unchanged, replayed, sent once; the state stored is connectFi's status
    assert (answer.status, answer.json()) == (200, answered)
    assert (again.status, again.json()) == (200, answered)
    assert len(gateway.provider.requests(UPDATE)) == 1
    (asked,) = gateway.provider.requests(STATUS)
    assert asked.json() == {"customerId": CUSTOMER, "applicationId": APPLICATION}
    stored = invoke(cfn.functions()["ConnectFiApplicationFunction"], stored_application_event())
    assert json.loads(stored["body"])["status"] == "completed"
    assert [event["detail"]["status"] for event in announcements()] == ["completed"]


@pytest.mark.parametrize("unnamed", ["customerId", "applicationId"])
def test_an_update_naming_no_application_answered_without_its_state_asks_connectfi_nothing_more(
    gateway, announcements, logs, unnamed
):
    # Given an update that does not name its application in full (connectFi's to rule on which fields it needs),
    # answered with connectFi's success code and no application state
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(UPDATE, {"code": "0"})
    body = {name: value for name, value in UPDATE_REQUEST.items() if name != unnamed}

    # When the caller sends it
    answer = gateway.call(UPDATE_FN, body)

    # Then connectFi's answer is passed on, and no status is asked for an application the update did not name: the
    # answer is not recorded, said as a warning, and nothing is counted as an application that failed to be stored
    assert (answer.status, answer.json()) == (200, {"code": "0"})
    assert gateway.provider.requests(STATUS) == []
    assert announcements() == []
    written = logs()
    (line,) = log_lines(written, "answer not recorded: it holds no application state")
    assert (line["level"], line["provider"]) == ("WARNING", "connectfi")
    assert "ApplicationsNotRecorded" not in written


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (400, "statusApplicationEntity", (422, "invalid_application_state")),
        (400, "documentNotFound", (422, "document_not_found")),
        (400, "fileNotFound", (422, "file_not_found")),  # a document the caller names has no file yet
        (400, "extAkepa", (502, "provider_error")),
        (404, "applicationNotFound", (404, "application_not_found")),
        (400, "customerNotFound", (404, "customer_not_found")),
        (400, "somethingNew", (502, "provider_error")),
    ],
)
def test_update_errors_follow_connectfis_table(gateway, status, code, expected):
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(UPDATE, connectfi_error(status, code))

    answer = gateway.call(UPDATE_FN, UPDATE_REQUEST)

    assert (answer.status, answer.error["code"]) == expected
    assert answer.error["providerCode"] == code


def test_an_update_is_a_write_and_is_never_retried(gateway):
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(UPDATE, Reply(503, b'{"code": "unavailable"}'))

    answer = gateway.call(UPDATE_FN, UPDATE_REQUEST)

    assert answer.status == 502
    assert len(gateway.provider.requests(UPDATE)) == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**UPDATE_REQUEST, "applicationId": "iapp-with-dash"}, "applicationId"),
        ({**UPDATE_REQUEST, "documents": {"documentId": DOCUMENT}}, "documents"),
        ({**UPDATE_REQUEST, "documents": [{"documentId": True}]}, "documents[0]"),
        ({**UPDATE_REQUEST, "documents": [None]}, "documents[0]"),
        ({**UPDATE_REQUEST, "customerId": None}, "customerId"),
    ],
)
def test_updates_with_malformed_identifiers_or_documents_get_400(gateway, body, field):
    answer = gateway.call(UPDATE_FN, body)

    assert (answer.status, answer.error["code"]) == (400, "validation_error")
    assert field in {detail["field"] for detail in answer.error["details"]}
    assert gateway.provider.requests() == []


@pytest.mark.parametrize(
    "entry", [None, True, 1.5, ".", {"documentId": ""}, {"documentId": None}, {"documentId": [DOCUMENT]}], ids=repr
)
def test_a_document_entry_that_names_no_usable_document_is_refused_saying_what_an_entry_may_be(gateway, entry):
    # Given an update whose document entry is neither an object nor a document's id, or an object whose documentId
    # cannot be one
    body = {**UPDATE_REQUEST, "documents": [{"documentId": DOCUMENT, "side": "front"}, entry]}

    # When the caller sends it
    answer = gateway.call(UPDATE_FN, body)

    # Then it is refused before connectFi is called, the caller told which entry and what an entry may be
    assert (answer.status, answer.error["code"]) == (400, "validation_error")
    (detail,) = answer.error["details"]
    assert (detail["field"], detail["issue"]) == (
        "documents[1]",
        "Value error, must be a document (an object whose documentId, when given, is a number or text other than empty,"
        " . and ..) or such an id alone",
    )
    assert gateway.provider.requests() == []


def test_an_update_naming_documents_and_sides_of_any_form_is_connectfis_to_rule_on(gateway):
    # Given documents whose ids connectFi answered in forms it publishes nothing about (text, a number), sides of no
    # published type, and an entry that is an id alone (connectFi publishes no shape of its entries)
    documents = [
        {"documentId": "3f2b8c1e-9d4a-4f6e", "side": 1},
        {"documentId": "123456", "side": None},
        {"documentId": 1000, "side": "front"},
        "doc_plain",
    ]
    body = {**UPDATE_REQUEST, "documents": documents}
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(UPDATE, application("pending_step_up"))

    answer = gateway.call(UPDATE_FN, body)

    assert answer.status == 200 and json.loads(gateway.provider.requests(UPDATE)[0].body) == body


def test_an_update_reaches_connectfi_as_the_callers_bytes(gateway):
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(UPDATE, connectfi_error(400, "requestValidateError", context=[]))
    raw = json.dumps(UPDATE_REQUEST)[:-1] + ', "weight": 1.50, "score": 2E3}'

    gateway.call(UPDATE_FN, raw=raw)

    assert gateway.provider.requests(UPDATE)[0].body == raw.encode()


def test_fields_connectfi_rules_on_are_forwarded_for_it_to_judge(gateway):
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(UPDATE, connectfi_error(400, "requestValidateError", context=[]))
    body = {**UPDATE_REQUEST, "documents": [{"documentId": DOCUMENT, "side": "left", "extra": 1}]}

    answer = gateway.call(UPDATE_FN, body)

    assert (answer.status, answer.error["code"]) == (422, "provider_validation_failed")
    assert gateway.provider.requests(UPDATE)[0].json() == body


def test_an_update_answered_about_another_application_is_passed_on_but_not_stored(gateway, announcements, logs):
    gateway.provider.reply(LOGIN, login_reply())
    other = application("completed", "Approved")
    other["data"]["applicationId"] = "iapp_someoneElse01"
    gateway.provider.reply(UPDATE, other)

    answer = gateway.call(UPDATE_FN, UPDATE_REQUEST)

    assert answer.status == 200 and answer.json() == other
    assert announcements() == []
    # and an operator is told why it was not recorded
    (line,) = log_lines(logs(), "update answer not recorded: it is about another application")
    assert (line["level"], line["provider"]) == ("WARNING", "connectfi")
