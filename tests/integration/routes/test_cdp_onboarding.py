"""POST /cdp/customers: CDP Individual Onboarding through the real handler, against a CDP double on 127.0.0.1."""

from __future__ import annotations

import copy
import json

import pytest

from tests.conftest import SECRETS
from tests.integration.routes.test_cdp import (
    LOOKUP,
    LOOKUP_BODY,
    LOOKUP_FN,
    LOOKUP_SUCCESS,
    ONBOARD,
    ONBOARD_FN,
    ONBOARD_SUCCESS,
    ONBOARDING_BODY,
    TOKEN,
    UNAUTHORIZED,
    token_reply,
)
from tests.support.fake_provider import Reply

# --- individual onboarding ---------------------------------------------------------------------------------------


def test_the_documented_onboarding_payload_is_forwarded_intact_and_the_answer_passed_through(gateway):
    gateway.provider.reply(TOKEN, token_reply(1))
    gateway.provider.reply(ONBOARD, ONBOARD_SUCCESS)

    answer = gateway.call(ONBOARD_FN, ONBOARDING_BODY)

    assert (answer.status, answer.json()) == (200, ONBOARD_SUCCESS)
    sent = gateway.provider.requests(ONBOARD)[0]
    assert sent.json() == ONBOARDING_BODY
    assert list(sent.json()) == list(ONBOARDING_BODY)  # even the field order
    assert sent.headers["Authorization"] == "Bearer access-1"


def test_missing_mandatory_fields_reported_by_cdp_come_back_as_details(gateway):
    gateway.provider.reply(TOKEN, token_reply(1))
    gateway.provider.reply(
        ONBOARD,
        Reply(
            400,
            json.dumps(
                {
                    "status": "failure",
                    "status_code": 400,
                    "error_code": 40002,
                    "message": "Invalid format or missing mandatory request",
                    "details": {"firstName": "Invalid first name"},
                    "request_id": "729d5085e553f3830277d0cb5372f2b2",
                }
            ).encode(),
        ),
    )

    answer = gateway.call(ONBOARD_FN, ONBOARDING_BODY)

    assert (answer.status, answer.error["code"]) == (422, "missing_mandatory_fields")
    assert answer.error["details"] == [{"field": "firstName", "issue": "Invalid first name"}]


def test_onboarding_is_never_retried_blindly(gateway):
    gateway.provider.reply(TOKEN, token_reply(1))
    gateway.provider.reply(ONBOARD, Reply(503, b'{"status": "failed"}'))

    answer = gateway.call(ONBOARD_FN, ONBOARDING_BODY)

    assert answer.status == 502
    assert len(gateway.provider.requests(ONBOARD)) == 1


def without(path: str) -> dict:
    body = copy.deepcopy(ONBOARDING_BODY)
    *parents, last = path.split(".")
    target = body
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    del target[last]
    return body


def changed(path: str, value) -> dict:
    body = copy.deepcopy(ONBOARDING_BODY)
    *parents, last = path.split(".")
    target = body
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    target[int(last) if last.isdigit() else last] = value
    return body


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (without("first_name"), "first_name"),
        (without("id_details"), "id_details"),
        (without("id_details.0.id_number"), "id_details[0].id_number"),
        (changed("id_details", []), "id_details"),
        (without("id_details.0.id_type"), "id_details[0].id_type"),
        (without("id_details.0.id_front.content_type"), "id_details[0].id_front.content_type"),
        (changed("id_details.0.id_front.content_type", "jpeg"), "id_details[0].id_front.content_type"),
        (changed("id_details.0.id_number", "7" * 31), "id_details[0].id_number"),
        (changed("nationality", "in"), "nationality"),
        (changed("primary_mobile_number", "+97150210670700000000"), "primary_mobile_number"),
        (changed("email_id", "e" * 250 + "@x.com"), "email_id"),
        (changed("middle_name", "Z" * 61), "middle_name"),
        (changed("id_details.0.id_front.base64_data", "not base64!"), "id_details[0].id_front.base64_data"),
        (changed("id_details.0.id_front.base64_data", "<<base64Data>>"), "id_details[0].id_front.base64_data"),
        (changed("nationality", "INN"), "nationality"),
        (changed("country_of_residence", "ae"), "country_of_residence"),
        (changed("date_of_birth", "1995-02-30"), "date_of_birth"),
        (changed("first_name", "X" * 101), "first_name"),
        (changed("last_name", "Y" * 61), "last_name"),
        (changed("resident_type_id", "101"), "resident_type_id"),
        (changed("political_exposed_person", "false"), "political_exposed_person"),
        (
            changed("customer_classification.annual_income_currency_code", "dirham"),
            "customer_classification.annual_income_currency_code",
        ),
        (changed("address_list.0.country", "UAE"), "address_list[0].country"),
        (changed("surprise", 1), "surprise"),
    ],
)
def test_invalid_onboarding_requests_get_400_before_any_call(gateway, body, field):
    answer = gateway.call(ONBOARD_FN, body)

    assert (answer.status, answer.error["code"]) == (400, "validation_error"), answer.text
    assert field in [detail["field"] for detail in answer.error["details"]]
    assert gateway.provider.requests() == []


@pytest.mark.parametrize(
    "body",
    [
        without("last_name"),
        without("date_of_birth"),
        without("nationality"),
        without("channel"),
        without("gender"),
        without("primary_mobile_number"),
        without("country_of_residence"),
        without("id_details.0.issued_country"),
        without("id_details.0.date_of_expiry"),
        without("address_list.0.address_type_id"),
        changed("nationality", "XK"),  # Kosovo: on real passports, not in ISO 3166-1
        changed("nationality", "XX"),  # CDP's master data decides (45053), not the gateway
        changed("id_details.0.issued_country", "XK"),
        changed("gender", "M"),
        changed("salutation", "Dr."),
        changed("primary_mobile_number", "0502106707"),
        changed("email_id", "BASHIRMASIH AT GMAIL"),
        changed("date_of_birth", "2999-01-01"),
        changed("id_details.0.issued_on", "2030-01-01"),
        changed("id_details.0.id_front.content_type", "image/heic"),
        changed("additional_docs.1.base64_data", ""),
        changed("customer_classification.first_language", "eng"),
        changed("customer_classification.customer_type_id", 1234567890123),
        changed("place_of_birth", "X" * 300),
    ],
)
def test_what_cdp_owns_is_forwarded_for_cdp_to_rule_on(gateway, body):
    gateway.provider.reply(TOKEN, token_reply(1))
    gateway.provider.reply(ONBOARD, ONBOARD_SUCCESS)

    answer = gateway.call(ONBOARD_FN, body)

    assert answer.status == 200, answer.text
    assert gateway.provider.requests(ONBOARD)[0].json() == body


def test_a_body_too_large_for_lambda_is_413_before_any_call(gateway):
    body = changed("id_details.0.id_front.base64_data", "A" * (6 * 1024 * 1024))

    answer = gateway.call(ONBOARD_FN, body)

    assert (answer.status, answer.error["code"]) == (413, "request_too_large")
    assert gateway.provider.requests() == []


def test_logs_hold_no_token_id_number_name_phone_email_or_image(gateway, logs):
    gateway.provider.reply(TOKEN, token_reply(1), token_reply(2))
    gateway.provider.reply(LOOKUP, UNAUTHORIZED, LOOKUP_SUCCESS)
    gateway.provider.reply(
        ONBOARD,
        Reply(
            406,
            json.dumps(
                {
                    "status": "failed",
                    "status_code": 406,
                    "error_code": 45013,
                    "message": "Customer 7841003236577331 Under Compliance Investigation",
                }
            ).encode(),
        ),
    )

    gateway.call(LOOKUP_FN, LOOKUP_BODY)
    gateway.call(ONBOARD_FN, ONBOARDING_BODY)
    gateway.call(ONBOARD_FN, changed("email_id", "bad@"))

    written = logs()
    assert "request completed" in written
    private = [
        "access-1",
        "access-2",
        "refresh-1",
        "784199554586091",
        "P4006315",
        "IRFAN",
        "NANGARATH",
        "+971502106707",
        "irfanmtp1@gmail.com",
        "7841003236577331",
        "ZAFARBASHIR",
        "BASHIRMASIH@GMAIL.COM",
        ONBOARDING_BODY["id_details"][0]["id_front"]["base64_data"][:40],
        "bad@",
        SECRETS["cdp"]["password"],
        SECRETS["cdp"]["clientSecret"],
    ]
    for value in private:
        assert value not in written, value
