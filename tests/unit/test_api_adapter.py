"""The API adapter shared by every route: body parsing, correlation ids, envelopes."""

from __future__ import annotations

import base64
import json

import pytest
from pydantic import BaseModel, ConfigDict, Field

from kyc_gateway import api, clock
from kyc_gateway.errors import ConfigurationError, ProviderRateLimited, ProviderTimeout
from kyc_gateway.provider_response import ProviderResponse
from local.api_events import proxy_event
from local.functions import LambdaContext
from tests.support.emf import log_lines, named


class Echo(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=5)
    items: list[int] = []


def handler_returning(result):
    def operation(request):
        if isinstance(result, Exception):
            raise result
        return result

    return api.http_route("test.echo", Echo, operation)


def call(handler, body=None, headers=(), request_id="req-1"):
    event = proxy_event("POST", "/echo", body=body, headers=headers, request_id=request_id)
    return handler(event, LambdaContext("test"))


def test_a_mapping_result_is_answered_as_json_200_with_the_correlation_id():
    answer = call(handler_returning({"ok": True}), json.dumps({"name": "abc"}), [("x-correlation-id", "abc-1")])

    assert answer["statusCode"] == 200
    assert json.loads(answer["body"]) == {"ok": True}
    assert answer["headers"]["X-Correlation-Id"] == "abc-1"


def test_every_answer_is_json_never_cached_and_carries_the_correlation_id():
    for body in (json.dumps({"name": "abc"}), "{}"):  # a success, then an error
        answer = call(handler_returning({"ok": True}), body, [("X-Correlation-Id", "abc-1")])

        assert answer["headers"] == {
            "Content-Type": "application/json",
            "Cache-Control": "no-store",
            "X-Correlation-Id": "abc-1",
        }


def test_a_providers_answer_is_passed_on_unchanged_with_the_routes_status():
    text = '{"status" :  "done",\n "id": 7}'
    handler = api.http_route("test.created", Echo, lambda request: ProviderResponse("cdp", 200, text, {}), status=201)

    answer = call(handler, json.dumps({"name": "abc"}))

    assert (answer["statusCode"], answer["body"]) == (201, text)


@pytest.mark.parametrize("supplied", ["a" * 128, "A1._:-z", "0"])
def test_a_sane_correlation_id_is_kept(supplied):
    answer = call(handler_returning({}), "{}", [("X-Correlation-Id", supplied)], request_id="gw-req-9")

    assert answer["headers"]["X-Correlation-Id"] == supplied


@pytest.mark.parametrize("supplied", ["", "a" * 129, "has space", "semi;colon", "\u00e9t\u00e9", "-leading"])
def test_an_unusable_correlation_id_falls_back_to_the_request_id(supplied):
    answer = call(handler_returning({}), "{}", [("X-Correlation-Id", supplied)], request_id="gw-req-9")

    assert answer["headers"]["X-Correlation-Id"] == "gw-req-9"


@pytest.mark.parametrize("request_id", ["c6af9ac6-7b61-11e6-9a41-93e8deadbeef", "Nn2cPjCrIAMEVeQ=", "!" * 160])
def test_api_gateways_request_id_of_either_api_kind_is_the_correlation_id_without_the_callers(request_id):
    # Given a request without X-Correlation-Id, its id a REST API's (a UUID) or an HTTP API's (base64-like)
    # When it is answered, Then the request id is its correlation id
    answer = call(handler_returning({}), "{}", request_id=request_id)

    assert answer["headers"]["X-Correlation-Id"] == request_id


@pytest.mark.parametrize("request_id", ["has space", "tilde~", "line\nbreak", "req-1\n", "\u00e9t\u00e9", "!" * 161])
def test_a_request_id_no_api_gateway_gives_is_not_a_correlation_id(request_id):
    # Given an event invoked by hand, its request id not printable ASCII (or holding `~`, which sorts after every
    # correlation id in the audit search's bounds), or longer than an audit record's sort key takes
    # When it is answered, Then its correlation id is "unknown"
    answer = call(handler_returning({}), "{}", request_id=request_id)

    assert answer["headers"]["X-Correlation-Id"] == "unknown"


@pytest.mark.parametrize(
    "event", [[1, 2], {"httpMethod": "POST", "body": "{}"}, {"httpMethod": "POST", "requestContext": []}]
)
def test_without_a_correlation_id_or_a_request_id_the_answer_says_unknown(event):
    answer = handler_returning({})(event, LambdaContext("test"))

    assert answer["headers"]["X-Correlation-Id"] == "unknown"


def test_base64_bodies_are_decoded():
    body = base64.b64encode(json.dumps({"name": "abc"}).encode()).decode()
    event = proxy_event("POST", "/echo", body=body)
    event["isBase64Encoded"] = True

    answer = handler_returning({"ok": 1})(event, LambdaContext("test"))

    assert answer["statusCode"] == 200


def test_nested_field_paths_are_reported_per_field():
    answer = call(handler_returning({}), json.dumps({"name": "too long", "items": [1, "x"], "extra": 1}))

    details = json.loads(answer["body"])["error"]["details"]
    assert answer["statusCode"] == 400
    assert {detail["field"] for detail in details} == {"name", "items[1]", "extra"}


def test_a_body_too_large_for_lambda_is_413_before_anything_else():
    answer = call(handler_returning({}), "x" * (api.MAX_BODY_BYTES + 1))

    assert answer["statusCode"] == 413
    error = json.loads(answer["body"])["error"]
    assert (error["code"], error["message"]) == ("request_too_large", "The request body is too large")
    assert error["details"] == [
        {"field": "body", "issue": f"must be at most {api.MAX_BODY_BYTES} bytes", "type": "body"}
    ]


def test_gateway_errors_become_the_envelope_with_their_status():
    answer = call(handler_returning(ProviderTimeout(provider="cladfy")), json.dumps({"name": "abc"}))

    error = json.loads(answer["body"])["error"]
    assert answer["statusCode"] == 504
    assert error == {
        "code": "provider_timeout",
        "message": "The provider did not answer in time",
        "provider": "cladfy",
        "providerStatus": None,
        "providerCode": None,
        "providerRequestId": None,
        "details": [],
        "correlationId": "req-1",
    }


@pytest.mark.parametrize(("pause", "header"), [(7, "7"), (0, "0"), (None, None)])
def test_a_rate_limit_tells_the_caller_how_long_to_wait_only_when_the_provider_said(pause, header):
    limited = ProviderRateLimited(provider="cdp")
    limited.retry_after_seconds = pause

    answer = call(handler_returning(limited), json.dumps({"name": "abc"}))

    assert answer["statusCode"] == 429
    assert answer["headers"].get("Retry-After") == header


def test_an_unexpected_exception_is_a_500_envelope_and_its_text_is_not_logged(logs):
    answer = call(handler_returning(RuntimeError("customer Jane Doe 784199554586091")), json.dumps({"name": "a"}))

    assert answer["statusCode"] == 500
    assert json.loads(answer["body"])["error"]["code"] == "internal_error"
    written = logs()
    (line,) = log_lines(written, "unhandled error")
    assert (line["level"], line["route"], line["error"]) == ("ERROR", "test.echo", "RuntimeError")
    assert "784199554586091" not in written and "Jane" not in written


@pytest.mark.parametrize(
    ("result", "status", "code", "provider", "gateway_fault"),
    [
        ({"ok": True}, 200, "ok", None, False),
        (ProviderTimeout(provider="cladfy"), 504, "provider_timeout", "cladfy", False),
        (ConfigurationError("CDP_BASE_URL is not configured"), 500, "configuration_error", None, True),
        (RuntimeError("boom"), 500, "internal_error", None, True),
    ],
)
def test_each_request_is_logged_and_counted_with_its_outcome_and_whose_fault_a_failure_is(
    logs, result, status, code, provider, gateway_fault
):
    call(handler_returning(result), json.dumps({"name": "abc"}))

    written = logs()
    (line,) = log_lines(written, "request completed")
    assert (line["route"], line["status"], line["code"]) == ("test.echo", status, code)
    assert line["correlation_id"] == "req-1"
    counted = named(written)
    assert counted["Requests"] == {"Route": "test.echo", "Code": code, "service": "kyc-gateway"}
    assert counted.get("GatewayFaults") == ({"Route": "test.echo", "service": "kyc-gateway"} if gateway_fault else None)
    assert counted.get("ProviderFailures") == ({"Provider": provider, "service": "kyc-gateway"} if provider else None)


def test_the_operation_runs_within_the_lambdas_remaining_time_less_the_answer_margin():
    handler = api.http_route("test.deadline", Echo, lambda request: {"left": clock.time_left()})

    answer = handler(proxy_event("POST", "/echo", body='{"name": "a"}'), LambdaContext("test", timeout_seconds=10))

    left = json.loads(answer["body"])["left"]
    assert 10 - clock.ANSWER_MARGIN_SECONDS - 1 < left <= 10 - clock.ANSWER_MARGIN_SECONDS


def test_json_nested_ten_thousand_levels_deep_is_a_clear_400():
    answer = call(handler_returning({}), "[" * 10_000 + "]" * 10_000)

    error = json.loads(answer["body"])["error"]
    assert (answer["statusCode"], error["code"]) == (400, "validation_error")
    assert error["details"] == [{"field": "body", "issue": "is nested too deeply", "type": "body"}]


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "text/json",
        "application/jsonp",
        "application/json-seq",
    ],
)
def test_a_body_declared_as_something_other_than_json_is_not_json_so_400(content_type):
    answer = call(handler_returning({}), json.dumps({"name": "abc"}), [("Content-Type", content_type)])

    error = json.loads(answer["body"])["error"]
    assert (answer["statusCode"], error["code"]) == (400, "validation_error")
    assert error["details"] == [{"field": "Content-Type", "issue": "must be application/json", "type": "header"}]


@pytest.mark.parametrize(
    "content_type", [None, "application/json", "Application/JSON; charset=utf-8", "application/merge-patch+json"]
)
def test_json_or_no_declared_media_type_is_accepted(content_type):
    headers = [("Content-Type", content_type)] if content_type else []

    answer = call(handler_returning({"ok": True}), json.dumps({"name": "abc"}), headers)

    assert answer["statusCode"] == 200


def http_api_event(body, headers=(), request_id="req-2"):
    """What an HTTP API (payload format 2.0) sends a Lambda proxy integration."""
    return {
        "version": "2.0",
        "routeKey": "POST /echo",
        "rawPath": "/echo",
        "rawQueryString": "",
        "headers": {name.lower(): value for name, value in headers},
        "requestContext": {
            "domainName": "abc.execute-api.us-east-1.amazonaws.com",
            "http": {"method": "POST", "path": "/echo", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1"},
            "requestId": request_id,
            "stage": "$default",
        },
        "body": body,
        "isBase64Encoded": False,
    }


@pytest.mark.parametrize(("body", "status"), [({"name": "abc"}, 200), ({"name": "too long"}, 400), ({}, 400)])
def test_an_http_api_payload_2_event_gets_the_same_answer_as_a_rest_event(body, status):
    handler = handler_returning({"ok": True})

    rest = call(handler, json.dumps(body), [("X-Correlation-Id", "c-1")])
    http_api = handler(http_api_event(json.dumps(body), [("X-Correlation-Id", "c-1")]), LambdaContext("test"))

    assert rest["statusCode"] == http_api["statusCode"] == status
    assert rest["body"] == http_api["body"]
    assert http_api["headers"]["X-Correlation-Id"] == "c-1"


@pytest.mark.parametrize("event", [[1, 2], "text", None, {}, {"Records": [{"body": "{}"}]}, {"version": "1.0"}])
def test_an_event_that_is_not_an_api_gateway_proxy_event_is_a_clear_400(event):
    answer = handler_returning({"ok": True})(event, LambdaContext("test"))

    error = json.loads(answer["body"])["error"]
    assert (answer["statusCode"], error["code"]) == (400, "validation_error")
    assert error["details"] == [
        {
            "field": "event",
            "issue": "is not an API Gateway proxy event (REST payload 1.0 or HTTP API 2.0)",
            "type": "body",
        }
    ]


def test_the_request_line_says_how_long_the_request_took(logs, stopped_clock):
    handler = api.http_route("test.echo", Echo, lambda request: stopped_clock.advance(0.25) or {})
    stopped_clock.advance(100)

    call(handler, json.dumps({"name": "abc"}))

    (line,) = log_lines(logs(), "request completed")
    assert line["elapsed_ms"] == 250.0


def test_a_route_that_calls_a_provider_is_refused_when_its_request_cannot_name_its_audit_subjects():
    # Given a registered provider route (Cladfy's KRA PIN) declared with a request model that has no audit_subjects
    with pytest.raises(TypeError) as refused:
        api.http_route("cladfy.krapin", Echo, lambda request: {})

    # Then the handler is never built, and the message names the route, its provider and the model
    assert str(refused.value) == "cladfy.krapin calls cladfy: Echo must name its audit_subjects"


def test_a_route_knows_the_provider_its_requests_are_audited_under():
    class Audited(Echo):
        def audit_subjects(self, answer):
            return []

    assert api.http_route("cladfy.krapin", Audited, lambda request: {}).audited_provider == "cladfy"
    assert api.http_route("test.echo", Echo, lambda request: {}).audited_provider is None  # not a provider route


def test_every_route_registers_its_snapstart_hooks_with_the_runtime(monkeypatch):
    from kyc_gateway import snapstart

    # Given Lambda's runtime hooks (snapshot_restore_py) as SnapStart provides them
    registered = []

    class RuntimeHooks:
        def register_before_snapshot(self, hook, *arguments):
            registered.append(("before snapshot", hook, arguments))

        def get_after_restore(self):
            return [(hook, arguments, {}) for kind, hook, arguments in registered if kind == "after restore"]

        def register_after_restore(self, hook, *arguments):
            registered.append(("after restore", hook, arguments))

    monkeypatch.setattr(snapstart, "_runtime_hooks", RuntimeHooks())

    # When two routes are built
    first, second = handler_returning({}), api.http_route("test.other", Echo, lambda request: {})

    # Then each primes its own snapshot, and every instance renews itself once after a restore
    assert registered == [
        ("before snapshot", snapstart.prime, (first,)),
        ("after restore", snapstart.renew, ()),
        ("before snapshot", snapstart.prime, (second,)),
    ]
