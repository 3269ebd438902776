"""The connectFi sandbox: tokens, identification and status, schema errors, asynchronous reviews and webhooks."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime

import pytest
import requests

from tests.integration.sandbox.conftest import (
    TIMEOUT,
    assert_html,
    assert_json,
    connectfi,
    connectfi_login,
    connectfi_token,
)


def test_connectfi_login(urls):
    body = assert_json(connectfi_login(urls), 200)
    assert body["code"] == "0" and set(body["data"]) == {"token", "dtsExpireAt"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", body["data"]["dtsExpireAt"])
    expires = datetime.strptime(body["data"]["dtsExpireAt"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert 3590 < (expires - datetime.now(UTC)).total_seconds() <= 3600


def test_connectfi_login_failures(urls):
    unauthorized = {"code": "unauthorized", "message": "Authentication error"}
    assert assert_json(connectfi_login(urls, password="wrong"), 401) == unauthorized
    assert assert_json(connectfi_login(urls, login="someone_else"), 401) == unauthorized
    response = requests.post(urls["CONNECTFI_BASE_URL"] + "/auth/get-token", json={"login": "x"}, timeout=TIMEOUT)
    assert assert_json(response, 400)["code"] == "requestValidateError"


def test_connectfi_token_expires(make_sandbox):
    urls = make_sandbox(connectfi_token_ttl=3).base_urls()  # room for a slow machine's first call
    token = connectfi_token(urls)
    assert (
        connectfi(urls, "/akepa/identification", {"customerId": "cstap_a", "reference": "R1"}, token).status_code == 200
    )
    time.sleep(3.1)
    response = connectfi(urls, "/akepa/identification", {"customerId": "cstap_a", "reference": "R1"}, token)
    assert assert_json(response, 401) == {"code": "unauthorized", "message": "Authentication error"}


@pytest.fixture(scope="module")
def cfi_token(sandbox):
    return connectfi_token(sandbox.base_urls())


@pytest.mark.parametrize("token", [None, "unknown"])
def test_connectfi_calls_require_a_token(urls, token):
    for path in ("/akepa/identification", "/akepa/status"):
        response = connectfi(urls, path, {"customerId": "cstap_a", "reference": "R1"}, token)
        assert assert_json(response, 401) == {"code": "unauthorized", "message": "Authentication error"}


@pytest.mark.parametrize("webhook_field", ["webhookUrl", None])
def test_connectfi_identification_and_status(urls, cfi_token, webhook_field):
    request = {"customerId": "cstap_6reGTr3k8vpAu8uFV7EdiN", "reference": "extRefApp100", "syncMode": None}
    if webhook_field:
        request[webhook_field] = "https://your_webhook_url/extRefApp100"
    body = assert_json(connectfi(urls, "/akepa/identification", request, cfi_token), 200)
    assert body["code"] == "0" and re.fullmatch(r"[0-9a-f]{32}", body["requestId"])
    data = body["data"]
    assert re.fullmatch(r"iapp_[0-9A-Za-z]+", data["applicationId"]) and len(data["applicationId"]) <= 36
    assert data["customerId"] == request["customerId"] and data["reference"] == "extRefApp100"
    assert data["status"] == "pending_step_up" and data["outcome"] is None
    assert data["entityApplications"] == [
        {"entityId": request["customerId"], "isCustomer": True, "status": "pending_step_up", "outcome": None}
    ]
    status_request = {"customerId": request["customerId"], "applicationId": data["applicationId"]}
    status = assert_json(connectfi(urls, "/akepa/status", status_request, cfi_token), 200)
    assert status["data"] == data and status["requestId"] != body["requestId"]


def test_connectfi_business_customer_has_two_entities(urls, cfi_token):
    body = connectfi(
        urls, "/akepa/identification", {"customerId": "cstab_7BX5DO49J48VeWKsJ6gWNb", "reference": "B1"}, cfi_token
    ).json()
    entities = body["data"]["entityApplications"]
    assert [entity["isCustomer"] for entity in entities] == [False, True]
    assert entities[1] == {
        "entityId": "cstab_7BX5DO49J48VeWKsJ6gWNb",
        "isCustomer": True,
        "status": "completed",
        "outcome": "approved",
    }


@pytest.mark.parametrize(("accepted", "other"), [("webhookUrl", "webhookURL"), ("webhookURL", "webhookUrl")])
def test_connectfi_identification_takes_exactly_one_spelling_of_the_webhook_field(
    make_sandbox, receiver, accepted, other
):
    urls = make_sandbox(connectfi_webhook_field=accepted, webhook_delay=0.1).base_urls()
    token = connectfi_token(urls)
    request = {"customerId": "cstap_a", "reference": "ASYNC1"}

    refused = assert_json(connectfi(urls, "/akepa/identification", {**request, other: receiver.url("/x")}, token), 400)
    assert (refused["code"], refused["message"]) == ("requestValidateError", "must NOT have additional properties")
    assert refused["context"][0]["params"] == {"additionalProperty": other}

    created = connectfi(urls, "/akepa/identification", {**request, accepted: receiver.url("/hook")}, token)
    application_id = assert_json(created, 200)["data"]["applicationId"]
    # the callback goes to the URL read from the accepted spelling
    ((path, _, body),) = receiver.wait_for(1, timeout=15)
    assert path == "/hook" and json.loads(body)["data"]["applicationId"] == application_id


def test_connectfi_object_token_only_its_base_token_opens_the_kyc_endpoints(make_sandbox):
    urls = make_sandbox(connectfi_token_shape="object").base_urls()
    token = assert_json(connectfi_login(urls), 200)["data"]["token"]
    assert set(token) == {"base", "confined"} and token["base"] != token["confined"]

    body = {"customerId": "cstap_5mBHiIx3QbkvEpjGfKsI9k", "applicationId": "iapp_1BGgJeDQJFo5MCup15zq9A"}
    assert assert_json(connectfi(urls, "/akepa/status", body, token["base"]), 200)["code"] == "0"
    # no endpoint the gateway calls asks for the confined token: it is refused as an unknown one
    refused = connectfi(urls, "/akepa/status", body, token["confined"])
    assert assert_json(refused, 401) == {"code": "unauthorized", "message": "Authentication error"}


def test_connectfi_rejects_additional_properties(urls, cfi_token):
    request = {"customerId": "cstap_a", "reference": "R1", "webhookUrl": "https://x/y", "extra": 1}
    body = assert_json(connectfi(urls, "/akepa/identification", request, cfi_token), 400)
    assert set(body) == {"requestId", "code", "subCode", "context", "message"}
    assert body["code"] == "requestValidateError" and body["message"] == "must NOT have additional properties"
    assert body["context"] == [
        {
            "instancePath": "",
            "schemaPath": "#/additionalProperties",
            "keyword": "additionalProperties",
            "params": {"additionalProperty": "extra"},
            "message": "must NOT have additional properties",
        }
    ]


@pytest.mark.parametrize(
    ("request_body", "keyword", "instance_path"),
    [
        ({"customerId": "cstap_a"}, "required", ""),
        ({"customerId": "cstap_a", "reference": "has-dash"}, "pattern", "/reference"),
        ({"customerId": "c" * 37, "reference": "R1"}, "maxLength", "/customerId"),
        ({"customerId": "cstap_a", "reference": "R1", "syncMode": "yes"}, "type", "/syncMode"),
        ({"customerId": "cstap_a", "reference": "R1", "webhookUrl": "https://x/<script>"}, "pattern", "/webhookUrl"),
        # JavaScript's `.` matches no line terminator, and its `$` only the very end
        ({"customerId": "cstap_a", "reference": "R1", "webhookUrl": "https://x/\na"}, "pattern", "/webhookUrl"),
        ({"customerId": "cstap_a", "reference": "R1", "webhookUrl": "https://x/\u2028"}, "pattern", "/webhookUrl"),
        ({"customerId": "cstap_a", "reference": "R1\n"}, "pattern", "/reference"),
        (["not", "an", "object"], "type", ""),
    ],
)
def test_connectfi_schema_errors(urls, cfi_token, request_body, keyword, instance_path):
    body = assert_json(connectfi(urls, "/akepa/identification", request_body, cfi_token), 400)
    assert body["code"] == "requestValidateError"
    assert [(error["keyword"], error["instancePath"]) for error in body["context"]] == [(keyword, instance_path)]
    assert body["message"] == body["context"][0]["message"]


def test_connectfi_status_not_found(urls, cfi_token):
    created = connectfi(
        urls, "/akepa/identification", {"customerId": "cstap_owner", "reference": "R1"}, cfi_token
    ).json()
    for request in (
        {"customerId": "cstap_owner", "applicationId": "iapp_doesnotexist"},
        {"customerId": "cstap_other", "applicationId": created["data"]["applicationId"]},
    ):
        body = assert_json(connectfi(urls, "/akepa/status", request, cfi_token), 404)
        assert body["code"] == "applicationNotFound" and set(body) == {
            "requestId",
            "code",
            "subCode",
            "context",
            "message",
        }


def test_connectfi_magic_customers(urls, cfi_token):
    body = assert_json(  # HTTP 400, as in connectFi's public error table
        connectfi(urls, "/akepa/identification", {"customerId": "cstap_notfound", "reference": "R1"}, cfi_token), 400
    )
    assert body["code"] == "customerNotFound"
    assert_html(
        connectfi(urls, "/akepa/identification", {"customerId": "cstap_html500", "reference": "R1"}, cfi_token), 500
    )
    with pytest.raises(requests.Timeout):
        connectfi(
            urls, "/akepa/identification", {"customerId": "cstap_slow", "reference": "R1"}, cfi_token, timeout=0.5
        )


def test_connectfi_async_review_sends_one_webhook(urls, cfi_token, receiver, sandbox):
    sent_before = sandbox.call_count("connectfi", "webhook")
    request = {"customerId": "cstap_async", "reference": "ASYNC001", "webhookUrl": receiver.url("/hook/secret-token")}
    created = assert_json(connectfi(urls, "/akepa/identification", request, cfi_token), 200)["data"]
    assert created["status"] == "waiting_review" and created["outcome"] is None

    deliveries = receiver.wait_for(1, timeout=15)
    assert len(deliveries) == 1
    path, content_type, raw = deliveries[0]
    assert path == "/hook/secret-token" and content_type == "application/json"
    webhook = json.loads(raw)
    assert webhook["code"] == "0" and webhook["requestId"]
    assert webhook["data"]["applicationId"] == created["applicationId"]
    assert webhook["data"]["status"] == "completed" and webhook["data"]["outcome"] == "Approved"
    assert all(e["status"] == "completed" and e["outcome"] == "approved" for e in webhook["data"]["entityApplications"])

    status = connectfi(
        urls, "/akepa/status", {"customerId": "cstap_async", "applicationId": created["applicationId"]}, cfi_token
    ).json()
    assert status["data"] == webhook["data"]
    time.sleep(0.3)
    assert len(receiver.bodies) == 1
    assert sandbox.call_count("connectfi", "webhook") == sent_before + 1


def test_connectfi_asyncdup_sends_the_same_webhook_twice(urls, cfi_token, receiver):
    request = {"customerId": "cstap_dup", "reference": "ASYNCDUP001", "webhookUrl": receiver.url("/hook")}
    created = assert_json(connectfi(urls, "/akepa/identification", request, cfi_token), 200)["data"]
    deliveries = receiver.wait_for(2, timeout=15)
    assert len(deliveries) == 2
    assert deliveries[0][2] == deliveries[1][2]
    assert json.loads(deliveries[0][2])["data"]["applicationId"] == created["applicationId"]


def test_connectfi_asyncdeny_completes_denied(make_sandbox, receiver):
    urls = make_sandbox(webhook_delay=0.1).base_urls()
    request = {"customerId": "cstap_deny", "reference": "ASYNCDENY1", "webhookUrl": receiver.url("/hook")}
    connectfi(urls, "/akepa/identification", request, connectfi_token(urls))
    data = json.loads(receiver.wait_for(1, timeout=15)[0][2])["data"]
    assert data["outcome"] == "Denied" and data["entityApplications"][0]["outcome"] == "denied"


def test_connectfi_webhook_failures_are_ignored(make_sandbox):
    box = make_sandbox(webhook_delay=0.1)
    urls = box.base_urls()
    token = connectfi_token(urls)
    request = {"customerId": "cstap_x", "reference": "ASYNC2", "webhookUrl": "http://127.0.0.1:9/unreachable"}
    created = connectfi(urls, "/akepa/identification", request, token).json()["data"]
    deadline = time.monotonic() + 3
    while box.call_count("connectfi", "webhook") < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert box.call_count("connectfi", "webhook") == 1
    status = connectfi(
        urls, "/akepa/status", {"customerId": "cstap_x", "applicationId": created["applicationId"]}, token
    )
    assert status.json()["data"]["status"] == "completed"
