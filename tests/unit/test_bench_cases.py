"""`make bench` covers every function that serves a request: each has its hand-written equivalent, a first real
request and a refusal of its own (a new function cannot be left out of the measures unnoticed)."""

from __future__ import annotations

import json

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
