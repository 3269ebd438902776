"""connectFi's client, answer by answer: what a success is, how a login's expiry is read, and which answered states
are recorded. (Its refusals: test_connectfi_refusals.py.)"""

from __future__ import annotations

import datetime as dt
import json

import pytest

from local.api_events import proxy_event
from local.functions import invoke
from project import template as cfn
from tests.integration.routes.test_connectfi import (
    APPLICATION,
    CUSTOMER,
    IDENTIFICATION,
    IDENTIFY,
    IDENTIFY_FN,
    LOGIN,
    STATUS,
    STATUS_FN,
    application,
    connectfi_error,
    login_reply,
)
from tests.integration.routes.test_connectfi_stepup import UPDATE, UPDATE_FN, UPDATE_REQUEST
from tests.support import emf
from tests.support.emf import log_lines
from tests.support.webhooks import read_application

STATUS_BODY = {"customerId": CUSTOMER, "applicationId": APPLICATION}


def identify_answered(gateway, reply):
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(IDENTIFY, reply)
    return gateway.call(IDENTIFY_FN, IDENTIFICATION)


# --- what a success is ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "status"),
    [
        ({"code": 0, "data": application()["data"]}, 200),  # a numeric code 0 is success too
        ({"code": "0"}, 502),  # no data: not an answer
        ({"code": "0", "data": None}, 502),
        ({"code": "0", "data": [application()["data"]]}, 502),
        ({"code": "0", "data": "iapp_x"}, 502),
        ({"code": "1", "data": application()["data"]}, 502),
        ({"data": application()["data"]}, 502),
    ],
)
def test_success_is_code_0_with_data(gateway, reply, status):
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(STATUS, reply)

    assert gateway.call(STATUS_FN, STATUS_BODY).status == status


@pytest.mark.parametrize("data", [None, [], "iapp_x", 0], ids=["null", "list", "string", "number"])
def test_an_identification_answered_success_without_its_data_is_502_and_its_key_an_outcome_to_find_out(gateway, data):
    # Given connectFi answering an identification code "0" with `data` that is no object
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(IDENTIFY, {"code": "0", "data": data, "requestId": "r-1"})
    key = [("Idempotency-Key", "identify-no-data")]

    # When the caller sends it, then retries under the same key
    first = gateway.call(IDENTIFY_FN, IDENTIFICATION, headers=key)
    again = gateway.call(IDENTIFY_FN, IDENTIFICATION, headers=key)

    # Then connectFi said it acted without saying what it started: 502, and the retry is not sent
    assert (first.status, first.error["code"], first.error["providerRequestId"]) == (
        502,
        "provider_bad_response",
        "r-1",
    )
    assert (again.status, again.error["code"]) == (409, "idempotency_outcome_unknown")
    assert len(gateway.provider.requests(IDENTIFY)) == 1


@pytest.mark.parametrize("code", ["requestValidateError", "statusApplicationEntity", "customerNotFound"])
@pytest.mark.parametrize(
    ("function", "path", "body"), [(IDENTIFY_FN, IDENTIFY, IDENTIFICATION), (UPDATE_FN, UPDATE, UPDATE_REQUEST)]
)
def test_a_write_answered_200_with_an_error_code_is_connectfi_failing_and_never_sent_again(
    gateway, function, path, body, code
):
    # Given connectFi answering a write HTTP 200 with one of its error codes (its errors come as 4xx)
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(path, connectfi_error(200, code))
    key = [("Idempotency-Key", f"write-200-{code}")]

    first = gateway.call(function, body, headers=key)
    again = gateway.call(function, body, headers=key)

    # Then it is connectFi failing, never the caller's request, and the write, done or not, is not sent again
    assert (first.status, first.error["code"], first.error["providerCode"]) == (502, "provider_error", code)
    assert (again.status, again.error["code"]) == (409, "idempotency_outcome_unknown")
    assert len(gateway.provider.requests(path)) == 1


@pytest.mark.parametrize(
    ("data", "code", "details"),
    [
        (
            {"applicationId": "iapp_someoneElse"},
            "provider_error",
            [{"field": "data.applicationId", "issue": "is not the application asked about"}],
        ),
        ({"status": None}, "provider_bad_response", [{"field": "data.status", "issue": "is not a non-empty string"}]),
        ({"status": ""}, "provider_bad_response", [{"field": "data.status", "issue": "is not a non-empty string"}]),
    ],
    ids=["another-application", "null-status", "empty-status"],
)
def test_a_status_answer_not_about_the_application_asked_for_is_connectfi_failing(gateway, data, code, details):
    # Given connectFi answering a status check with another application's state, or with no status
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(STATUS, answered_data(**data))

    answer = gateway.call(STATUS_FN, STATUS_BODY)

    assert (answer.status, answer.error["code"], answer.error["details"]) == (502, code, details)


def test_a_status_answer_without_a_status_says_it_is_missing(gateway):
    reply = application()
    del reply["data"]["status"]
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(STATUS, reply)

    answer = gateway.call(STATUS_FN, STATUS_BODY)

    assert (answer.status, answer.error["details"]) == (502, [{"field": "data.status", "issue": "is missing"}])


# --- the callback URL -------------------------------------------------------------------------------------------------


def test_without_a_public_url_an_identification_naming_no_webhook_is_not_sent(gateway, monkeypatch):
    # Given a gateway with no PUBLIC_BASE_URL, called at no domain of its own
    monkeypatch.delenv("PUBLIC_BASE_URL")
    gateway.new_instance()
    event = proxy_event(
        "POST",
        "/connectfi/identification",
        headers=[("Content-Type", "application/json")],
        body=json.dumps(IDENTIFICATION),
    )
    del event["requestContext"]["domainName"]

    answer = invoke(cfn.functions()[IDENTIFY_FN], event)

    error = json.loads(answer["body"])["error"]
    assert (answer["statusCode"], error["code"]) == (500, "configuration_error")
    assert error["message"] == "PUBLIC_BASE_URL is not configured"
    assert gateway.provider.requests() == []


def test_a_callers_own_webhook_url_needs_no_webhook_secret(gateway, secrets_manager, monkeypatch):
    # Given a webhook secret that cannot be read, and the caller's callback host allowed
    secret_id = gateway.physical_ids["ConnectFiWebhookSecret"]
    secrets_manager.put_secret_value(SecretId=secret_id, SecretString="{}")
    monkeypatch.setenv("CONNECTFI_WEBHOOK_HOSTS", "caller.example")
    gateway.new_instance()
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(IDENTIFY, application())

    answer = gateway.call(IDENTIFY_FN, {**IDENTIFICATION, "webhookUrl": "https://caller.example/hook"})

    assert answer.status == 200


# --- login and headers ------------------------------------------------------------------------------------------------


def test_every_call_to_connectfi_asks_for_json(gateway):
    from tests.integration.routes.test_connectfi_stepup import (
        DOCUMENT_REQUEST,
        DOCUMENTS_FN,
        GENERATE,
        UPLOAD,
        generated,
        uploaded,
    )

    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(STATUS, application())
    gateway.provider.reply(GENERATE, generated())
    gateway.provider.reply(UPLOAD, uploaded())

    gateway.call(STATUS_FN, STATUS_BODY)
    gateway.call(DOCUMENTS_FN, DOCUMENT_REQUEST)

    sent = gateway.provider.requests()
    assert {request.path for request in sent} == {LOGIN, STATUS, GENERATE, UPLOAD}
    assert {request.headers["Accept"] for request in sent} == {"application/json"}


@pytest.mark.parametrize(
    ("written_as", "zone"),
    [
        (lambda moment: moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3], "America/New_York"),  # no zone: UTC
        (lambda moment: moment.astimezone(dt.timezone(dt.timedelta(hours=5))).isoformat(), "UTC"),
    ],
    ids=["without-zone", "with-offset"],
)
def test_a_login_expiry_is_read_in_its_own_zone_and_utc_without_one(gateway, clock, machine_zone, written_as, zone):
    # Given a token connectFi says expires in 10 s (renewed a fifth of its life early), on a machine in `zone`
    machine_zone(zone)
    expiry = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(seconds=10)
    aware = expiry.replace(tzinfo=dt.UTC)
    gateway.provider.reply(LOGIN, login_reply("short", written_as(aware)), login_reply("next"))
    gateway.provider.reply(STATUS, application())
    gateway.call(STATUS_FN, STATUS_BODY)

    # When its renewal point has passed
    clock.advance(9)
    gateway.call(STATUS_FN, STATUS_BODY)

    # Then the gateway logged in again
    assert [request.headers["x-connectfi-token"] for request in gateway.provider.requests(STATUS)] == ["short", "next"]


@pytest.mark.parametrize(
    ("code", "token", "status"),
    [("unauthorized", True, 502), ("unauthorized", False, 502), ("1", True, 502), (None, True, 200)],
    ids=["error-code", "error-envelope", "non-zero", "no-code"],
)
def test_a_login_answered_200_is_a_token_only_without_an_error_code(gateway, code, token, status):
    # Given connectFi's login answering 200 with an error code (with a token, or its error envelope alone), another
    # code, or a token and no code at all
    login = ({"data": login_reply()["data"]} if token else {"message": "Authentication error"}) | (
        {"code": code} if code else {}
    )
    gateway.provider.reply(LOGIN, login)
    gateway.provider.reply(STATUS, application())

    answer = gateway.call(STATUS_FN, STATUS_BODY)

    # Then a login answered with an error code is connectFi failing: its token is not used
    assert answer.status == status
    assert len(gateway.provider.requests(STATUS)) == (status == 200)
    if code:
        assert (answer.error["code"], answer.error["providerCode"]) == ("provider_error", code)


# --- recording what a write answers -----------------------------------------------------------------------------------


def answered_data(**changes) -> dict:
    reply = application("waiting_review")
    reply["data"] = {**reply["data"], **changes}
    return reply


NO_APPLICATION_STATE = pytest.mark.parametrize(
    "reply",
    [
        answered_data(applicationId="iapp-not-an-id"),
        answered_data(applicationId=None),
        answered_data(customerId="c" * 37),
        answered_data(status=None),
        answered_data(status=1),
        answered_data(status=""),
        {"code": "0", "data": {}},
    ],
    ids=[
        "bad-application-id",
        "no-application-id",
        "bad-customer-id",
        "no-status",
        "numeric-status",
        "empty-status",
        "empty",
    ],
)


@NO_APPLICATION_STATE
def test_an_identification_answered_without_its_application_is_connectfi_failing_and_never_sent_again(gateway, reply):
    # Given connectFi answering an identification 200 without the application it started, as its pages show it
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(IDENTIFY, reply)
    key = [("Idempotency-Key", "identify-no-application")]

    answer = gateway.call(IDENTIFY_FN, IDENTIFICATION, headers=key)
    again = gateway.call(IDENTIFY_FN, IDENTIFICATION, headers=key)

    # Then it is connectFi failing, nothing is stored, and the identification, done or not, is not sent again
    assert (answer.status, answer.error["code"], answer.error["providerStatus"]) == (502, "provider_bad_response", 200)
    assert (again.status, again.error["code"]) == (409, "idempotency_outcome_unknown")
    assert len(gateway.provider.requests(IDENTIFY)) == 1
    assert read_application(APPLICATION)["statusCode"] == 404


@pytest.mark.parametrize(
    "reply",
    [answered_data(customerId="c" * 37), answered_data(status=None), answered_data(status=1), answered_data(status="")],
    ids=["bad-customer-id", "no-status", "numeric-status", "empty-status"],
)
def test_an_update_answer_holding_no_application_state_is_passed_on_and_connectfis_status_stored(gateway, reply):
    # Given connectFi answering an update with no application state (its answer's fields are not published), and
    # its status of the application the update named
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(UPDATE, reply)
    gateway.provider.reply(STATUS, application("waiting_review"))

    answer = gateway.call(UPDATE_FN, UPDATE_REQUEST)

    # Then the caller gets connectFi's answer unchanged, and the state stored is the status connectFi gave
    assert (answer.status, answer.json()) == (200, reply)
    assert json.loads(read_application(APPLICATION)["body"])["status"] == "waiting_review"


def test_an_update_answer_holding_no_state_whose_status_connectfi_fails_is_done_all_the_same(gateway, logs):
    # Given connectFi answering an update with no application state, then failing the status asked for
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(UPDATE, {"code": "0"})
    gateway.provider.reply(STATUS, connectfi_error(400, "extAkepa"))

    answer = gateway.call(UPDATE_FN, UPDATE_REQUEST)

    # Then the update is done all the same, nothing new is stored, and an operator is told why
    assert (answer.status, answer.json()) == (200, {"code": "0"})
    assert read_application(APPLICATION)["statusCode"] == 404
    (line,) = log_lines(logs(), "application state not confirmed: the reconciliation checks it if stored")
    assert (line["level"], line["provider"], line["code"]) == ("WARNING", "connectfi", "provider_error")


def test_an_answered_state_with_ids_of_connectfis_longest_is_recorded(gateway):
    longest = "iapp_" + "A" * 31  # 36 characters

    assert identify_answered(gateway, answered_data(applicationId=longest)).status == 200

    assert json.loads(read_application(longest)["body"])["status"] == "waiting_review"


def test_an_answered_state_not_announced_yet_is_logged_for_the_reconciliation(gateway, logs, monkeypatch):
    from tests.integration.routes.test_connectfi_reconciliation import failing_announcements

    failing_announcements(monkeypatch, 1)

    assert identify_answered(gateway, application("waiting_review")).status == 200

    (line,) = log_lines(logs(), "application state not announced yet")
    assert (line["level"], line["provider"], line["application_id"]) == ("WARNING", "connectfi", APPLICATION)


def test_an_answered_state_that_cannot_be_stored_is_counted_and_logged_by_its_cause(gateway, logs, monkeypatch):
    from kyc_gateway.providers.connectfi import applications

    monkeypatch.setattr(applications, "_table", lambda: "kyc-gateway-local-no-such-table")

    assert identify_answered(gateway, application("waiting_review")).status == 200

    written = logs()
    assert emf.named(written)["ApplicationsNotRecorded"]["Provider"] == "connectfi"
    (line,) = log_lines(written, "application state not recorded")
    assert (line["level"], line["provider"], line["application_id"]) == ("ERROR", "connectfi", APPLICATION)
    assert line["error"] == "ResourceNotFoundException"
