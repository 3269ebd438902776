"""What every caller route does with bodies that are not a request: a clear 4xx, and no provider call."""

from __future__ import annotations

import json

import pytest

from local import template as cfn

WEBHOOK = "ConnectFiWebhookFunction"
BODY_ROUTES = sorted(
    logical_id
    for logical_id, spec in cfn.functions().items()
    if any(method == "POST" for method, _ in spec.api_events) and logical_id != WEBHOOK
)


@pytest.mark.parametrize("function", BODY_ROUTES)
def test_json_nested_ten_thousand_levels_deep_is_400(gateway, function):
    answer = gateway.call(function, raw="[" * 10_000 + "]" * 10_000)

    assert (answer.status, answer.error["code"]) == (400, "validation_error")
    assert answer.error["details"][0]["issue"] == "is nested too deeply"
    assert gateway.provider.requests() == []


@pytest.mark.parametrize("function", BODY_ROUTES)
def test_a_body_declared_as_form_data_is_415(gateway, function):
    spec = cfn.functions()[function]
    from local.api_events import proxy_event
    from local.functions import invoke

    method, path = spec.api_events[0]
    event = proxy_event(
        method, path, headers=[("Content-Type", "application/x-www-form-urlencoded")], body=json.dumps({"a": 1})
    )

    answer = invoke(spec, event)

    assert answer["statusCode"] == 415
    assert json.loads(answer["body"])["error"]["code"] == "unsupported_media_type"
    assert gateway.provider.requests() == []
