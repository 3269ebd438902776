"""`make bench` covers every function that serves a request: each has its hand-written equivalent, a first real
request and a refusal of its own (a new function cannot be left out of the measures unnoticed); and it fails when a
figure misses its goal."""

from __future__ import annotations

import json
import os

import pytest

from bench import __main__ as bench_main
from bench import cases, reference
from project import template as cfn


def test_every_request_serving_function_is_benched_against_its_own_reference():
    # no caller waits on these: the reconciler's scheduled run, the audit archive's copy of the table's stream
    unserved = {"ConnectFiReconcilerFunction", "AuditArchiveFunction"}
    served = {name for name in cfn.functions() if name not in unserved}
    assert set(cases.FIRST_REQUEST_FUNCTIONS) == served, "each function needs its case in bench/cases.py"
    assert set(reference.HANDLERS) == served, "each function needs its hand-written equivalent in bench/reference.py"
    assert cases.FIRST_REQUEST_FUNCTIONS[-1] == "ConnectFiApplicationFunction"  # after the processor stored it


def test_every_benched_function_has_a_valid_first_request_and_a_refusal():
    for pair in cases.first_request_pairs() + cases.rejected_pairs():
        gateway, _ = pair
        event = gateway.event(1)
        assert event and json.dumps(event), gateway.name
        assert len(gateway.expect) == 1, gateway.name  # one status only: a wrong answer stops the run


def test_only_the_webhook_receivers_refusal_which_reads_its_secret_is_allowed_above_the_floor():
    # Given the functions make bench refuses a request of
    goals = {gateway.name: bench_main.rejected_goal(gateway.name) for gateway, _ in cases.rejected_pairs()}

    # Then the webhook receiver's (it compares the token with its secret) is held to 1.10x, every other to 1.0x
    assert goals.pop("ConnectFiWebhookFunction") == 1.10
    assert set(goals.values()) == {1.0}


def results_meeting_every_goal() -> dict:
    """bench-results.json's figures, each at its goal exactly (a goal is met at its value)."""
    goals, rejected_goal = bench_main.GOALS, bench_main.rejected_goal
    functions = ("CladfyKraPinFunction", "ConnectFiWebhookFunction")
    return {
        "cold_first_request": dict.fromkeys(functions, goals["cold_first_request"]),
        "peak_rss_vs_reference": dict.fromkeys(functions, goals["peak_rss_vs_reference"]),
        "primed_first_request": dict.fromkeys(functions, goals["primed_first_request"]),
        "warm_own_cpu_ms": {"p50": goals["warm_p50"], "p99": goals["warm_p99"]},
        "details": {"cold_rejected": {name: {"cpu_ratio": rejected_goal(name)} for name in functions}},
    }


@pytest.mark.parametrize(
    ("place", "missed"),
    [
        (("cold_first_request", "CladfyKraPinFunction"), "cold_first_request: CladfyKraPinFunction"),
        (("peak_rss_vs_reference", "ConnectFiWebhookFunction"), "peak_rss_vs_reference: ConnectFiWebhookFunction"),
        (("primed_first_request", "CladfyKraPinFunction"), "primed_first_request: CladfyKraPinFunction"),
        (("warm_own_cpu_ms", "p50"), "warm_p50"),
        (("warm_own_cpu_ms", "p99"), "warm_p99"),
    ],
)
def test_make_bench_fails_naming_the_goal_a_figure_misses(monkeypatch, capsys, place, missed):
    # Given a run whose figures meet every goal but one, just over it
    results = results_meeting_every_goal()
    measure, name = place
    results[measure][name] += 0.001
    monkeypatch.setattr(bench_main, "measure", lambda *_: results)
    monkeypatch.setattr(bench_main, "report", lambda _: None)

    # When make bench ends, and when it is told only to report
    failed = bench_main.main(["--out", os.devnull])
    reported = bench_main.main(["--out", os.devnull, "--report-only"])

    # Then it fails naming that goal alone, unless told only to report
    assert (failed, reported) == (1, 0)
    assert capsys.readouterr().err.strip() == f"goals missed: {missed}"


def test_make_bench_fails_on_a_refusal_over_its_own_goal_and_passes_at_the_goals(monkeypatch):
    results = results_meeting_every_goal()
    monkeypatch.setattr(bench_main, "measure", lambda *_: results)
    monkeypatch.setattr(bench_main, "report", lambda _: None)
    assert bench_main.main(["--out", os.devnull]) == 0

    results["details"]["cold_rejected"]["CladfyKraPinFunction"]["cpu_ratio"] = bench_main.GOALS["cold_rejected"] + 0.001
    assert bench_main.goals_missed(results) == ["cold_rejected: CladfyKraPinFunction"]


def checks_its_parameters(client) -> bool:
    """Whether `client` checks a call's parameters against the service model before sending it (botocore decides it
    when it makes the client: its serializer, wrapped or not; the client's config does not say)."""
    from botocore.validate import ParamValidationDecorator

    return isinstance(client._serializer, ParamValidationDecorator)


def test_the_warm_measures_direct_audit_put_costs_what_the_gateways_does(monkeypatch):
    from kyc_gateway import aws

    # Given the warm measure's direct audit put, whose CPU warm.py takes off the gateway's request's, and the client
    # the gateway puts its audit record with (which skips botocore's check of the parameters, ~0.1 ms)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AUDIT_TABLE_NAME", "audit")
    monkeypatch.setattr(reference, "_secret", lambda _variable: {"current": "v1", "v1": "k" * 40})
    reference._client.cache_clear()
    write = reference.warm_audit_write()
    (direct,) = [cell.cell_contents for cell in write.__closure__ if hasattr(cell.cell_contents, "put_item")]
    gateways = aws.quick_client("dynamodb")

    # Then both make it alike: the subtraction takes off what the gateway's put costs, no more
    assert not checks_its_parameters(gateways) and not checks_its_parameters(direct)
    assert direct.meta.config.retries == gateways.meta.config.retries
    assert checks_its_parameters(reference._client("dynamodb"))  # the hand-written function's own clients: defaults
