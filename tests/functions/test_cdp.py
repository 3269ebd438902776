"""CDP partner onboarding: shared Keycloak token, Customer Lookup v2, Individual Onboarding."""

from __future__ import annotations

import copy
import json
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from tests.conftest import SECRETS
from tests.support.fake_provider import Reply

LOOKUP_FN = "CdpCustomerLookupFunction"
ONBOARD_FN = "CdpOnboardingFunction"
TOKEN = "/cdp/auth/realms/cdp/protocol/openid-connect/token"
LOOKUP = "/cdp/caas/api/v2/customer/validate"
ONBOARD = "/cdp/caas-lcm/api/v1/CAAS/onBoarding/customer"
ONBOARDING_BODY = json.loads((Path(__file__).parents[1] / "support" / "cdp_onboarding_request.json").read_text())
LOOKUP_BODY = {"idNumber": "784199554586091", "idType": "4"}

LOOKUP_SUCCESS = {
    "status": "success",
    "statusCode": 200,
    "data": {
        "ecrn": "7841003233051516",
        "first_name": "ZAFARBASHIR",
        "middle_name": "",
        "last_name": "BASHIRMASIH",
        "agent_location_id": "784101",
        "primary_mobile_number": "+971554747002",
        "email_id": "BASHIRMASIH@GMAIL.COM",
        "customer_status": "ACTIVE",
        "aml_scan_status": "Accepted",
        "id_status": "Active",
        "id_date_of_expiry": "2030-12-10T00:00:00.000+00:00",
    },
}
ONBOARD_SUCCESS = {
    "status": "success",
    "data": {
        "aml_scan_status": "Accepted",
        "ecrn": "7841003247752409",
        "customer_status": "ACTIVE",
        "pep": False,
        "aml_category": 2,
    },
    "status_code": 200,
    "request_id": "4138e3038999d41b7534ce12a18a6031",
}
UNAUTHORIZED = Reply(
    401,
    json.dumps(
        {
            "timestamp": "2023-12-22T06:04:30.477+00:00",
            "status": 401,
            "error": "Unauthorized",
            "path": "/api/v2/customer/validate",
        }
    ).encode(),
)


def token_reply(number: int, expires_in: int = 7199, refresh_expires_in: int = 7199) -> dict:
    return {
        "token_type": "bearer",
        "access_token": f"access-{number}",
        "expires_in": expires_in,
        "refresh_expires_in": refresh_expires_in,
        "refresh_token": f"refresh-{number}",
        "scope": "customer",
        "not-before-policy": 0,
        "session_state": "s",
    }


def token_forms(gateway) -> list[dict[str, list[str]]]:
    return [parse_qs(request.body.decode()) for request in gateway.provider.requests(TOKEN)]


# --- token -------------------------------------------------------------------------------------------------------


def test_password_grant_is_form_encoded_with_exactly_one_grant_type(gateway):
    gateway.provider.reply(TOKEN, token_reply(1))
    gateway.provider.reply(LOOKUP, LOOKUP_SUCCESS)

    gateway.call(LOOKUP_FN, LOOKUP_BODY)

    (request,) = gateway.provider.requests(TOKEN)
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    secret = SECRETS["cdp"]
    assert parse_qs(request.body.decode()) == {
        "grant_type": ["password"],
        "scope": [secret["scope"]],
        "username": [secret["username"]],
        "password": [secret["password"]],
        "client_id": [secret["clientId"]],
        "client_secret": [secret["clientSecret"]],
    }
    assert gateway.provider.requests(LOOKUP)[0].headers["Authorization"] == "Bearer access-1"


def test_one_token_serves_many_lookups_across_instances(gateway):
    gateway.provider.reply(TOKEN, token_reply(1))
    gateway.provider.reply(LOOKUP, LOOKUP_SUCCESS)
    gateway.provider.reply(ONBOARD, ONBOARD_SUCCESS)

    for _ in range(3):
        assert gateway.call(LOOKUP_FN, LOOKUP_BODY).status == 200
    gateway.new_instance()
    assert gateway.call(ONBOARD_FN, ONBOARDING_BODY).status == 200  # another function, the same shared token

    assert len(gateway.provider.requests(TOKEN)) == 1


def test_a_token_near_expiry_is_refreshed_and_each_new_refresh_token_replaces_the_old(gateway):
    # 2 s access tokens are renewed 0.4 s early; refresh tokens live 60 s
    gateway.provider.reply(TOKEN, token_reply(1, 2, 60), token_reply(2, 2, 60), token_reply(3, 2, 60))
    gateway.provider.reply(LOOKUP, LOOKUP_SUCCESS)

    gateway.call(LOOKUP_FN, LOOKUP_BODY)
    time.sleep(1.7)
    gateway.call(LOOKUP_FN, LOOKUP_BODY)
    gateway.new_instance()  # the rotated refresh token is shared through DynamoDB
    time.sleep(1.7)
    gateway.call(LOOKUP_FN, LOOKUP_BODY)

    forms = token_forms(gateway)
    assert [form["grant_type"] for form in forms] == [["password"], ["refresh_token"], ["refresh_token"]]
    assert forms[1]["refresh_token"] == ["refresh-1"] and forms[2]["refresh_token"] == ["refresh-2"]
    assert "password" not in forms[1]
    assert gateway.provider.requests(LOOKUP)[-1].headers["Authorization"] == "Bearer access-3"


def test_an_expired_refresh_token_means_a_password_grant(gateway):
    gateway.provider.reply(TOKEN, token_reply(1, 2, 2), token_reply(2))
    gateway.provider.reply(LOOKUP, LOOKUP_SUCCESS)

    gateway.call(LOOKUP_FN, LOOKUP_BODY)
    time.sleep(1.7)
    gateway.call(LOOKUP_FN, LOOKUP_BODY)

    assert [form["grant_type"] for form in token_forms(gateway)] == [["password"], ["password"]]


def test_a_refused_refresh_token_falls_back_to_a_password_grant(gateway):
    invalid_grant = Reply(400, b'{"error": "invalid_grant", "error_description": "Token is not active"}')
    gateway.provider.reply(TOKEN, token_reply(1, 2, 60), invalid_grant, token_reply(2))
    gateway.provider.reply(LOOKUP, LOOKUP_SUCCESS)

    gateway.call(LOOKUP_FN, LOOKUP_BODY)
    time.sleep(1.7)
    answer = gateway.call(LOOKUP_FN, LOOKUP_BODY)

    assert answer.status == 200
    assert [form["grant_type"] for form in token_forms(gateway)] == [["password"], ["refresh_token"], ["password"]]
    assert gateway.provider.requests(LOOKUP)[-1].headers["Authorization"] == "Bearer access-2"


def test_a_token_the_provider_forgot_is_replaced_transparently(gateway):
    gateway.provider.reply(TOKEN, token_reply(1), token_reply(2))
    gateway.provider.reply(LOOKUP, LOOKUP_SUCCESS)
    gateway.call(LOOKUP_FN, LOOKUP_BODY)
    gateway.provider.reply(LOOKUP, UNAUTHORIZED, LOOKUP_SUCCESS)

    answer = gateway.call(LOOKUP_FN, LOOKUP_BODY)

    assert answer.status == 200
    assert [r.headers["Authorization"] for r in gateway.provider.requests(LOOKUP)[1:]] == [
        "Bearer access-1",
        "Bearer access-2",
    ]


def test_a_provider_that_keeps_refusing_our_token_is_502_after_one_re_token_and_one_retry(gateway):
    gateway.provider.reply(TOKEN, token_reply(1), token_reply(2))
    gateway.provider.reply(LOOKUP, UNAUTHORIZED)

    answer = gateway.call(LOOKUP_FN, LOOKUP_BODY)

    assert (answer.status, answer.error["code"]) == (502, "provider_auth_failed")
    assert len(gateway.provider.requests(LOOKUP)) == 2
    assert len(gateway.provider.requests(TOKEN)) == 2


def test_refused_credentials_are_refetched_once_then_502(gateway):
    gateway.provider.reply(
        TOKEN, Reply(401, b'{"error": "invalid_grant", "error_description": "Invalid user credentials"}')
    )

    answer = gateway.call(LOOKUP_FN, LOOKUP_BODY)

    assert (answer.status, answer.error["code"]) == (502, "provider_auth_failed")
    assert answer.error["providerCode"] == "invalid_grant"
    assert len(gateway.provider.requests(TOKEN)) == 2
    assert gateway.provider.requests(LOOKUP) == []


def stored_renewal_time(gateway) -> float:
    """When the token stored in the shared table is due for renewal (epoch seconds)."""
    import boto3

    items = boto3.client("dynamodb").scan(TableName=gateway.physical_ids["TokenTable"])["Items"]
    (item,) = [item for item in items if item["pk"]["S"].startswith("cdp#")]
    return float(item["renewAt"]["N"])


def test_twenty_concurrent_cold_callers_make_one_token_request_per_expiry_window(gateway):
    from kyc_gateway.providers.cdp import CdpClient, CustomerLookupRequest

    # Given a slow token endpoint issuing 6 s tokens (renewed 1.2 s early), and 20 cold instances (own memory,
    # one shared table)
    slow = [Reply(200, json.dumps(token_reply(n, 6, 6)).encode(), delay=0.3) for n in (1, 2)]
    gateway.provider.reply(TOKEN, *slow)
    gateway.provider.reply(LOOKUP, LOOKUP_SUCCESS)
    clients = [CdpClient() for _ in range(20)]
    request = CustomerLookupRequest(**LOOKUP_BODY)

    def all_at_once() -> list[int]:
        barrier, statuses = threading.Barrier(len(clients)), []

        def lookup(client):
            barrier.wait()
            statuses.append(client.customer_lookup(request).status)

        threads = [threading.Thread(target=lookup, args=(client,)) for client in clients]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        return statuses

    # When they all look customers up at once, in two token lifetimes
    first = all_at_once()
    time.sleep(max(0.0, stored_renewal_time(gateway) - time.time()) + 0.2)  # past the first token's renewal point
    second = all_at_once()

    # Then every call succeeded with one token request per expiry window
    assert first == second == [200] * 20
    assert len(gateway.provider.requests(TOKEN)) == 2
    authorizations = {r.headers["Authorization"] for r in gateway.provider.requests(LOOKUP)}
    assert authorizations == {"Bearer access-1", "Bearer access-2"}


# --- customer lookup ---------------------------------------------------------------------------------------------


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
        {},
        {"idNumber": "784199554586091"},
        {"idType": "4"},
        {"idNumber": "7" * 31, "idType": "4"},
        {"idNumber": "784199554586091", "idType": "4444"},
        {"idNumber": 784199554586091, "idType": "4"},
        {"idNumber": "784199554586091", "idType": 4},
        {"idNumber": "", "idType": "4"},
        {"idNumber": "784 1995", "idType": "4"},
        {"idNumber": "784199554586091", "idType": "4", "extra": True},
    ],
)
def test_invalid_lookups_get_400_and_no_provider_call(gateway, body):
    answer = gateway.call(LOOKUP_FN, body)

    assert (answer.status, answer.error["code"]) == (400, "validation_error")
    assert gateway.provider.requests() == []


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
