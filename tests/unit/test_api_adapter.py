"""The API adapter shared by every route: body parsing, correlation ids, envelopes."""

from __future__ import annotations

import base64
import json

import pytest
from pydantic import BaseModel, ConfigDict, Field

from kyc_gateway import api
from kyc_gateway.errors import ProviderTimeout
from local.api_events import proxy_event
from local.functions import LambdaContext


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


@pytest.mark.parametrize("supplied", ["", "a" * 129, "has space", "semi;colon", "\u00e9t\u00e9"])
def test_an_unusable_correlation_id_falls_back_to_the_request_id(supplied):
    answer = call(handler_returning({}), "{}", [("X-Correlation-Id", supplied)], request_id="gw-req-9")

    assert answer["headers"]["X-Correlation-Id"] == "gw-req-9"


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
    assert json.loads(answer["body"])["error"]["code"] == "request_too_large"


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


def test_an_unexpected_exception_is_a_500_envelope_and_its_text_is_not_logged(logs):
    answer = call(handler_returning(RuntimeError("customer Jane Doe 784199554586091")), json.dumps({"name": "a"}))

    assert answer["statusCode"] == 500
    assert json.loads(answer["body"])["error"]["code"] == "internal_error"
    written = logs()
    assert "RuntimeError" in written
    assert "784199554586091" not in written and "Jane" not in written
