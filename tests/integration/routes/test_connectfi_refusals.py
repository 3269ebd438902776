"""connectFi's refusals, as the gateway reads them: which are its own configuration's (the callback field's
spelling), which are the caller's, and what of connectFi's validation context reaches the caller."""

from __future__ import annotations

import json

import pytest

from tests.integration.routes.test_connectfi import (
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
from tests.integration.routes.test_connectfi_answers import STATUS_BODY, identify_answered
from tests.support.emf import log_lines
from tests.support.fake_provider import Reply


def refusal(keyword: str = "additionalProperties", params: object = None) -> list[dict]:
    """connectFi's requestValidateError context: one ajv error."""
    params = {"additionalProperty": "webhookUrl"} if params is None else params
    return [
        {
            "instancePath": "",
            "schemaPath": f"#/{keyword}",
            "keyword": keyword,
            "params": params,
            "message": "must NOT have additional properties",
        }
    ]


def test_connectfi_refusing_the_callback_field_the_gateway_is_pinned_to_is_its_configurations_fault(
    gateway, monkeypatch
):
    monkeypatch.setenv("CONNECTFI_WEBHOOK_FIELD", "webhookUrl")
    gateway.new_instance()

    answer = identify_answered(gateway, connectfi_error(400, "requestValidateError", "validation", refusal()))

    assert len(gateway.provider.requests(IDENTIFY)) == 1

    error = answer.error
    assert (answer.status, error["code"], error["provider"]) == (500, "configuration_error", "connectfi")
    assert (error["providerStatus"], error["providerCode"], error["providerRequestId"]) == (
        400,
        "requestValidateError",
        "req-7",
    )
    assert error["details"] == refusal()


def test_a_refusal_of_the_pinned_callback_field_in_ajvs_words_without_context_names_those_words_in_its_details(
    gateway, monkeypatch
):
    # Given a gateway pinned to webhookUrl, and a connectFi refusing it in ajv's words with no list of errors
    monkeypatch.setenv("CONNECTFI_WEBHOOK_FIELD", "webhookUrl")
    gateway.new_instance()
    ajv = "must NOT have additional properties"

    # When an identification is started
    answer = identify_answered(gateway, connectfi_error(400, "requestValidateError", ajv, None))

    # Then it is the gateway's configuration's fault, and its details say what connectFi refused, in its words
    assert (answer.status, answer.error["code"]) == (500, "configuration_error")
    assert answer.error["details"] == [{"keyword": "additionalProperties", "message": ajv}]
    assert len(gateway.provider.requests(IDENTIFY)) == 1


def test_by_default_a_refused_callback_field_is_sent_once_more_under_connectfis_other_spelling(gateway):
    # Given a connectFi whose schema refuses webhookUrl as an unknown property (so it started nothing)
    gateway.provider.reply(LOGIN, login_reply())
    refused = connectfi_error(400, "requestValidateError", "validation", refusal())
    gateway.provider.reply(IDENTIFY, refused, application())

    # When an identification is started, and then another by the same instance
    first = gateway.call(IDENTIFY_FN, IDENTIFICATION)
    second = gateway.call(IDENTIFY_FN, IDENTIFICATION)

    # Then it is sent again as webhookURL, which starts it; the instance sends webhookURL from then on
    assert (first.status, second.status) == (200, 200)
    sent = [set(request.json()) - {"customerId", "reference"} for request in gateway.provider.requests(IDENTIFY)]
    assert sent == [{"webhookUrl"}, {"webhookURL"}, {"webhookURL"}]


@pytest.mark.parametrize("context", [None, "validation failed", []], ids=["null", "a string", "an empty list"])
def test_a_refusal_in_ajvs_words_without_its_context_is_read_as_the_callback_fields_and_sent_once_more(
    gateway, context
):
    # Given a connectFi whose schema refuses webhookUrl in ajv's words, with no list of errors in its context
    gateway.provider.reply(LOGIN, login_reply())
    unexplained = connectfi_error(400, "requestValidateError", "must NOT have additional properties", context)
    gateway.provider.reply(IDENTIFY, unexplained, application())

    # When an identification without a callback URL of the caller's is started
    answer = gateway.call(IDENTIFY_FN, IDENTIFICATION)

    # Then the unknown property can only be the gateway's own callback field: sent again as webhookURL, it starts
    assert answer.status == 200
    sent = [set(request.json()) - {"customerId", "reference"} for request in gateway.provider.requests(IDENTIFY)]
    assert sent == [{"webhookUrl"}, {"webhookURL"}]


@pytest.mark.parametrize(
    "message", ["must match pattern", "data/user must NOT have additional properties"], ids=["other", "nested"]
)
def test_a_refusal_without_context_in_other_words_is_the_callers_to_see(gateway, message):
    # Given a schema refusal naming nothing, in other words than an unknown property's at the body's top level
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(IDENTIFY, connectfi_error(400, "requestValidateError", message, None))

    answer = gateway.call(IDENTIFY_FN, IDENTIFICATION)

    # Then it is not read as the callback field's: sent once, connectFi's verdict on the request
    assert (answer.status, answer.error["code"], answer.error["details"]) == (422, "provider_validation_failed", [])
    assert len(gateway.provider.requests(IDENTIFY)) == 1


def test_a_refusal_of_the_callback_field_answered_200_is_connectfi_failing_and_never_sent_again(gateway):
    # Given connectFi answering an identification HTTP 200 with its schema's refusal of webhookUrl: not its error
    # (those come as 4xx), so it may have started the application all the same
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(IDENTIFY, connectfi_error(200, "requestValidateError", "validation", refusal()))
    key = [("Idempotency-Key", "refusal-200")]

    first = gateway.call(IDENTIFY_FN, IDENTIFICATION, headers=key)
    again = gateway.call(IDENTIFY_FN, IDENTIFICATION, headers=key)

    # Then it is not sent again under the other spelling, nor under the key
    assert (first.status, first.error["code"]) == (502, "provider_error")
    assert (again.status, again.error["code"]) == (409, "idempotency_outcome_unknown")
    assert len(gateway.provider.requests(IDENTIFY)) == 1


def test_an_instance_settled_on_one_spelling_follows_connectfi_back_to_the_other_and_says_so(gateway, logs):
    # Given an instance that settled on webhookURL (connectFi refused webhookUrl), then a connectFi refusing
    # webhookURL as an unknown property (it changed its reading)
    gateway.provider.reply(LOGIN, login_reply())
    refused_url = connectfi_error(400, "requestValidateError", "validation", refusal())
    refused_upper = connectfi_error(
        400, "requestValidateError", "validation", refusal(params={"additionalProperty": "webhookURL"})
    )
    gateway.provider.reply(IDENTIFY, refused_url, application(), refused_upper, application())
    gateway.call(IDENTIFY_FN, IDENTIFICATION)

    # When the instance starts another identification
    answer = gateway.call(IDENTIFY_FN, IDENTIFICATION)

    # Then it is sent again as webhookUrl, which starts it, and each change of spelling is logged with its field
    assert answer.status == 200
    sent = [set(request.json()) - {"customerId", "reference"} for request in gateway.provider.requests(IDENTIFY)]
    assert sent == [{"webhookUrl"}, {"webhookURL"}, {"webhookURL"}, {"webhookUrl"}]
    settled = log_lines(logs(), "connectfi webhook field settled")
    assert [(line["level"], line["provider"], line["field"]) for line in settled] == [
        ("INFO", "connectfi", "webhookURL"),
        ("INFO", "connectfi", "webhookUrl"),
    ]


@pytest.mark.parametrize(
    ("resent_answer", "status", "next_first"),
    [
        (connectfi_error(400, "customerNotFound", "Customer not found"), 404, "webhookURL"),  # past its schema check
        (  # still the schema check: no proof that connectFi read webhookURL
            connectfi_error(400, "requestValidateError", "validation", refusal(params={"additionalProperty": "x"})),
            422,
            "webhookUrl",
        ),
        # connectFi failing, not refusing: a documented code under a 5xx, an undocumented one under a 4xx
        (connectfi_error(500, "customerNotFound", "Customer not found"), 502, "webhookUrl"),
        (connectfi_error(400, "somethingNew", "?"), 502, "webhookUrl"),
    ],
    ids=["documented refusal", "schema check", "documented code under a 5xx", "undocumented code"],
)
def test_a_refusal_of_the_resent_identification_settles_the_spelling_only_past_the_schema_check(
    gateway, resent_answer, status, next_first
):
    # Given a connectFi refusing webhookUrl as an unknown property, then refusing the resent identification
    refused = connectfi_error(400, "requestValidateError", "validation", refusal())
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(IDENTIFY, refused, resent_answer, application())

    # When an identification is started, and then another by the same instance
    first = gateway.call(IDENTIFY_FN, IDENTIFICATION)
    gateway.call(IDENTIFY_FN, IDENTIFICATION)

    # Then the first is answered as connectFi refused the resend; the second starts with the spelling it proved read
    assert first.status == status
    sent = [set(request.json()) - {"customerId", "reference"} for request in gateway.provider.requests(IDENTIFY)]
    assert sent[:3] == [{"webhookUrl"}, {"webhookURL"}, {next_first}]


UNNAMED = {
    "no params": [{key: value for key, value in refusal()[0].items() if key != "params"}],
    "params not ajv's": refusal(params="webhookUrl"),
    "params naming nothing": refusal(params={}),
    "an empty name": refusal(params={"additionalProperty": ""}),
}


@pytest.mark.parametrize("context", UNNAMED.values(), ids=UNNAMED.keys())
def test_an_unknown_property_of_the_body_connectfi_does_not_name_is_taken_as_the_callback_field(gateway, context):
    # Given a connectFi whose schema refuses a property of the body it does not name: the caller cannot have sent
    # one (the gateway refuses unknown fields), so it is the callback field's spelling
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(IDENTIFY, connectfi_error(400, "requestValidateError", "validation", context), application())

    # When an identification is started
    answer = gateway.call(IDENTIFY_FN, IDENTIFICATION)

    # Then it is sent once more under the other spelling, which starts it: never the caller's 422
    assert answer.status == 200
    sent = [set(request.json()) - {"customerId", "reference"} for request in gateway.provider.requests(IDENTIFY)]
    assert sent == [{"webhookUrl"}, {"webhookURL"}]


def test_connectfi_refusing_both_spellings_without_naming_them_is_connectfi_failing(gateway):
    gateway.provider.reply(LOGIN, login_reply())
    unnamed = connectfi_error(400, "requestValidateError", "validation", refusal(params={}))
    gateway.provider.reply(IDENTIFY, unnamed, unnamed)

    answer = gateway.call(IDENTIFY_FN, IDENTIFICATION)

    assert (answer.status, answer.error["code"]) == (502, "provider_error")
    assert answer.error["message"] == "connectFi refuses both webhookUrl and webhookURL"
    assert len(gateway.provider.requests(IDENTIFY)) == 2


def test_connectfi_refusing_both_spellings_of_the_callback_field_is_connectfi_failing(gateway):
    # Given a connectFi that refuses webhookUrl, then webhookURL, as unknown properties
    gateway.provider.reply(LOGIN, login_reply())
    first, second = refusal(), refusal(params={"additionalProperty": "webhookURL"})
    gateway.provider.reply(
        IDENTIFY,
        connectfi_error(400, "requestValidateError", "validation", first),
        connectfi_error(400, "requestValidateError", "validation", second),
    )

    # When an identification is started
    answer = gateway.call(IDENTIFY_FN, IDENTIFICATION)

    # Then connectFi contradicts its own documents: 502, never the caller's fault, and no third attempt
    error = answer.error
    assert (answer.status, error["code"], error["providerCode"]) == (502, "provider_error", "requestValidateError")
    assert error["message"] == "connectFi refuses both webhookUrl and webhookURL"
    assert error["details"] == second
    assert len(gateway.provider.requests(IDENTIFY)) == 2


@pytest.mark.parametrize(
    "context",
    [
        refusal(params={"additionalProperty": "reference"}),  # another field
        refusal(keyword="pattern"),  # not an unknown property
        [refusal()[0] | {"instancePath": "/customerId", "params": {}}],  # an unnamed one, not of the body itself
    ],
)
def test_any_other_validation_refusal_is_the_callers(gateway, context):
    answer = identify_answered(gateway, connectfi_error(400, "requestValidateError", "validation", context))

    assert (answer.status, answer.error["code"]) == (422, "provider_validation_failed")
    assert len(gateway.provider.requests(IDENTIFY)) == 1  # not the callback field: never sent again


def value_refusal(field: str = "webhookUrl") -> list[dict]:
    """connectFi's requestValidateError ruling on the value of the body's `field` (a pattern it does not match)."""
    return [
        {
            "instancePath": f"/{field}",
            "schemaPath": "#/properties/webhookUrl/pattern",
            "keyword": "pattern",
            "params": {"pattern": "^https://"},
            "message": 'must match pattern "^https://"',
        }
    ]


def test_connectfi_refusing_the_callback_url_the_gateway_chose_is_its_configurations_fault(gateway):
    # Given a caller that sent no callback URL, and a connectFi whose schema refuses the value of the gateway's own
    answer = identify_answered(gateway, connectfi_error(400, "requestValidateError", "validation", value_refusal()))

    # Then it is the gateway's configuration (PUBLIC_BASE_URL) failing, never the caller's 422, and it is not resent
    error = answer.error
    assert (answer.status, error["code"], error["providerCode"]) == (500, "configuration_error", "requestValidateError")
    assert error["message"] == "connectFi refuses the gateway's own webhookUrl (PUBLIC_BASE_URL)"
    assert error["details"] == value_refusal()
    assert len(gateway.provider.requests(IDENTIFY)) == 1


def test_connectfi_refusing_the_callback_url_of_the_gateways_other_spelling_is_its_configurations_fault(gateway):
    # Given a connectFi that refuses webhookUrl as unknown, then the value the gateway sent as webhookURL
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(
        IDENTIFY,
        connectfi_error(400, "requestValidateError", "validation", refusal()),
        connectfi_error(400, "requestValidateError", "validation", value_refusal("webhookURL")),
    )

    answer = gateway.call(IDENTIFY_FN, IDENTIFICATION)

    assert (answer.status, answer.error["code"]) == (500, "configuration_error")
    assert answer.error["message"] == "connectFi refuses the gateway's own webhookURL (PUBLIC_BASE_URL)"
    assert len(gateway.provider.requests(IDENTIFY)) == 2

    # And its schema ruled on webhookURL's value, so it reads that spelling: the instance sends it first from now on
    gateway.provider.reply(IDENTIFY, application())
    assert gateway.call(IDENTIFY_FN, IDENTIFICATION).status == 200
    assert "webhookURL" in gateway.provider.requests(IDENTIFY)[2].json()


def test_a_refusal_of_the_callers_fields_beside_the_gateways_callback_url_is_the_callers(gateway):
    # Given connectFi refusing the caller's reference and, in the same answer, the gateway's own callback URL
    reference = {**value_refusal()[0], "instancePath": "/reference", "schemaPath": "#/properties/reference/pattern"}
    context = [reference, *value_refusal()]

    answer = identify_answered(gateway, connectfi_error(400, "requestValidateError", "validation", context))

    # Then the caller sees its own refusal (with the rest of connectFi's), never a configuration error
    assert (answer.status, answer.error["code"], answer.error["details"]) == (
        422,
        "provider_validation_failed",
        context,
    )


def test_connectfi_refusing_a_callback_url_the_caller_sent_is_the_callers(gateway):
    # Given a caller's own callback URL (on an allowed host), refused by connectFi's schema
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(IDENTIFY, connectfi_error(400, "requestValidateError", "validation", value_refusal()))

    answer = gateway.call(IDENTIFY_FN, {**IDENTIFICATION, "webhookUrl": "https://gateway.test/hook"})

    assert (answer.status, answer.error["code"]) == (422, "provider_validation_failed")
    assert answer.error["details"] == value_refusal()


def test_only_ajvs_own_fields_of_connectfis_validation_context_reach_the_caller(gateway):
    # Given a context with a submitted value in it (ajv's `data`), and an entry that is not an ajv error
    (entry,) = refusal(params={"additionalProperty": "reference"})
    context = [entry | {"data": "a submitted value"}, "not an ajv error", {"keyword": "required"}]

    answer = identify_answered(gateway, connectfi_error(400, "requestValidateError", "validation", context))

    assert answer.error["details"] == [entry, {"keyword": "required"}]
    assert "a submitted value" not in answer.text


@pytest.mark.parametrize("context", [None, "not a list", {"keyword": "required"}])
def test_a_validation_context_that_is_not_a_list_gives_no_details(gateway, context):
    answer = identify_answered(gateway, connectfi_error(400, "requestValidateError", "validation", context))

    assert (answer.status, answer.error["details"]) == (422, [])


def test_a_numeric_error_code_is_named_as_text(gateway):
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(STATUS, Reply(400, json.dumps({"requestId": "req-7", "code": 4001}).encode()))

    answer = gateway.call(STATUS_FN, STATUS_BODY)

    assert (answer.status, answer.error["code"], answer.error["providerCode"]) == (502, "provider_error", "4001")


def test_an_error_answer_without_a_code_names_no_provider_code(gateway):
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(STATUS, Reply(400, json.dumps({"requestId": "req-7", "message": "bad"}).encode()))

    answer = gateway.call(STATUS_FN, STATUS_BODY)

    assert (answer.status, answer.error["code"], answer.error["providerCode"]) == (502, "provider_error", None)


def test_a_context_connectfi_gives_with_another_documented_code_is_not_passed_on_as_details(gateway):
    # Given connectFi's applicationNotFound carrying an ajv-shaped context (only a validation refusal's is the
    # caller's field errors)
    context = [{"instancePath": "/applicationId", "keyword": "format", "message": "must match format"}]
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(STATUS, connectfi_error(404, "applicationNotFound", "not found", context))

    answer = gateway.call(STATUS_FN, STATUS_BODY)

    assert (answer.status, answer.error["code"], answer.error["details"]) == (404, "application_not_found", [])
