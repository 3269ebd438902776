"""X-Request-Purpose (docs/audit.md): why a provider is asked, kept in the operation's audit record and answered by
the search; an opaque code or nothing, and, where the deployment requires one (`RequireRequestPurpose`), never
nothing on a route that calls a provider."""

from __future__ import annotations

import json

import pytest

from local.functions import cold_start
from project import template as cfn
from tests.support.audit import call_as, records, records_of, search
from tests.support.routes import provider_routes

CALLER = "arn:aws:sts::123456789012:assumed-role/onboarding-service/task-7"


WHY_PIN = "A004416331M"  # a PIN the sandbox finds


def test_the_callers_purpose_is_kept_in_the_record_and_answered_by_the_search(sandboxed_gateway, aws, physical_ids):
    # Given a caller saying why it asks Cladfy (a purpose code and its case)
    purpose = [("X-Request-Purpose", "periodic-review:case-7781")]

    # When it asks
    answer = call_as(
        "CladfyKraPinFunction", {"pinnumber": WHY_PIN}, caller=CALLER, correlation_id="why", headers=purpose
    )

    # Then the operation's record keeps it, and a compliance search of the subject answers it
    assert answer["statusCode"] == 200, answer["body"]
    (item,) = records_of(aws, physical_ids, "why")
    assert item["purpose"] == "periodic-review:case-7781"
    status, found = search({"provider": "cladfy", "subject": WHY_PIN})
    assert status == 200 and [record["purpose"] for record in found["records"]] == ["periodic-review:case-7781"]


@pytest.mark.parametrize("purpose", ["review of John Smith", "", "-leading-dash", "x" * 129])
def test_a_purpose_that_is_not_an_opaque_code_is_400_and_nothing_is_sent_or_recorded(
    sandboxed_gateway, aws, physical_ids, purpose
):
    before = sandboxed_gateway.provider.call_count("cladfy", "krapin")
    headers = [("X-Request-Purpose", purpose)]

    answer = call_as(
        "CladfyKraPinFunction", {"pinnumber": WHY_PIN}, caller=CALLER, correlation_id="bad-why", headers=headers
    )

    error = json.loads(answer["body"])["error"]
    assert (answer["statusCode"], error["code"]) == (400, "validation_error")
    assert [detail["field"] for detail in error["details"]] == ["X-Request-Purpose"]
    assert sandboxed_gateway.provider.call_count("cladfy", "krapin") == before
    assert records(aws, physical_ids) == []


@pytest.fixture
def purpose_required(sandboxed_gateway, monkeypatch):
    """The deployment's RequireRequestPurpose=true, as the template gives it to the functions (a new instance)."""
    monkeypatch.setenv("REQUIRE_REQUEST_PURPOSE", "1")
    cold_start()
    return sandboxed_gateway


@pytest.mark.parametrize("route", provider_routes(), ids=str)
def test_where_a_purpose_is_required_a_provider_route_without_one_is_400_and_nothing_is_sent(
    purpose_required, aws, physical_ids, route
):
    # When a provider route is called without X-Request-Purpose
    answer = call_as(route.function, route.body, caller=CALLER, correlation_id="no-why")

    # Then it is refused naming the header, and nothing is sent or recorded
    error = json.loads(answer["body"])["error"]
    assert (answer["statusCode"], error["code"]) == (400, "validation_error"), answer["body"]
    assert [(detail["field"], detail["type"]) for detail in error["details"]] == [("X-Request-Purpose", "header")]
    assert "required" in error["details"][0]["issue"]
    assert not any(purpose_required.provider.calls_by_provider().values())
    assert records(aws, physical_ids) == []

    # And with one, it is answered and the record says why
    purpose = [("X-Request-Purpose", "onboarding:case-12")]
    answer = call_as(route.function, route.body, caller=CALLER, correlation_id="why-given", headers=purpose)
    assert answer["statusCode"] == 200, answer["body"]
    assert {item["purpose"] for item in records_of(aws, physical_ids, "why-given")} == {"onboarding:case-12"}


def test_where_a_purpose_is_required_a_route_that_calls_no_provider_does_not_ask_for_one(purpose_required):
    # When the compliance search (which records itself, and calls no provider) is asked without a purpose
    status, found = search({"provider": "cladfy", "subject": WHY_PIN})

    # Then it answers
    assert status == 200, found


def test_the_template_gives_every_provider_route_and_only_them_the_deployments_choice(physical_ids):
    given = {
        logical_id
        for logical_id in cfn.functions()
        if "REQUIRE_REQUEST_PURPOSE" in cfn.function_environment(logical_id, physical_ids, {"Environment": "dev"})
    }
    assert given == {route.function for route in provider_routes()}
    for logical_id in given:
        required = {"Environment": "dev", "RequireRequestPurpose": "true"}
        environment = cfn.function_environment(logical_id, physical_ids, required)
        assert environment["REQUIRE_REQUEST_PURPOSE"] == "1"  # the parameter, through its condition
