"""The checkov checks no function of the gateway meets (the deploy hook included), each with its reason: written on
each function as its own skip (`Metadata: checkov: skip`), which checkov reads wherever it runs, with or without
this repository's configuration."""

from __future__ import annotations

from typing import Any

FUNCTION_CHECKOV_SKIPS = (
    (
        "CKV_AWS_116",
        "No dead-letter queue: API Gateway and the SQS event source invoke synchronously (a failure is the caller's"
        " answer or goes to the webhook queue's DLQ); the reconciler's failed run is alarmed and the next starts over;"
        " the audit archive's stream retries a failed change until it is archived (alarmed when an hour behind); the"
        " deploy hook's failure fails the deployment.",
    ),
    (
        "CKV_AWS_117",
        "Outside a VPC: the functions reach only public provider APIs and AWS endpoints; a VPC would add NAT cost and"
        " cold-start latency and protect nothing.",
    ),
)


def function_checkov_skips() -> dict[str, Any]:
    """A function's Metadata: its checkov skips."""
    return {"checkov": {"skip": [{"id": check, "comment": why} for check, why in FUNCTION_CHECKOV_SKIPS]}}
