"""The local API's proxy events and the poller's SQS records have the shape SAM's own sample events have."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from local.api_events import proxy_event

SUPPORT = Path(__file__).resolve().parents[1] / "support"
SAM_PROXY = json.loads((SUPPORT / "sam_aws_proxy_event.json").read_text())  # sam local generate-event apigateway


def test_proxy_event_has_every_field_api_gateway_sends():
    event = proxy_event("POST", "/cladfy/krapin", headers=[("Content-Type", "application/json")], body="{}")

    assert set(SAM_PROXY) <= set(event)
    for key in ("requestId", "stage", "httpMethod", "resourcePath", "path", "identity", "requestTimeEpoch"):
        assert key in event["requestContext"]
    assert event["httpMethod"] == "POST" and event["path"] == "/cladfy/krapin"


def test_repeated_headers_and_query_keys_fill_single_and_multi_value_maps_like_api_gateway():
    event = proxy_event(
        "GET",
        "/connectfi/applications/iapp_1",
        resource="/connectfi/applications/{applicationId}",
        headers=[("Accept", "a"), ("Accept", "b"), ("X-Correlation-Id", "c-1")],
        query=[("page", "1"), ("page", "2"), ("q", "")],
        path_parameters={"applicationId": "iapp_1"},
    )

    assert event["headers"] == {"Accept": "b", "X-Correlation-Id": "c-1"}
    assert event["multiValueHeaders"]["Accept"] == ["a", "b"]
    assert event["queryStringParameters"] == {"page": "2", "q": ""}
    assert event["multiValueQueryStringParameters"] == {"page": ["1", "2"], "q": [""]}
    assert event["pathParameters"] == {"applicationId": "iapp_1"}
    assert event["resource"] == event["requestContext"]["resourcePath"] == "/connectfi/applications/{applicationId}"
    assert event["body"] is None and event["isBase64Encoded"] is False


def test_text_bodies_stay_text_and_binary_bodies_are_base64_encoded():
    text = proxy_event("POST", "/x", body='{"name": "Zo\u00eb"}'.encode())
    binary = proxy_event("POST", "/x", body=b"\xff\xfe\x00")

    assert (text["body"], text["isBase64Encoded"]) == ('{"name": "Zo\u00eb"}', False)
    assert binary["isBase64Encoded"] is True
    assert base64.b64decode(binary["body"]) == b"\xff\xfe\x00"


def test_absent_maps_are_null_as_api_gateway_sends_them():
    event = proxy_event("POST", "/x")

    for key in ("headers", "multiValueHeaders", "queryStringParameters", "pathParameters", "stageVariables"):
        assert event[key] is None


def test_handlers_answer_a_sam_generated_event_and_ours_alike(gateway):
    from local.functions import invoke
    from project import template as cfn

    spec = cfn.functions()["CladfyKraPinFunction"]
    sam_event = json.loads(json.dumps(SAM_PROXY))
    sam_event["body"] = base64.b64encode(b'{"pinnumber": "bad"}').decode()  # SAM's sample is base64-encoded
    ours = proxy_event("POST", "/cladfy/krapin", body='{"pinnumber": "bad"}')

    sam_answer, our_answer = invoke(spec, sam_event), invoke(spec, ours)

    assert sam_answer["statusCode"] == our_answer["statusCode"] == 400
    assert json.loads(sam_answer["body"])["error"]["details"] == json.loads(our_answer["body"])["error"]["details"]
