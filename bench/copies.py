"""What each hand-written copy of a Powertools utility saves a cold start, measured as `make bench` measures.

    python -m bench.copies [--pairs N]        (make bench-copies: in the runtime-only venv)

`kyc_gateway/logs.py`, `claims.py` and `secrets.py` stand in for Powertools Logger, Idempotency and Parameters to
save import time. For each, fresh processes of the runtime venv (the layer's packages, slimmed as they ship) first
load what every real request has loaded anyway (boto3, requests, pydantic, the gateway's settings and AWS access),
then take the CPU of one side: the gateway's module, or the Powertools import it replaces (and for the logger, its
construction and one line). The sides alternate, in both orders, after a warm-up run each; the saving is the median
of the per-pair differences, and its share is against the lightest cold first request of the functions using it
(bench-results.json from `make bench`, else the figure given with --first-request-ms).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess

from project import LAYER_DIR, ROOT

PRELOAD = "import boto3, requests, pydantic; from kyc_gateway import aws, settings"
# (the gateway's side, the library's side, the functions using the copy)
SIDES = {
    "logs.py": (
        "from kyc_gateway.logs import Logger; Logger('kyc-gateway').info('bench', route='bench')",
        "from aws_lambda_powertools import Logger; Logger(service='kyc-gateway').info('bench', route='bench')",
        "every function",
    ),
    "claims.py": (
        "from kyc_gateway import claims",
        "from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, IdempotencyConfig, "
        "idempotent_function",
        "ConnectFiWebhookProcessorFunction",
    ),
    "secrets.py": (
        "from kyc_gateway import secrets",
        "from aws_lambda_powertools.utilities import parameters",
        "every function calling a provider or checking the webhook token",
    ),
}
_PROBE = """
import os, resource, sys
sys.path.insert(0, {layer!r})
def cpu(): u = resource.getrusage(resource.RUSAGE_SELF); return (u.ru_utime + u.ru_stime) * 1000
{preload}
sys.stdout = open(os.devnull, "w")
started = cpu()
{side}
print(cpu() - started, file=sys.stderr)
"""


def cpu_ms(python: str, side: str) -> float:
    """The CPU of `side` in a fresh process, after the preload."""
    code = _PROBE.format(layer=str(LAYER_DIR), preload=PRELOAD, side=side)
    environment = {"AWS_DEFAULT_REGION": "us-east-1", "POWERTOOLS_SERVICE_NAME": "kyc-gateway", "PATH": ""}
    completed = subprocess.run(
        [python, "-X", "frozen_modules=on", "-c", code], capture_output=True, text=True, env=environment, check=True
    )
    return float(completed.stderr.strip().splitlines()[-1])


def saving(python: str, gateway: str, library: str, pairs: int) -> dict[str, float]:
    cpu_ms(python, gateway), cpu_ms(python, library)  # warm-up: the page cache, not the measure
    rows = []
    for number in range(pairs):
        if number % 2:
            library_ms, gateway_ms = cpu_ms(python, library), cpu_ms(python, gateway)
        else:
            gateway_ms, library_ms = cpu_ms(python, gateway), cpu_ms(python, library)
        rows.append((gateway_ms, library_ms))
    return {
        "gateway_ms": round(statistics.median(g for g, _ in rows), 1),
        "library_ms": round(statistics.median(b for _, b in rows), 1),
        "saving_ms": round(statistics.median(b - g for g, b in rows), 1),
        "pairs": pairs,
    }


def lightest_first_request(users: str, fallback: float | None) -> float | None:
    results = ROOT / "bench-results.json"
    if not results.exists():
        return fallback
    first = json.loads(results.read_text())["details"]["cold_first_request"]
    figures = [row["cpu_ms"] for name, row in first.items() if users.startswith("every") or name == users]
    return min(figures) if figures else fallback


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make bench-copies", description=__doc__.splitlines()[0])
    parser.add_argument("--runtime-python", default=str(ROOT / ".venv-runtime" / "bin" / "python"))
    parser.add_argument("--pairs", type=int, default=21)
    parser.add_argument("--first-request-ms", type=float, default=None)
    arguments = parser.parse_args(argv)
    print(f"{'copy':12} {'gateway':>8} {'library':>8} {'saving':>7} {'share':>6}  of the first request of")
    for module, (gateway, library, users) in SIDES.items():
        figures = saving(arguments.runtime_python, gateway, library, arguments.pairs)
        first = lightest_first_request(users, arguments.first_request_ms)
        share = f"{figures['saving_ms'] / first:6.1%}" if first else "     ?"
        print(
            f"{module:12} {figures['gateway_ms']:>6.1f}ms {figures['library_ms']:>6.1f}ms "
            f"{figures['saving_ms']:>5.1f}ms {share}  {users} ({first or '?'} ms)",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
