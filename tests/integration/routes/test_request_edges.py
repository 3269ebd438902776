"""What every caller route does with bodies that are not a request: a clear 4xx, and no provider call."""

from __future__ import annotations

import json
import re

import pytest

from kyc_gateway import errors
from project import template as cfn

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
def test_a_body_declared_as_form_data_is_not_json_so_400(gateway, function):
    spec = cfn.functions()[function]
    from local.api_events import proxy_event
    from local.functions import invoke

    method, path = spec.api_events[0]
    event = proxy_event(
        method, path, headers=[("Content-Type", "application/x-www-form-urlencoded")], body=json.dumps({"a": 1})
    )

    answer = invoke(spec, event)

    assert answer["statusCode"] == 400
    error = json.loads(answer["body"])["error"]
    assert (error["code"], error["message"]) == (
        "validation_error",
        "The request body must be JSON (Content-Type: application/json)",
    )
    assert error["details"] == [{"field": "Content-Type", "issue": "must be application/json", "type": "header"}]
    assert gateway.provider.requests() == []


@pytest.mark.parametrize("function", BODY_ROUTES)
@pytest.mark.parametrize("encoding", ["gzip", "br"])
def test_a_body_declared_compressed_is_400_naming_its_encoding_and_no_provider_call(gateway, function, encoding):
    from local.api_events import proxy_event
    from local.functions import invoke

    # Given a valid-looking JSON body declared compressed (the API decompresses nothing)
    spec = cfn.functions()[function]
    method, path = spec.api_events[0]
    headers = [("Content-Type", "application/json"), ("Content-Encoding", encoding)]
    event = proxy_event(method, path, headers=headers, body=json.dumps({"a": 1}))

    answer = json.loads(invoke(spec, event)["body"])["error"]

    # Then it is refused for its encoding, before any provider call; identity is no encoding at all
    assert (answer["code"], answer["message"]) == ("validation_error", "The request body must be sent uncompressed")
    assert answer["details"] == [{"field": "Content-Encoding", "issue": "must be absent or identity", "type": "header"}]
    assert gateway.provider.requests() == []
    identity = proxy_event(method, path, headers=[("Content-Encoding", "identity")], body=json.dumps({"a": 1}))
    refused = (json.loads(invoke(spec, identity)["body"]).get("error") or {}).get("details") or []
    assert all(detail.get("field") != "Content-Encoding" for detail in refused)


NOT_STRICT_JSON = {
    "nan": ('{"extra": NaN}', "NaN"),
    "infinity": ('{"extra": -Infinity}', "-Infinity"),
    "overflow": ('{"extra": 1e400}', "too large"),
    "integer overflow": ('{"extra": -1' + "0" * 400 + "}", "too large"),
    "duplicate key": ('{"extra": 1, "extra": 2}', "twice"),
    "lone surrogate": ('{"extra": "\\ud800"}', "surrogate"),
}


def with_field(body: dict, raw_field: str) -> str:
    """`body` as JSON with one more member written raw (what json.dumps would never write)."""
    return json.dumps(body)[:-1] + ", " + raw_field[1:-1] + "}"


@pytest.mark.parametrize("case", sorted(NOT_STRICT_JSON))
@pytest.mark.parametrize("function", BODY_ROUTES)
def test_json_the_gateway_cannot_forward_faithfully_is_400_before_anything_else(gateway, function, case):
    # Given a request the route would take, but with a member JSON does not allow or the gateway cannot send on
    raw_field, reason = NOT_STRICT_JSON[case]
    body = json.loads(json.loads((cfn.ROOT / "events" / f"{function}.json").read_text())["body"])

    answer = gateway.call(function, raw=with_field(body, raw_field), headers=[("Idempotency-Key", f"k-{case[:3]}")])

    # Then it is the caller's 400, naming why; nothing reached a provider, nothing was counted against one
    assert (answer.status, answer.error["code"]) == (400, "validation_error")
    assert reason in answer.error["details"][0]["issue"]
    assert gateway.provider.requests() == []


def test_a_key_refused_for_bad_json_is_free_for_the_corrected_request(gateway):
    from tests.integration.routes.test_signzy_repush import LOGIN, ONBOARDING_ID, REPUSH, SUCCESS, login_reply

    gateway.provider.reply(LOGIN, login_reply("token-1"))
    gateway.provider.reply(REPUSH, SUCCESS)
    key = [("Idempotency-Key", "fix-and-retry")]

    refused = gateway.call("SignzyRepushFunction", raw=f'{{"onboardingId": "{ONBOARDING_ID}", "x": NaN}}', headers=key)
    corrected = gateway.call("SignzyRepushFunction", {"onboardingId": ONBOARDING_ID}, headers=key)

    assert (refused.status, corrected.status) == (400, 200)


# the routes that refuse fields they do not take (CDP's lookup ignores them; its onboarding and connectFi's update
# forward the caller's body as sent)
CLOSED_BODY_ROUTES = [
    "AuditSearchFunction", "CladfyKraPinFunction", "ConnectFiDocumentsFunction", "ConnectFiIdentificationFunction",
    "ConnectFiStatusFunction", "SignzyRepushFunction",
]  # fmt: skip


@pytest.mark.parametrize("function", CLOSED_BODY_ROUTES)
def test_a_body_of_eighty_thousand_unknown_fields_gets_a_short_400_listing_the_first_and_how_many_more(
    gateway, function
):
    # Given 0.8 MB of fields no route takes: each would be one detail, megabytes in all (over Lambda's 6 MB answer)
    answer = gateway.call(function, raw="{" + ",".join(f'"x{n}": 0' for n in range(80_000)) + "}")

    assert (answer.status, answer.error["code"]) == (400, "validation_error")
    listed, more = answer.error["details"][:-1], answer.error["details"][-1]
    assert len(listed) == errors.DETAILS_LIMIT - 1
    assert more["type"] == "more" and re.fullmatch(r"and \d+ more, not listed", more["issue"])
    assert len(answer.text) < 20_000
    assert gateway.provider.requests() == []
