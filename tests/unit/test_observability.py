"""What a request writes: one `request completed` line with its provider calls, and its metrics in EMF documents
whose series (metric name, dimension set, namespace) are the ones the alarms and the dashboard watch."""

from __future__ import annotations

import json

from kyc_gateway import observability
from tests.support.emf import documents, metrics


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
