"""`make bench`: what a cold instance and a warm request cost, each against what it is fair to compare it with.

- cold_rejected: a fresh process importing the function and refusing a request, against the floor every request
  path pays anyway (import boto3 and requests, one pydantic validation). Goal: at most 1.0x; 1.10x for the webhook
  receiver's refusal of a well-formed token, which reads the secret to compare it with.
- cold_first_request: a fresh process importing the function and serving one valid request, against a minimal
  hand-written equivalent making the same AWS and HTTP calls (reference.py; the calls are compared first).
  Goal: at most 1.10x CPU. peak_rss_vs_reference: the same runs' peak memory against the reference's, per pair
  (goal: at most 1.05x); peak_rss_ratio: against the floor's (reported: the reference itself is above the floor
  as soon as it calls AWS).
- warm_own_cpu_ms: one read route's own CPU per warm request (warm.py, reference.WARM_FUNCTION), its provider call
  and its audit record's conditional put excepted (made directly on the other side). Goal: p50 <= 0.5 ms, p99 <=
  1.0 ms. warm_audit_write_cpu_ms: what that put costs (reported, no goal). warm_noise_p99_ms: the p99 of the
  direct calls against themselves, what a gateway doing nothing would measure on this machine (reported, no goal).
- primed_first_request: SnapStart's first request, in a fresh process that ran the before-snapshot hook (the
  snapshot), then its after-restore hook and first request, against a warm request of the same process. Goal: at
  most 1.5x CPU. least_ratio beside it: the warm request plus, warm, each call the first request makes and a warm
  one does not (its secrets and token rows, which no snapshot may hold): the least any snapshot could achieve.

Ratios are medians of per-pair ratios: the two sides alternate (which goes first, too) after a warm-up run each,
so machine load hits both alike. Every probe's answer is checked. Probes run in the runtime-only venv; the AWS
emulator and provider sandbox run in the local stack's own process. Prints a table; writes bench-results.json;
exits 1 when a figure misses its goal, naming each (--report-only: 0, for a run too short to judge).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path

from bench import cases
from bench.measure import (
    different_calls,
    local_stack,
    paired,
    primed_runs,
    probe_environment,
    run,
    token_keys,
    warm_own_cpu,
)
from project import template as cfn

GOALS = {
    "cold_rejected": 1.0,
    "cold_rejected_reading_a_secret": 1.10,
    "cold_first_request": 1.10,
    "peak_rss_vs_reference": 1.05,
    "warm_p50": 0.5,
    "warm_p99": 1.0,
    "primed_first_request": 1.5,
}


def machine() -> str:
    model = (
        next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if "model name" in line
            ),
            platform.processor(),
        )
        if Path("/proc/cpuinfo").exists()
        else platform.processor()
    )
    return f"{os.cpu_count()} cores, {model}, {platform.system()} {platform.release()}"


def measure(python: str, pairs: int, iterations: int) -> dict:
    with local_stack() as stack:
        environment = probe_environment(stack, {})
        for gateway, _ in cases.first_request_pairs():  # tokens cached, applications stored: the steady state
            run(python, gateway, 0, environment)
        environment = probe_environment(stack, token_keys(stack))
        mismatches = {
            pair[0].name: different
            for pair in cases.first_request_pairs()
            if (different := different_calls(python, pair, environment, 1))
        }
        if mismatches:
            raise SystemExit(f"the reference does not make the gateway's calls: {json.dumps(mismatches, indent=2)}")
        first = {pair[0].name: paired(python, pair, environment, pairs, 10) for pair in cases.first_request_pairs()}
        rejected = {pair[0].name: paired(python, pair, environment, pairs, 10) for pair in cases.rejected_pairs()}
        warm = warm_own_cpu(python, environment, iterations)
        primed = {probe.name: primed_runs(python, probe, environment, pairs, 100) for probe in cases.primed_probes()}
    floor_rss_mb = statistics.median(figures["against_rss_mb"] for figures in rejected.values())
    for figures in first.values():
        figures["rss_vs_floor"] = round(figures["rss_mb"] / floor_rss_mb, 3)
        figures["reference_rss_vs_floor"] = round(figures["against_rss_mb"] / floor_rss_mb, 3)
    return {
        "cold_rejected": {name: figures["cpu_ratio"] for name, figures in rejected.items()},
        "cold_first_request": {name: figures["cpu_ratio"] for name, figures in first.items()},
        "warm_own_cpu_ms": {"p50": warm["p50"], "p99": warm["p99"]},
        "warm_audit_write_cpu_ms": {"p50": warm["audit_write_p50"], "p99": warm["audit_write_p99"]},
        "warm_noise_p99_ms": warm["noise_p99"],
        "primed_first_request": {name: figures["cpu_ratio"] for name, figures in primed.items()},
        "peak_rss_ratio": {name: figures["rss_vs_floor"] for name, figures in first.items()},
        "peak_rss_vs_reference": {name: figures["rss_ratio"] for name, figures in first.items()},
        "floor_rss_mb": floor_rss_mb,
        "machine": machine(),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "python": subprocess.run([python, "-V"], capture_output=True, text=True, check=True).stdout.strip(),
        "goals": GOALS,
        "details": {
            "cold_rejected": rejected,
            "cold_first_request": first,
            "warm": warm,
            "primed_first_request": primed,
        },
    }


def rejected_goal(logical_id: str) -> float:
    """A cold refusal's goal against the floor: the webhook receiver's, which reads a secret, has its own."""
    return GOALS["cold_rejected_reading_a_secret" if cases.refusal_reads_a_secret(logical_id) else "cold_rejected"]


def over(value: float, goal: float) -> bool:
    """A figure misses its goal only above it: every goal is a most."""
    return value > goal


def verdict(value: float, goal: float) -> str:
    return "OVER" if over(value, goal) else "ok"


def report(results: dict) -> None:
    details = results["details"]
    print(f"{results['date']}  {results['machine']}  {results['python']}")
    print(
        f"\nCold, first real request: CPU against the hand-written equivalent (goal <= {GOALS['cold_first_request']}x)"
    )
    print(f"  {'function':36} {'ms':>7} {'ref ms':>7} {'x CPU':>6} {'x wall':>6}")
    for name, figures in details["cold_first_request"].items():
        ratio = figures["cpu_ratio"]
        print(
            f"  {name:36} {figures['cpu_ms']:>7.1f} {figures['against_cpu_ms']:>7.1f} {ratio:>6.3f} "
            f"{figures['wall_ratio']:>6.3f}  {verdict(ratio, GOALS['cold_first_request'])}"
        )
    print(
        f"\nPeak RSS of the first real request against the reference's (goal <= {GOALS['peak_rss_vs_reference']}x), "
        f"and the floor's {results['floor_rss_mb']:.1f} MB"
    )
    print(f"  {'function':36} {'MB':>7} {'ref MB':>7} {'x floor':>7} {'x ref':>6} {'ref x floor':>11}")
    for name, figures in details["cold_first_request"].items():
        print(
            f"  {name:36} {figures['rss_mb']:>7.1f} {figures['against_rss_mb']:>7.1f} {figures['rss_vs_floor']:>7.3f} "
            f"{figures['rss_ratio']:>6.3f} {figures['reference_rss_vs_floor']:>11.3f}  "
            f"{verdict(figures['rss_ratio'], GOALS['peak_rss_vs_reference'])}"
        )
    print(
        f"\nCold, rejected request: CPU against the floor (goal <= {GOALS['cold_rejected']}x; a refusal that reads "
        f"a secret, *, <= {GOALS['cold_rejected_reading_a_secret']}x)"
    )
    for name, figures in details["cold_rejected"].items():
        marked = name + (" *" if cases.refusal_reads_a_secret(name) else "")
        print(
            f"  {marked:36} {figures['cpu_ms']:>7.1f} {figures['against_cpu_ms']:>7.1f} {figures['cpu_ratio']:>6.3f}  "
            f"{verdict(figures['cpu_ratio'], rejected_goal(name))}"
        )
    goal = GOALS["primed_first_request"]
    print(
        "\nSnapStart, primed first request: after the before-snapshot hook, the after-restore hook and the first "
        f"request, CPU against a warm request of the same process (goal <= {goal}x)"
    )
    print(
        "  least x: the warm request plus, warm, the calls a warm request does not make (a secret, a token row): "
        "what a perfect snapshot would cost"
    )
    columns = f"{'ms':>7} {'warm ms':>7} {'x warm':>6} {'least x':>7}"
    print(f"  {'function':36} {columns}  calls a warm request does not make")
    for name, figures in details["primed_first_request"].items():
        ratio = figures["cpu_ratio"]
        print(
            f"  {name:36} {figures['cpu_ms']:>7.2f} {figures['warm_cpu_ms']:>7.2f} {ratio:>6.2f} "
            f"{figures['least_ratio']:>7.2f}  {verdict(ratio, goal):4}  {', '.join(figures['first_only_calls']) or '-'}"
        )
    warm = results["warm_own_cpu_ms"]
    print(
        f"\nWarm own CPU per request, {details['warm']['function']} ({details['warm']['iterations']} requests): "
        f"p50 {warm['p50']:.3f} ms ({verdict(warm['p50'], GOALS['warm_p50'])}, goal <= {GOALS['warm_p50']}), "
        f"p99 {warm['p99']:.3f} ms ({verdict(warm['p99'], GOALS['warm_p99'])}, goal <= {GOALS['warm_p99']})"
    )
    audit = results["warm_audit_write_cpu_ms"]
    print(f"Warm audit record (its conditional put, CPU): p50 {audit['p50']:.3f} ms, p99 {audit['p99']:.3f} ms")
    print(
        f"The method's own noise (the direct calls against themselves, a gateway doing nothing): p99 "
        f"{results['warm_noise_p99_ms']:.3f} ms"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make bench", description=__doc__.splitlines()[0])
    parser.add_argument("--runtime-python", default=str(cfn.ROOT / ".venv-runtime" / "bin" / "python"))
    parser.add_argument("--pairs", type=int, default=int(os.environ.get("BENCH_PAIRS", "15")))
    parser.add_argument("--iterations", type=int, default=int(os.environ.get("BENCH_ITERATIONS", "1000")))
    parser.add_argument("--out", type=Path, default=cfn.ROOT / "bench-results.json")
    parser.add_argument(
        "--report-only", action="store_true", help="exit 0 whatever the figures (a run too short to judge them)"
    )
    arguments = parser.parse_args(argv)
    results = measure(arguments.runtime_python, arguments.pairs, arguments.iterations)
    arguments.out.write_text(json.dumps(results, indent=2) + "\n")
    report(results)
    print(f"\nsaved {arguments.out}")
    missed = goals_missed(results)
    if missed and not arguments.report_only:
        print("goals missed: " + ", ".join(missed), file=sys.stderr)
        return 1
    return 0


def goals_missed(results: dict) -> list[str]:
    """Each goal the figures miss, named `measure` or `measure: function`, in the order the report prints them."""
    rejected = {name: figures["cpu_ratio"] for name, figures in results["details"]["cold_rejected"].items()}
    per_function = [
        ("cold_first_request", results["cold_first_request"], lambda _: GOALS["cold_first_request"]),
        ("peak_rss_vs_reference", results["peak_rss_vs_reference"], lambda _: GOALS["peak_rss_vs_reference"]),
        ("cold_rejected", rejected, rejected_goal),
        ("primed_first_request", results["primed_first_request"], lambda _: GOALS["primed_first_request"]),
    ]
    missed = [
        f"{measure}: {name}"
        for measure, ratios, goal in per_function
        for name, ratio in ratios.items()
        if over(ratio, goal(name))
    ]
    warm = results["warm_own_cpu_ms"]
    return missed + [f"warm_{q}" for q in ("p50", "p99") if over(warm[q], GOALS[f"warm_{q}"])]


if __name__ == "__main__":
    sys.exit(main())
