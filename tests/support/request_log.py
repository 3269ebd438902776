"""Reading the `request completed` lines the functions wrote (docs/operations.md#runbook): what an operator queries
in CloudWatch Logs Insights."""

from __future__ import annotations

import json


def provider_calls(written: str) -> list[list[tuple[str, str, int | str]]]:
    """Each completed request's provider attempts, in order: (provider, operation, HTTP status or failure)."""
    lines = [json.loads(line) for line in written.splitlines() if '"request completed"' in line]
    return [
        [(call["provider"], call["operation"], call["status"]) for call in line.get("provider_calls", [])]
        for line in lines
        if line.get("message") == "request completed"
    ]
