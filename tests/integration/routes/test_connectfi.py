"""connectFi identification and status, through the real handlers, against a connectFi double on 127.0.0.1."""

from __future__ import annotations

import json

import boto3
import pytest

from tests.conftest import SECRETS
from tests.support.emf import log_lines
from tests.support.fake_provider import Reply

IDENTIFY_FN = "ConnectFiIdentificationFunction"
STATUS_FN = "ConnectFiStatusFunction"
LOGIN = "/connectfi/auth/get-token"
IDENTIFY = "/connectfi/akepa/identification"
STATUS = "/connectfi/akepa/status"
CUSTOMER = "cstap_6reGTr3k8vpAu8uFV7EdiN"
APPLICATION = "iapp_AwXROkAVhfKmkhXjOTmuK"
WEBHOOK_TOKEN = SECRETS["connectfiwebhook"]["token"]


def login_reply(token: object = "cfi-token-1", expires: str = "2099-01-01T00:00:00.000Z") -> dict:  # noqa: S107
    return {"code": "0", "data": {"token": token, "dtsExpireAt": expires}}


def application(status: str = "pending_step_up", outcome=None) -> dict:
    return {
        "code": "0",
        "data": {
            "applicationId": APPLICATION,
            "aggregatorId": "CLIENTID",
            "customerId": CUSTOMER,
            "reference": "extRefApp100",
            "status": status,
            "outcome": outcome,
            "entityApplications": [{"entityId": CUSTOMER, "isCustomer": True, "status": status, "outcome": None}],
        },
        "requestId": "135520d078d411eeb5658f28ab5fe311",
    }


def connectfi_error(status: int, code: str, message: str = "error", context=None) -> Reply:
    body = {"requestId": "req-7", "code": code, "subCode": "", "context": context, "message": message}
    return Reply(status, json.dumps(body).encode())


IDENTIFICATION = {"customerId": CUSTOMER, "reference": "extRefApp100"}


def test_identification_without_webhook_url_sends_the_gateways_own(gateway):
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(IDENTIFY, application())

    answer = gateway.call(IDENTIFY_FN, IDENTIFICATION)

    assert answer.status == 200
    assert answer.json() == application()
    (sent,) = gateway.provider.requests(IDENTIFY)
    assert sent.json() == {**IDENTIFICATION, "webhookUrl": f"https://gateway.test/connectfi/webhooks/{WEBHOOK_TOKEN}"}
    assert sent.headers["x-connectfi-token"] == "cfi-token-1"
    (login,) = gateway.provider.requests(LOGIN)
    assert login.json() == {
        "user": {"login": SECRETS["connectfi"]["login"], "password": SECRETS["connectfi"]["password"]}
    }


@pytest.mark.parametrize("field", ["webhookUrl", "webhookURL"])
def test_a_callers_webhook_url_is_forwarded_under_the_configured_field(gateway, field, monkeypatch):
    monkeypatch.setenv("CONNECTFI_WEBHOOK_HOSTS", "caller.example")
    gateway.new_instance()
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(IDENTIFY, application())

    gateway.call(IDENTIFY_FN, {**IDENTIFICATION, field: "https://caller.example/hook", "syncMode": True})

    assert gateway.provider.requests(IDENTIFY)[0].json() == {
        **IDENTIFICATION,
        "syncMode": True,
        "webhookUrl": "https://caller.example/hook",
    }


# On an allowed host (here the gateway's own), any URL connectFi's schema allows; the empty one asks for no callback.
@pytest.mark.parametrize("url", ["", "https://gateway.test/" + "a" * 479, "https://gateway.test/\t é"])
def test_any_webhook_url_on_an_allowed_host_connectfis_schema_allows_is_forwarded_as_sent(gateway, url):
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(IDENTIFY, application())

    answer = gateway.call(IDENTIFY_FN, {**IDENTIFICATION, "webhookUrl": url})

    assert answer.status == 200
    assert gateway.provider.requests(IDENTIFY)[0].json()["webhookUrl"] == url


@pytest.mark.parametrize("field", ["webhookUrl", "webhookURL"])
def test_an_explicit_null_webhook_url_means_the_gateways_own(gateway, field):
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(IDENTIFY, application())

    answer = gateway.call(IDENTIFY_FN, {**IDENTIFICATION, field: None})

    assert answer.status == 200
    sent = gateway.provider.requests(IDENTIFY)[0].json()
    assert sent == {**IDENTIFICATION, "webhookUrl": f"https://gateway.test/connectfi/webhooks/{WEBHOOK_TOKEN}"}


def test_the_webhook_field_spelling_is_configurable(gateway, monkeypatch):
    monkeypatch.setenv("CONNECTFI_WEBHOOK_FIELD", "webhookURL")
    gateway.new_instance()
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(IDENTIFY, application())

    gateway.call(IDENTIFY_FN, IDENTIFICATION)

    assert set(gateway.provider.requests(IDENTIFY)[0].json()) == {"customerId", "reference", "webhookURL"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"customerId": CUSTOMER}, "reference"),
        ({"reference": "extRefApp100"}, "customerId"),
        ({**IDENTIFICATION, "reference": "UNIQUE_REFERENCE_ID"}, "reference"),
        ({**IDENTIFICATION, "reference": "r" * 33}, "reference"),
        ({**IDENTIFICATION, "reference": ""}, "reference"),
        ({**IDENTIFICATION, "customerId": "cstap-1"}, "customerId"),
        ({**IDENTIFICATION, "customerId": "c" * 37}, "customerId"),
        ({**IDENTIFICATION, "webhookUrl": "https://x.example/" + "a" * 500}, "webhookUrl"),
        ({**IDENTIFICATION, "webhookUrl": "https://x.example/<script>"}, "webhookUrl"),
        ({**IDENTIFICATION, "webhookUrl": "https://x.example/a>b"}, "webhookUrl"),
        ({**IDENTIFICATION, "webhookUrl": "https://x.example/\nHost: evil"}, "webhookUrl"),
        ({**IDENTIFICATION, "webhookUrl": "https://x.example/\r"}, "webhookUrl"),
        ({**IDENTIFICATION, "webhookUrl": "https://x.example/\u2028"}, "webhookUrl"),
        ({**IDENTIFICATION, "webhookURL": "https://x.example/\u2029"}, "webhookURL"),
        ({**IDENTIFICATION, "webhookUrl": "https://x.example/ends-with-newline\n"}, "webhookUrl"),
        ({**IDENTIFICATION, "syncMode": "yes"}, "syncMode"),
        ({**IDENTIFICATION, "customerId": 12}, "customerId"),
        ({**IDENTIFICATION, "extra": 1}, "extra"),
        ({**IDENTIFICATION, "webhookUrl": "https://a.example", "webhookURL": "https://b.example"}, "body"),
    ],
)
def test_invalid_identifications_get_400_and_no_provider_call(gateway, body, field):
    answer = gateway.call(IDENTIFY_FN, body)

    assert (answer.status, answer.error["code"]) == (400, "validation_error")
    assert field in [detail["field"] for detail in answer.error["details"]]
    assert gateway.provider.requests() == []


def test_identification_is_a_write_and_is_never_retried(gateway):
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(IDENTIFY, connectfi_error(503, "unavailable"))

    answer = gateway.call(IDENTIFY_FN, IDENTIFICATION)

    assert (answer.status, answer.error["code"]) == (502, "provider_error")
    assert len(gateway.provider.requests(IDENTIFY)) == 1


def test_request_validate_error_is_422_with_connectfis_context_as_details(gateway):
    context = [
        {
            "instancePath": "",
            "schemaPath": "#/additionalProperties",
            "keyword": "pattern",
            "params": {"pattern": "^[0-9a-zA-Z]+$"},
            "message": 'must match pattern "^[0-9a-zA-Z]+$"',
        }
    ]
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(IDENTIFY, connectfi_error(400, "requestValidateError", "validation", context))

    answer = gateway.call(IDENTIFY_FN, IDENTIFICATION)

    assert (answer.status, answer.error["code"]) == (422, "provider_validation_failed")
    assert answer.error["details"] == context
    assert answer.error["providerCode"] == "requestValidateError"
    assert answer.error["providerRequestId"] == "req-7"


def test_one_token_for_many_calls_and_a_forgotten_token_is_replaced(gateway):
    gateway.provider.reply(LOGIN, login_reply("cfi-token-1"), login_reply("cfi-token-2"))
    gateway.provider.reply(STATUS, application())
    for _ in range(3):
        assert gateway.call(STATUS_FN, {"customerId": CUSTOMER, "applicationId": APPLICATION}).status == 200
    assert len(gateway.provider.requests(LOGIN)) == 1

    gateway.provider.reply(
        STATUS, Reply(401, b'{"code": "unauthorized", "message": "Authentication error"}'), application()
    )
    answer = gateway.call(STATUS_FN, {"customerId": CUSTOMER, "applicationId": APPLICATION})

    assert answer.status == 200
    assert len(gateway.provider.requests(LOGIN)) == 2
    assert gateway.provider.requests(STATUS)[-1].headers["x-connectfi-token"] == "cfi-token-2"


@pytest.mark.parametrize(
    "expires",
    ["2099-01-01T00:00:00.000Z", "20990101T000000Z", "2099-01-01T00:00:00-05", "2099-01-01T00:00:00,5+02:00"],
)
def test_a_login_expiry_in_any_iso_8601_form_is_read(gateway, expires):
    # Given connectFi answering its login's expiry in one of ISO 8601's forms
    gateway.provider.reply(LOGIN, login_reply(expires=expires))
    gateway.provider.reply(STATUS, application())

    # When two statuses are asked
    answers = [gateway.call(STATUS_FN, {"customerId": CUSTOMER, "applicationId": APPLICATION}) for _ in range(2)]

    # Then both are answered on the one login
    assert [answer.status for answer in answers] == [200, 200]
    assert len(gateway.provider.requests(LOGIN)) == 1


def test_a_login_answer_the_gateway_cannot_read_is_502_naming_the_field_never_its_value(gateway):
    gateway.provider.reply(LOGIN, login_reply(expires="next tuesday"))

    answer = gateway.call(STATUS_FN, {"customerId": CUSTOMER, "applicationId": APPLICATION})

    assert (answer.status, answer.error["code"]) == (502, "provider_bad_response")
    assert [detail["field"] for detail in answer.error["details"]] == ["data.dtsExpireAt"]
    assert "next tuesday" not in answer.text and "cfi-token-1" not in answer.text


def test_a_new_token_refused_too_is_502_naming_what_connectfi_answered(gateway):
    # Given connectFi refusing the cached token, then the new one, with its own error code and request id
    refused = Reply(401, b'{"requestId": "req-401", "code": "unauthorized", "message": "Authentication error"}')
    gateway.provider.reply(LOGIN, login_reply("cfi-token-1"), login_reply("cfi-token-2"))
    gateway.provider.reply(STATUS, refused)

    # When a status is asked
    answer = gateway.call(STATUS_FN, {"customerId": CUSTOMER, "applicationId": APPLICATION})

    # Then the gateway's credentials are refused (502, never the caller's 401), with connectFi's answer named
    error = answer.error
    assert (answer.status, error["code"], error["provider"], error["providerStatus"]) == (
        502,
        "provider_auth_failed",
        "connectfi",
        401,
    )
    assert (error["providerCode"], error["providerRequestId"]) == ("unauthorized", "req-401")
    assert len(gateway.provider.requests(STATUS)) == 2


def test_a_token_whose_expiry_is_already_past_serves_a_minute_not_one_call(gateway, clock, logs):
    from kyc_gateway.providers.connectfi.client import PAST_EXPIRY_KEPT_SECONDS

    # Given connectFi answering its login with an expiry already past (its example's value; or clocks apart)
    clock.stop()
    gateway.provider.reply(LOGIN, login_reply("past", "2022-10-07T08:18:57.360Z"), login_reply("next"))
    gateway.provider.reply(STATUS, application())

    # When three statuses are asked at once, and more after the token's short while
    answers = [gateway.call(STATUS_FN, {"customerId": CUSTOMER, "applicationId": APPLICATION}) for _ in range(3)]
    clock.advance(PAST_EXPIRY_KEPT_SECONDS)
    later = gateway.call(STATUS_FN, {"customerId": CUSTOMER, "applicationId": APPLICATION})

    # Then one login serves them all (not one per call), a new one the later call, and an operator is told
    assert [answer.status for answer in [*answers, later]] == [200, 200, 200, 200]
    assert [request.headers["x-connectfi-token"] for request in gateway.provider.requests(STATUS)] == [
        "past", "past", "past", "next"
    ]  # fmt: skip
    (line,) = log_lines(logs(), "connectfi token expiry already past: kept a short while")
    assert (line["level"], line["provider"]) == ("WARNING", "connectfi")


def test_a_token_expiring_at_the_very_moment_of_its_login_serves_a_minute_not_one_call(gateway, clock, logs):
    import datetime as dt

    # Given connectFi answering its login with an expiry of that very instant (no time left to use it)
    expiry = dt.datetime.fromtimestamp(clock.stop(), dt.UTC).isoformat(timespec="milliseconds")
    gateway.provider.reply(LOGIN, login_reply("now", expiry.replace("+00:00", "Z")), login_reply("next"))
    gateway.provider.reply(STATUS, application())

    # When three statuses are asked at once
    answers = [gateway.call(STATUS_FN, {"customerId": CUSTOMER, "applicationId": APPLICATION}) for _ in range(3)]

    # Then it is kept a short while as one already past is: one login serves them all, and an operator is told
    assert [answer.status for answer in answers] == [200, 200, 200]
    assert len(gateway.provider.requests(LOGIN)) == 1
    assert log_lines(logs(), "connectfi token expiry already past: kept a short while")


def test_a_token_is_renewed_shortly_before_dts_expire_at(gateway, clock):
    import datetime as dt

    # Given a token connectFi says expires in 2 s (renewed a fifth of its life, 0.4 s, early), on a clock that moves
    # only when told (a slow machine must not reach the renewal point on its own)
    expiry = dt.datetime.fromtimestamp(clock.stop() + 2, dt.UTC)
    gateway.provider.reply(
        LOGIN,
        login_reply("short", expiry.isoformat(timespec="milliseconds").replace("+00:00", "Z")),
        login_reply("long"),
    )
    gateway.provider.reply(STATUS, application())
    gateway.call(STATUS_FN, {"customerId": CUSTOMER, "applicationId": APPLICATION})
    gateway.call(STATUS_FN, {"customerId": CUSTOMER, "applicationId": APPLICATION})
    assert len(gateway.provider.requests(LOGIN)) == 1

    # When the renewal point has passed
    clock.advance(1.8)
    gateway.call(STATUS_FN, {"customerId": CUSTOMER, "applicationId": APPLICATION})

    # Then the gateway logged in again before using an expiring token
    assert len(gateway.provider.requests(LOGIN)) == 2
    assert gateway.provider.requests(STATUS)[-1].headers["x-connectfi-token"] == "long"


def test_an_object_login_token_is_used_by_its_base_token(gateway):
    # Given the Authentication page's token: a base one for most requests, a confined one where a page says so
    gateway.provider.reply(LOGIN, login_reply({"base": "cfi-base-1", "confined": "cfi-confined-1"}))
    gateway.provider.reply(STATUS, application())

    answer = gateway.call(STATUS_FN, {"customerId": CUSTOMER, "applicationId": APPLICATION})

    # Then the status call (whose page asks for no confined token) carries the base token
    assert answer.status == 200
    assert gateway.provider.requests(STATUS)[0].headers["x-connectfi-token"] == "cfi-base-1"


@pytest.mark.parametrize(
    ("data", "issue"),
    [
        ({"token": {"confined": "cfi-confined-1"}}, "is an object without a base token"),
        ({"token": {"base": "", "confined": "cfi-confined-1"}}, "is an object without a base token"),
        ({"token": {"base": {"value": "cfi-confined-1"}}}, "is an object without a base token"),
        ({"token": 12345}, "is a number"),
        ({"token": None}, "is null"),
        ({"token": ""}, "is an empty string"),
        ({"token": "cfi-confined-1\r\nX-Injected: 1"}, "is not visible ASCII without spaces (no header can carry it)"),
        ({"token": "cfi-confined-1 \u00e9"}, "is not visible ASCII without spaces (no header can carry it)"),
        ({"token": ["cfi-confined-1"]}, "is an array"),
        ({"token": True}, "is a boolean"),
        ({}, "is missing"),
    ],
)
def test_a_login_token_of_no_usable_shape_is_a_502_naming_the_shape(gateway, logs, data, issue):
    gateway.provider.reply(LOGIN, {"code": "0", "data": {**data, "dtsExpireAt": "2099-01-01T00:00:00.000Z"}})

    answer = gateway.call(STATUS_FN, {"customerId": CUSTOMER, "applicationId": APPLICATION})

    assert (answer.status, answer.error["code"]) == (502, "provider_bad_response")
    assert answer.error["details"] == [{"field": "data.token", "issue": issue}]
    # nothing sent with it, nothing cached, and its content named nowhere
    assert gateway.provider.requests(STATUS) == []
    rows = boto3.client("dynamodb").scan(TableName=gateway.physical_ids["TokenTable"])["Items"]
    assert [row for row in rows if "token" in row] == []
    assert "cfi-confined-1" not in answer.text + logs()


def test_bad_login_is_502_provider_auth_failed_after_a_secret_refetch(gateway):
    gateway.provider.reply(LOGIN, Reply(401, b'{"code": "unauthorized", "message": "Authentication error"}'))

    answer = gateway.call(STATUS_FN, {"customerId": CUSTOMER, "applicationId": APPLICATION})

    assert (answer.status, answer.error["code"], answer.error["providerCode"]) == (
        502,
        "provider_auth_failed",
        "unauthorized",  # connectFi's own code, as it answered it
    )
    assert len(gateway.provider.requests(LOGIN)) == 2


def test_a_login_connectfi_fails_once_is_tried_again_within_the_request(gateway):
    # Given connectFi's login failing with a 503 once (a login changes nothing: it is retried as a read is)
    gateway.provider.reply(LOGIN, Reply(503, b'{"code": "unavailable"}'), login_reply())
    gateway.provider.reply(STATUS, application("completed", "Approved"))

    answer = gateway.call(STATUS_FN, {"customerId": CUSTOMER, "applicationId": APPLICATION})

    assert answer.status == 200
    assert len(gateway.provider.requests(LOGIN)) == 2


def test_status_passes_through_and_maps_application_not_found(gateway):
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(
        STATUS,
        application("completed", "Approved"),
        connectfi_error(404, "applicationNotFound", "Application not found"),
    )

    found = gateway.call(STATUS_FN, {"customerId": CUSTOMER, "applicationId": APPLICATION})
    missing = gateway.call(STATUS_FN, {"customerId": CUSTOMER, "applicationId": "iapp_nope"})

    assert (found.status, found.json()) == (200, application("completed", "Approved"))
    assert (missing.status, missing.error["code"]) == (404, "application_not_found")
    assert gateway.provider.requests(STATUS)[0].json() == {"customerId": CUSTOMER, "applicationId": APPLICATION}


def test_status_is_a_read_and_is_retried_on_transient_failures(gateway):
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(STATUS, Reply(503, b"{}"), Reply(502, b"<html></html>", "text/html"), application())

    answer = gateway.call(STATUS_FN, {"customerId": CUSTOMER, "applicationId": APPLICATION})

    assert answer.status == 200
    assert len(gateway.provider.requests(STATUS)) == 3


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"customerId": CUSTOMER},
        {"customerId": CUSTOMER, "applicationId": "iapp-1"},
        {"customerId": CUSTOMER, "applicationId": APPLICATION, "reference": "x"},
    ],
)
def test_invalid_status_requests_get_400(gateway, body):
    answer = gateway.call(STATUS_FN, body)

    assert (answer.status, answer.error["code"]) == (400, "validation_error")
    assert gateway.provider.requests() == []


def test_logs_hold_no_token_or_credentials(gateway, logs):
    gateway.provider.reply(LOGIN, login_reply("cfi-secret-token"))
    gateway.provider.reply(IDENTIFY, application())

    gateway.call(IDENTIFY_FN, IDENTIFICATION)

    written = logs()
    assert "request completed" in written
    for private in ("cfi-secret-token", WEBHOOK_TOKEN, SECRETS["connectfi"]["password"]):
        assert private not in written
