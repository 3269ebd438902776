"""What an audit record says beside its subjects (kyc_gateway.audit): who asked, what the provider answered, when;
and the canonical form of an ID number written with a colon in it."""

from __future__ import annotations

import datetime as dt

import pytest

from kyc_gateway import audit, clock, observability
from kyc_gateway.provider_response import ProviderResponse
from tests.support import emf


@pytest.fixture
def request_in_flight():
    """A request begun, with no provider call yet (ended after the test)."""
    observability.request_started(None)
    yield
    observability.record_outcome("cladfy.krapin", "ok", 200, 1.0)


def test_an_http_api_caller_without_a_user_arn_is_its_caller_id():
    event = {"requestContext": {"authorizer": {"iam": {"userArn": None, "callerId": "AIDAHTTPAPI"}}}}

    assert audit.caller_of(event) == "AIDAHTTPAPI"


def test_an_empty_or_non_text_principal_is_passed_over_for_the_next_one():
    for user_arn in ("", 7, {"arn": "x"}):
        event = {"requestContext": {"identity": {"userArn": user_arn, "caller": "AIDAREST"}}}
        assert audit.caller_of(event) == "AIDAREST", user_arn


def test_the_provider_status_is_its_answers_and_a_body_that_is_no_object_has_no_request_id(request_in_flight):
    # Given a provider answer that is an HTML error page, in a request whose calls are not listed
    answer = ProviderResponse("cladfy", 502, "<html>Bad gateway</html>", {})

    # Then the record holds the answer's status, and no request id
    assert audit.provider_outcome(answer) == {
        "providerStatus": 502,
        "providerCode": None,
        "providerRequestId": None,
        "providerCalls": [],
    }


def test_a_replayed_answer_that_is_a_json_array_has_no_request_id(request_in_flight):
    # Given the stored answer of a replay, a provider's JSON array (no object, no `body`)
    outcome = audit.provider_outcome([{"requestId": "r-1"}])

    assert (outcome["providerStatus"], outcome["providerRequestId"]) == (None, None)


def test_without_an_answer_the_provider_status_is_its_last_calls(request_in_flight):
    # Given an operation whose provider answered 503, then timed out, then answered 200
    for status in (503, "timeout", 200):
        observability.record_provider_call("connectfi", "status", status, 5.0)

    # When it ends without an answer the record can read (a failure of the gateway's own after the call)
    outcome = audit.provider_outcome()

    # Then the provider's status is the last call's
    assert outcome["providerStatus"] == 200
    assert [call["status"] for call in outcome["providerCalls"]] == [503, "timeout", 200]


def test_an_id_number_holding_a_colon_is_all_that_follows_the_types_colon():
    # Given one ID written two ways, its number holding a colon (CDP publishes no pattern for numbers)
    assert audit.canonical("cdp", "id", "4:784-1995:ab") == "cdp|id|4:7841995:AB"
    assert audit.canonical("cdp", "id", "4 : 7841995:AB") == "cdp|id|4:7841995:AB"
    assert audit.canonical("cdp", "id", "4:784:") == "cdp|id|4:784:"


def test_a_record_time_is_utc_with_microseconds_and_a_z_and_sorts_as_the_time_does():
    early = audit.utc_text(dt.datetime(999, 1, 2, 3, 4, 5, 6, tzinfo=dt.UTC))
    late = audit.utc_text(dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC))

    assert (early, late) == ("0999-01-02T03:04:05.000006Z", "2026-01-02T03:04:05.000000Z")
    assert early < late


def test_a_record_time_is_utc_whatever_the_machines_time_zone(machine_zone, monkeypatch, capsys):
    # Given a machine in Nairobi (UTC+3), at 22:13:20 UTC
    machine_zone("Africa/Nairobi")
    monkeypatch.setattr(clock, "now", lambda: 1_700_000_000.0)
    observability.request_started(None)

    # When a record is written (here one that could not be, so it is in the request's log line)
    audit.write({"provider": "cladfy", "correlationId": "corr-1"}, [], None, failure="no table")
    observability.record_outcome("cladfy.krapin", "ok", 200, 1.0)

    # Then its time is UTC's
    (line,) = emf.log_lines(capsys.readouterr().out, "request completed")
    (record,) = line[audit.NOT_WRITTEN]
    assert (record["time"], record["at"]) == ("2023-11-14T22:13:20.000000Z", "2023-11-14T22:13:20.000000Z#corr-1")
