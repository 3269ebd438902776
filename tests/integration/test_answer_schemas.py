"""Every route's success answer, as the functions give it for their sample events against the provider sandbox,
is valid under that route's success schema in the committed openapi.json (JSON Schema 2020-12, the dialect of
OpenAPI 3.1, with a real validator); and each schema holds the answer to what it promises: a required field
dropped or of another type is refused, a field the provider added is not."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from generators.openapi import DOCUMENT
from local.functions import invoke
from project import template as cfn

OPENAPI = json.loads(DOCUMENT.read_text())
API_FUNCTIONS = sorted(logical_id for logical_id, spec in cfn.functions().items() if spec.api_events)
# A sample event's variant that succeeds: none (the default sample), or the webhook's "accepted".
SUCCESS_SAMPLES = sorted(
    path
    for path in (cfn.ROOT / "events").glob("*.json")
    if path.name.split(".")[0] in API_FUNCTIONS and (path.name.count(".") == 1 or ".accepted." in path.name)
)
STORED = "ConnectFiApplicationFunction"  # answers only what an identification stored: its sample is a 404


def success_validator(logical_id: str) -> tuple[int, Draft202012Validator]:
    """The route's success status and a validator of its success schema, its references read in the document."""
    method, path = cfn.functions()[logical_id].api_events[0]
    responses = OPENAPI["paths"][path][method.lower()]["responses"]
    status = next(code for code in responses if code.startswith("2"))
    schema = responses[status]["content"]["application/json"]["schema"]
    return int(status), Draft202012Validator({**schema, "components": OPENAPI["components"]})


def answer_to(logical_id: str, event: dict[str, Any]) -> dict[str, Any]:
    status, _ = success_validator(logical_id)
    result = invoke(cfn.functions()[logical_id], event)
    assert result["statusCode"] == status, result["body"]
    return json.loads(result["body"])


def stored_application_event(application_id: str) -> dict[str, Any]:
    """The route's sample event, about an application that is stored."""
    event = json.loads((cfn.ROOT / "events" / f"{STORED}.not-found.json").read_text())
    event["path"] = event["path"].rsplit("/", 1)[0] + f"/{application_id}"
    event["pathParameters"] = {"applicationId": application_id}
    return event


def of_another_type(value: Any) -> Any:
    return 12345 if isinstance(value, str) or value is None else "text"


def assert_holds_its_promises(validator: Draft202012Validator, answer: dict[str, Any]) -> None:
    errors = [error.message for error in validator.iter_errors(answer)]
    assert errors == [], errors
    assert validator.is_valid({**answer, "fieldAddedByTheProvider": {"any": ["thing"]}})
    required = validator.schema["components"]["schemas"][validator.schema["$ref"].rsplit("/", 1)[1]].get("required")
    for field in required or ():
        without = {name: value for name, value in answer.items() if name != field}
        assert not validator.is_valid(without), f"{field} dropped"
        changed = copy.deepcopy(answer) | {field: of_another_type(answer[field])}
        assert not validator.is_valid(changed), f"{field} of another type"


def test_every_api_route_has_its_success_answer_checked():
    assert {path.name.split(".")[0] for path in SUCCESS_SAMPLES} | {STORED} == set(API_FUNCTIONS)


@pytest.mark.parametrize("sample", SUCCESS_SAMPLES, ids=[path.name for path in SUCCESS_SAMPLES])
def test_the_sample_events_success_answer_is_valid_under_its_routes_schema(sandboxed_gateway, sample: Path):
    # Given a route's sample event, When its function answers it against the sandbox
    logical_id = sample.name.split(".")[0]
    answer = answer_to(logical_id, json.loads(sample.read_text()))

    # Then the answer is what openapi.json says the route answers, and the schema holds it to that
    assert_holds_its_promises(success_validator(logical_id)[1], answer)


def test_the_stored_applications_answer_is_valid_under_its_routes_schema(sandboxed_gateway):
    # Given an application an identification started (and the gateway stored)
    started = (cfn.ROOT / "events" / "ConnectFiIdentificationFunction.json").read_text()
    application_id = answer_to("ConnectFiIdentificationFunction", json.loads(started))["data"]["applicationId"]

    # When the stored-application route is asked for it
    answer = answer_to(STORED, stored_application_event(application_id))

    # Then its answer is the route's documented one
    assert answer["applicationId"] == application_id
    assert_holds_its_promises(success_validator(STORED)[1], answer)


# Success answers beyond the samples: each route's other documented shapes (a company's PIN, a business customer
# with its related person, an application sent to review or completed asynchronously).
VARIANTS = [
    pytest.param("CladfyKraPinFunction", {"pinnumber": "P051234567X"}, id="cladfy company PIN"),
    pytest.param("CladfyKraPinFunction", {"pinnumber": " a004416331m "}, id="cladfy PIN as typed"),
    pytest.param(
        "ConnectFiIdentificationFunction",
        {"customerId": "cstab_2rw49JIoVAl3PCsaXdNoSS", "reference": "extRefBApp100"},
        id="connectfi business",
    ),
    pytest.param(
        "ConnectFiIdentificationFunction",
        {"customerId": "cstap_5mBHiIx3QbkvEpjGfKsI9k", "reference": "ASYNCschema1"},
        id="connectfi waiting review",
    ),
]


@pytest.mark.parametrize(("logical_id", "body"), VARIANTS)
def test_other_success_answers_are_valid_under_their_routes_schema(sandboxed_gateway, logical_id, body):
    # Given a route's sample event with another valid body, When its function answers it against the sandbox
    event = json.loads((cfn.ROOT / "events" / f"{logical_id}.json").read_text()) | {"body": json.dumps(body)}
    answer = answer_to(logical_id, event)

    # Then that answer too is the route's documented one
    assert_holds_its_promises(success_validator(logical_id)[1], answer)


@pytest.mark.parametrize("data", [None, "uploaded", {"id": "doc_1", "uploadStatus": True}, []], ids=repr)
def test_a_document_upload_answer_is_valid_whatever_connectfis_data_is(data):
    # Given an upload answer as the gateway passes it on: connectFi's 200 with a `data` of its own (unpublished;
    # null and a string are seen), and the document's id and upload status the gateway names
    answer = {"code": "0", "data": data, "requestId": "req-1", "documentId": "doc_1", "uploadStatus": True}

    # Then the route's success schema takes it, and still holds what the gateway adds
    _, validator = success_validator("ConnectFiDocumentsFunction")
    assert_holds_its_promises(validator, answer)
