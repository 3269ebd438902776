"""What a request writes: one `request completed` line with its provider calls, and its metrics in EMF documents
whose series (metric name, dimension set, namespace) are the ones the alarms and the dashboard watch."""

from __future__ import annotations

import json

import pytest

from kyc_gateway import observability
from tests.support.emf import documents, log_lines, metrics


def series(document: dict) -> set[tuple[str, tuple[str, ...], tuple[str, ...]]]:
    """(metric, its dimension names, their values) for every metric the document declares."""
    return {
        (metric.name, tuple(name for name, _ in metric.dimensions), tuple(value for _, value in metric.dimensions))
        for metric in metrics(json.dumps(document))
    }


def test_a_successful_request_writes_one_log_line_and_one_metrics_document(logs):
    # Given a request with one provider call
    observability.request_started(None)
    observability.record_provider_call("cladfy", "kra_pin", 200, 12.34)

    # When it completes
    observability.record_outcome("cladfy.krapin", "ok", 200, 15.26)

    # Then one EMF document carries the request's count and the call's latency, each with its usual dimensions
    written = logs()
    (document,) = documents(written)
    assert series(document) == {
        ("ProviderLatency", ("Provider", "Operation", "service"), ("cladfy", "kra_pin", "kyc-gateway")),
        ("Requests", ("Route", "Code", "service"), ("cladfy.krapin", "ok", "kyc-gateway")),
    }
    assert (document["ProviderLatency"], document["Requests"]) == ([12.34], [1.0])
    # And one log line carries the outcome and every provider call
    (line,) = [json.loads(line) for line in written.splitlines() if '"message"' in line]
    assert line["message"] == "request completed"
    assert {key: line[key] for key in ("route", "status", "code", "elapsed_ms")} == {
        "route": "cladfy.krapin",
        "status": 200,
        "code": "ok",
        "elapsed_ms": 15.3,
    }
    assert line["provider_calls"] == [{"provider": "cladfy", "operation": "kra_pin", "status": 200, "elapsed_ms": 12.3}]


def test_metrics_whose_dimension_values_disagree_go_to_separate_documents(logs):
    # Given a request that fetched a token, retried its call and counted a failure signal
    observability.request_started(None)
    observability.record_provider_call("cdp", "token", 200, 10.0)
    observability.record_provider_call("cdp", "customer_lookup", 503, 20.0)
    observability.record_provider_call("cdp", "customer_lookup", "timeout", 30.0)
    observability.count("ApplicationsNotRecorded", Provider="cdp")

    # When it completes failed by its provider's token
    observability.record_outcome("cdp.lookup", "token_unavailable", 502, 70.0, "cdp")

    # Then every datapoint is written once, in the series it always had, and no document mixes two values of one name
    written = documents(logs())
    assert len(written) == 2  # the two operations' latencies cannot share an "Operation" member
    found = set().union(*(series(document) for document in written))
    assert found == {
        ("ProviderLatency", ("Provider", "Operation", "service"), ("cdp", "token", "kyc-gateway")),
        ("ProviderLatency", ("Provider", "Operation", "service"), ("cdp", "customer_lookup", "kyc-gateway")),
        ("ApplicationsNotRecorded", ("Provider", "service"), ("cdp", "kyc-gateway")),
        ("Requests", ("Route", "Code", "service"), ("cdp.lookup", "token_unavailable", "kyc-gateway")),
        ("ProviderFailures", ("Provider", "service"), ("cdp", "kyc-gateway")),
        ("TokenFailures", ("Provider", "service"), ("cdp", "kyc-gateway")),
    }
    latencies = sorted(value for document in written for value in document.get("ProviderLatency", []))
    assert latencies == [10.0, 20.0, 30.0]


def test_outside_a_request_calls_and_counts_are_written_at_once(logs):
    # Given no request in flight (a request completed before)
    observability.request_started(None)
    observability.record_outcome("cladfy.krapin", "ok", 200, 1.0)
    before = len(logs())

    # When a count is made
    observability.count("WebhooksNotQueued", Provider="connectfi")

    # Then it is written immediately, in its own document
    (document,) = documents(logs()[before:])
    assert series(document) == {("WebhooksNotQueued", ("Provider", "service"), ("connectfi", "kyc-gateway"))}


def test_a_request_with_many_provider_calls_stays_within_cloudwatchs_limits(logs):
    # Given a scheduled run that made 250 status calls
    observability.request_started(None)
    for number in range(250):
        observability.record_provider_call("connectfi", "status", 200, float(number))

    # When it completes
    observability.record_outcome("connectfi.reconcile", "ok", 200, 9000.0)

    # Then no document carries more than 100 values of a metric, and every datapoint is written once
    written = logs()
    latencies = [document["ProviderLatency"] for document in documents(written)]
    assert max(len(values) for values in latencies) == 100
    assert sorted(value for values in latencies for value in values) == [float(n) for n in range(250)]
    # And the log line lists the first 100 calls and counts the others
    (line,) = [json.loads(line) for line in written.splitlines() if '"message"' in line]
    assert (len(line["provider_calls"]), line["provider_calls_not_listed"]) == (100, 150)


@pytest.mark.parametrize(
    ("code", "counted"),
    [
        ("ok", set()),
        ("validation_error", set()),
        ("kra_pin_not_found", set()),  # the provider answered: a subject it does not know
        ("provider_error", {"ProviderFailures"}),
        ("circuit_open", {"ProviderFailures"}),
        ("rate_limited", {"ProviderFailures"}),  # still limited after the gateway's own retries
        ("token_unavailable", {"ProviderFailures", "TokenFailures"}),
        ("provider_auth_failed", {"ProviderFailures", "TokenFailures"}),
    ],
)
def test_only_a_provider_failing_counts_against_it_and_only_its_token_as_a_token_failure(logs, code, counted):
    # Given a request to a provider, ending with this code
    observability.request_started(None)

    observability.record_outcome("cladfy.krapin", code, 502, 1.0, "cladfy")

    # Then the provider's alarms see it only when the provider failed
    written = {metric.name: metric for metric in metrics(logs())}
    assert set(written) - {"Requests"} == counted
    for name in counted:
        assert (written[name].dimension_values["Provider"], written[name].unit) == ("cladfy", "Count")


@pytest.mark.parametrize(("calls", "not_listed"), [(100, None), (101, 1)])
def test_the_log_line_counts_the_calls_it_does_not_list_only_when_there_are_some(logs, calls, not_listed):
    observability.request_started(None)
    for number in range(calls):
        observability.record_provider_call("connectfi", "status", 200, float(number))

    observability.record_outcome("connectfi.reconcile", "ok", 200, 1.0)

    (line,) = log_lines(logs(), "request completed")
    assert (len(line["provider_calls"]), line.get("provider_calls_not_listed")) == (min(calls, 100), not_listed)


def test_a_note_goes_on_the_requests_line_or_outside_a_request_on_a_line_of_its_own(logs):
    # Given a note made during a request, and one made outside any
    observability.request_started(None)
    observability.note("audit_records_not_written", {"at": "a"})
    observability.note("audit_records_not_written", {"at": "b"})
    observability.record_outcome("cladfy.krapin", "ok", 200, 1.0)
    observability.note("audit_records_not_written", {"at": "c"})

    # Then the request's line lists its notes, and the other is an error line of its own
    written = logs()
    (line,) = log_lines(written, "request completed")
    assert line["audit_records_not_written"] == [{"at": "a"}, {"at": "b"}]
    (alone,) = log_lines(written, "audit_records_not_written")
    assert (alone["level"], alone["audit_records_not_written"]) == ("ERROR", [{"at": "c"}])


def test_a_provider_call_outside_a_request_is_written_at_once_with_its_latency_in_milliseconds(logs):
    # Given no request in flight (a token renewed between requests)
    observability.request_started(None)
    observability.record_outcome("cladfy.krapin", "ok", 200, 1.0)
    before = len(logs())

    # When a provider call is made
    observability.record_provider_call("cdp", "token", 200, 12.34)

    # Then its latency is written at once, in milliseconds, and its own log line says what it was
    written = logs()[before:]
    (latency,) = metrics(written)
    assert (latency.name, latency.unit, latency.values) == ("ProviderLatency", "Milliseconds", (12.34,))
    assert latency.dimension_values == {"Provider": "cdp", "Operation": "token", "service": "kyc-gateway"}
    (line,) = log_lines(written, "provider call")
    assert (line["provider"], line["operation"], line["status"], line["elapsed_ms"]) == ("cdp", "token", 200, 12.3)


class LambdaContext:
    def get_remaining_time_in_millis(self) -> int:
        return 5000


def test_a_request_starts_with_the_deadline_its_lambda_context_gives(logs):
    from kyc_gateway import clock

    # When a request starts with 5 s left in its Lambda
    observability.request_started(LambdaContext())
    try:
        # Then its provider calls have those 5 s, less the margin kept to answer
        assert clock.time_left() == pytest.approx(5 - clock.ANSWER_MARGIN_SECONDS, abs=0.5)
    finally:
        observability.record_outcome("cladfy.krapin", "ok", 200, 1.0)
        clock.start_request(None)
