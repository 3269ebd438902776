"""CDP's Customer Lookup v2: a read, passed through as CDP answers it, retried after a server error; the request
table CDP documents enforced before calling, and nothing beyond it sent."""

from __future__ import annotations

import json

import pytest

from tests.integration.routes.test_cdp import LOOKUP, LOOKUP_BODY, LOOKUP_FN, LOOKUP_SUCCESS, TOKEN, token_reply
from tests.support.fake_provider import Reply


def test_lookup_success_is_passed_through_unchanged(gateway):
    raw = json.dumps({**LOOKUP_SUCCESS, "undocumented": [1, 2]})
    gateway.provider.reply(TOKEN, token_reply(1))
    gateway.provider.reply(LOOKUP, Reply(200, raw.encode()))

    answer = gateway.call(LOOKUP_FN, LOOKUP_BODY)

    assert (answer.status, answer.text) == (200, raw)
    assert gateway.provider.requests(LOOKUP)[0].json() == LOOKUP_BODY


def test_lookup_is_a_read_and_is_retried_after_a_server_error(gateway):
    gateway.provider.reply(TOKEN, token_reply(1))
    gateway.provider.reply(LOOKUP, Reply(503, b"{}"), LOOKUP_SUCCESS)

    assert gateway.call(LOOKUP_FN, LOOKUP_BODY).status == 200
    assert len(gateway.provider.requests(LOOKUP)) == 2


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({}, id="empty"),
        pytest.param({"idNumber": "784199554586091"}, id="no idType"),
        pytest.param({"idType": "4"}, id="no idNumber"),
        pytest.param({"idNumber": "7" * 31, "idType": "4"}, id="idNumber over 30"),
        pytest.param({"idNumber": "784199554586091", "idType": "4444"}, id="idType over 3"),
        pytest.param({"idNumber": 784199554586091, "idType": "4"}, id="idNumber a number"),
        pytest.param({"idNumber": "784199554586091", "idType": 4}, id="idType a number"),
        pytest.param({"idNumber": None, "idType": "4"}, id="idNumber null"),
    ],
)
def test_lookups_outside_cdps_request_table_get_400_and_no_provider_call(gateway, body):
    answer = gateway.call(LOOKUP_FN, body)

    assert (answer.status, answer.error["code"]) == (400, "validation_error")
    assert gateway.provider.requests() == []


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"idNumber": "784-1995-5458609-1", "idType": "4"}, id="dashes"),
        pytest.param({"idNumber": "ABC 123", "idType": "4"}, id="a space"),
        pytest.param({"idNumber": "P4006315", "idType": "A1"}, id="idType not digits"),
        pytest.param({"idNumber": "7" * 30, "idType": "999"}, id="the longest"),
        pytest.param({"idNumber": "", "idType": ""}, id="empty strings"),
    ],
)
def test_any_lookup_within_cdps_request_table_is_forwarded_for_cdp_to_rule_on(gateway, body):
    # The table publishes types and lengths only: which characters an id number holds is CDP's to rule on
    gateway.provider.reply(TOKEN, token_reply(1))
    gateway.provider.reply(LOOKUP, LOOKUP_SUCCESS)

    answer = gateway.call(LOOKUP_FN, body)

    assert answer.status == 200, answer.text
    assert gateway.provider.requests(LOOKUP)[0].json() == body


def test_a_field_beyond_the_lookup_table_is_not_refused_and_not_sent(gateway):
    # Given a lookup with a field CDP's table does not have (CDP's Spring Boot reader would ignore it)
    gateway.provider.reply(TOKEN, token_reply(1))
    gateway.provider.reply(LOOKUP, LOOKUP_SUCCESS)

    # When it is looked up
    answer = gateway.call(LOOKUP_FN, {**LOOKUP_BODY, "channel": "mobile"})

    # Then CDP rules on the table's fields, and only those reach it
    assert answer.status == 200, answer.text
    assert gateway.provider.requests(LOOKUP)[0].json() == LOOKUP_BODY


def test_the_lookup_request_takes_strings_as_they_are_and_converts_nothing_into_one():
    from pydantic import ValidationError

    from kyc_gateway.providers.cdp import CustomerLookupRequest

    # A JSON number is refused by the route (above); from Python, bytes are not taken for a string either
    for value in (b"784199554586091", bytearray(b"784199554586091")):
        with pytest.raises(ValidationError):
            CustomerLookupRequest.model_validate({"idNumber": value, "idType": "4"})
        with pytest.raises(ValidationError):
            CustomerLookupRequest.model_validate({"idNumber": "784199554586091", "idType": value[:1]})


@pytest.mark.parametrize(
    ("body_status", "expected"),
    [(500, (502, "provider_error")), (503, (502, "provider_error")), (499, (422, "invalid_customer_id"))],
    ids=["500", "503", "499"],
)
def test_a_lookups_40001_with_a_5xx_in_its_body_is_cdp_failing_and_with_any_other_the_callers_id(
    gateway, body_status, expected
):
    # Given CDP answering a lookup its way (HTTP 200) with 40001, whose body carries a status from 500 up (the
    # onboarding's "Backend Technical Problem"), or one below (the lookup's "Invalid format input" carries a 400)
    failure = {"status": "failure", "statusCode": body_status, "errorCode": 40001, "message": "Invalid format input"}
    gateway.provider.reply(TOKEN, token_reply(1))
    gateway.provider.reply(LOOKUP, Reply(200, json.dumps(failure).encode()))

    # When the customer is looked up
    answer = gateway.call(LOOKUP_FN, LOOKUP_BODY)

    # Then any 5xx, 500 itself included, is CDP failing (502); anything below is the caller's id refused (422)
    assert (answer.status, answer.error["code"], answer.error["providerCode"]) == (*expected, "40001")
