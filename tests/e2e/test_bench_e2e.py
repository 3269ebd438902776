"""`make bench` end to end, one pair per measure: every probe answers as it must (a broken probe stops the run), the
reference makes the gateway's calls, a SnapStart snapshot makes none, and bench-results.json holds every figure. The
figures themselves are not asserted: one pair on a loaded test machine measures nothing; `make bench` does."""

from __future__ import annotations

import json
import subprocess
import sys

from bench import cases
from project import template as cfn


def test_the_benchmark_runs_every_probe_and_writes_every_figure(tmp_path):
    # Given the benchmark with one pair per measure (the test venv holds the layer's runtime dependencies too)
    out = tmp_path / "bench-results.json"

    # When it runs
    completed = subprocess.run(  # noqa: S603 - our own module, fixed arguments
        [
            sys.executable,
            "-m",
            "bench",
            "--pairs",
            "1",
            "--iterations",
            "20",
            "--out",
            str(out),
            "--runtime-python",
            sys.executable,
            "--report-only",  # one pair judges nothing
        ],
        cwd=cfn.ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )

    # Then it finishes, prints the table against the goals and writes every figure for every function
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-2000:]
    assert "goal <= 1.1x" in completed.stdout and "Warm own CPU" in completed.stdout
    assert "SnapStart, primed first request" in completed.stdout and "goal <= 1.5x" in completed.stdout
    results = json.loads(out.read_text())
    every_function = set(cases.FIRST_REQUEST_FUNCTIONS)
    for measure in ("cold_rejected", "cold_first_request", "peak_rss_vs_reference", "primed_first_request"):
        assert set(results[measure]) == every_function, measure
        assert all(ratio > 0 for ratio in results[measure].values()), measure
    for name, figures in results["details"]["primed_first_request"].items():
        # the primed first request and the warm one it is compared with, each measured in the same process
        assert figures["cpu_ms"] > 0 and figures["warm_cpu_ms"] > 0, name
        assert results["goals"]["primed_first_request"] == 1.5
    assert results["goals"]["peak_rss_vs_reference"] == 1.05 and "goal <= 1.05x" in completed.stdout
    assert "ConnectFiWebhookFunction *" in completed.stdout  # its refusal reads a secret: its own goal
    # And the trace counts what is sent, never a snapshot's rehearsals: the provider secret is read on the first
    # request (a traced snapshot that sent anything would have stopped the run)
    primed = results["details"]["primed_first_request"]
    assert "secretsmanager.GetSecretValue" in primed["CladfyKraPinFunction"]["first_only_calls"]
    # and what a perfect snapshot would leave to the first request: those reads, warm; none for the application read
    assert primed["CladfyKraPinFunction"]["least_ratio"] > 1.0
    assert primed["CladfyKraPinFunction"]["warm_call_cpu_ms"]["secretsmanager.GetSecretValue"] > 0
    assert primed["ConnectFiApplicationFunction"]["first_only_calls"] == []
    assert primed["ConnectFiApplicationFunction"]["least_ratio"] == 1.0
    assert results["warm_own_cpu_ms"]["p50"] <= results["warm_own_cpu_ms"]["p99"]
    assert 0 < results["warm_audit_write_cpu_ms"]["p50"] <= results["warm_audit_write_cpu_ms"]["p99"]
    # and the method's own noise beside it: the direct calls against themselves, a difference that jitters both ways
    assert isinstance(results["warm_noise_p99_ms"], float) and "The method's own noise" in completed.stdout
    assert results["machine"] and results["date"]


def test_the_ab_comparison_measures_this_checkout_and_a_revision_in_alternating_rounds():
    # Given the warm measure of this checkout against its own last commit, two short rounds
    completed = subprocess.run(
        [sys.executable, "-m", "bench.ab", "--base", "HEAD", "--rounds", "2", "--iterations", "20",
         "--runtime-python", sys.executable],
        cwd=cfn.ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip

    # Then each round measures both, in turn first, and the medians of each side are reported
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-2000:]
    rounds = [line.split()[2] for line in completed.stdout.splitlines() if line.startswith("round ")]
    assert rounds == ["this", "HEAD", "HEAD", "this"]
    summary = completed.stdout.split("medians of 2 rounds of 20 requests:")[1]
    assert [line.split()[0] for line in summary.strip().splitlines()] == ["this", "HEAD"]


def test_the_ab_comparison_refuses_a_revision_git_does_not_know():
    completed = subprocess.run(
        [sys.executable, "-m", "bench.ab", "--base", "no-such-revision", "--rounds", "1"],
        cwd=cfn.ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip

    assert completed.returncode != 0 and "git archive no-such-revision" in completed.stderr
