"""How `make bench` measures: the local stack out of process, fresh probe processes, paired runs."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench import reference
from bench.cases import PROBE, Probe
from project import LAYER_DIR
from project import template as cfn

HERE = Path(__file__).resolve().parent
_GENERATED_ID = re.compile(r"/doc_[0-9A-Za-z]+")  # a document id the provider generated: each run has its own


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def local_stack() -> Iterator[dict[str, Any]]:
    """`make run` in its own process (AWS emulator, provider sandbox, the functions' resources): nothing of it
    shares the measuring processes. Signzy's sandbox takes the gateway's first Authorization form, so a cold
    instance makes one repush call, as the reference does. Yields the stack's state (services, environment)."""
    with tempfile.TemporaryDirectory() as directory:
        state_file = Path(directory) / "stack.json"
        environment = {
            **os.environ,
            "API_PORT": str(_free_port()),
            "AWS_EMULATOR_PORT": str(_free_port()),
            "SANDBOX_PORT": str(_free_port()),
            "LOCAL_STACK_STATE": str(state_file),
            "LOCAL_SCHEDULE_SECONDS": "86400",  # no reconciliation run while measuring
            "SANDBOX_SIGNZY_AUTH_HEADER": "bearer",
        }
        errors = (Path(directory) / "stack.stderr").open("w+")  # a stop that hangs reports its threads there
        process = subprocess.Popen(
            [sys.executable, "-m", "local.stack"],
            cwd=cfn.ROOT,
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=errors,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 60
            while not state_file.exists():
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("the local stack did not start: try `make run` to see why")
                time.sleep(0.2)
            yield json.loads(state_file.read_text())
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGUSR1)  # every thread's stack, on its stderr (local/stopping.py)
                time.sleep(1)
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                errors.seek(0)
                dump = errors.read()[-6000:]
                raise SystemExit(f"the local stack did not stop within 30 s; its threads:\n{dump}") from None
            finally:
                errors.close()


def probe_environment(stack: dict[str, Any], token_keys: dict[str, str]) -> dict[str, str]:
    """What every probe runs with: the functions' environment in the local stack, fake credentials, where the
    reference finds the tokens the gateway cached, and the variable Lambda's runtime sets in every instance (the
    layer pauses the collector for a Lambda instance's cold start only, kyc_gateway/cold_start.py)."""
    return {
        "PATH": os.environ.get("PATH", ""),
        **stack["environment"],
        "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001",  # its value is never read: no probe talks to a runtime API
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
        **{f"BENCH_TOKEN_KEY_{provider.upper()}": key for provider, key in token_keys.items()},
    }


def token_keys(stack: dict[str, Any]) -> dict[str, str]:
    """The token table's items, by provider: `<provider>#<digest>`."""
    import boto3

    dynamodb = boto3.client(
        "dynamodb",
        endpoint_url=stack["aws"],
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
    )
    items = dynamodb.scan(TableName=stack["environment"]["TOKEN_TABLE_NAME"])["Items"]
    return {item["pk"]["S"].split("#", 1)[0]: item["pk"]["S"] for item in items}


def run(python: str, probe: Probe, number: int, environment: dict[str, str], *, trace: bool = False) -> dict:
    """One fresh process serving the probe's event; its figures. Fails when the answer is not the expected one."""
    with tempfile.NamedTemporaryFile("r", suffix=".json") as output:
        completed = subprocess.run(
            [python, "-X", "frozen_modules=on", str(PROBE), *probe.arguments, output.name],
            input=json.dumps(probe.event(number)),
            text=True,
            env=environment | ({"BENCH_TRACE": "1"} if trace else {}),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            check=False,
        )
        if completed.returncode != 0:
            raise SystemExit(f"{probe.name} failed:\n{completed.stderr[-2000:]}")
        figures = json.loads(Path(output.name).read_text())
    if figures["status"] not in probe.expect:
        raise SystemExit(f"{probe.name} answered {figures['status']}, not {probe.expect.start}: a broken probe")
    return figures


def different_calls(python: str, pair: tuple[Probe, Probe], environment: dict[str, str], number: int) -> str:
    """Empty when both sides of the pair make the same AWS operations and HTTP requests; else what differs."""
    traced = (run(python, side, number, environment, trace=True)["calls"] for side in pair)
    gateway, reference = (Counter(_GENERATED_ID.sub("/{id}", call) for call in calls) for calls in traced)
    if gateway == reference:
        return ""
    only_gateway, only_reference = sorted((gateway - reference).elements()), sorted((reference - gateway).elements())
    return f"gateway only {only_gateway}, reference only {only_reference}"


def paired(python: str, pair: tuple[Probe, Probe], environment: dict[str, str], pairs: int, start: int) -> dict:
    """`pairs` runs of each side, alternating which goes first (after one warm-up of each); the medians of the
    per-pair ratios of CPU, wall time and peak memory."""
    left, right = pair
    for side in pair:
        run(python, side, start, environment)
    rows = []
    for number in range(start + 1, start + 1 + pairs):
        first, second = (left, right) if number % 2 else (right, left)
        figures = {first.name: run(python, first, number, environment)}
        figures[second.name] = run(python, second, number, environment)
        rows.append((figures[left.name], figures[right.name]))
    return {
        "cpu_ratio": round(statistics.median(a["cpu_ms"] / b["cpu_ms"] for a, b in rows), 3),
        "wall_ratio": round(statistics.median(a["wall_ms"] / b["wall_ms"] for a, b in rows), 3),
        "rss_ratio": round(statistics.median(a["rss_kb"] / b["rss_kb"] for a, b in rows), 3),
        "cpu_ms": round(statistics.median(a["cpu_ms"] for a, _ in rows), 1),
        "against_cpu_ms": round(statistics.median(b["cpu_ms"] for _, b in rows), 1),
        "import_cpu_ms": round(statistics.median(a.get("import_cpu_ms", 0.0) for a, _ in rows), 1),
        "rss_mb": round(statistics.median(a["rss_kb"] for a, _ in rows) / 1024, 1),
        "against_rss_mb": round(statistics.median(b["rss_kb"] for _, b in rows) / 1024, 1),
        "pairs": len(rows),
    }


def primed_runs(python: str, probe: Probe, environment: dict[str, str], runs: int, start: int) -> dict:
    """`runs` primed probes (after one warm-up run): the medians of their first request's CPU (after-restore hooks
    included), of their warm request's, and of the per-run ratio of the two. A traced run first: the snapshot must
    send no request at all (no secret, no token, nothing of a request; a rehearsal is answered in-process), and what
    the first request calls that a warm one does not is reported."""
    traced = run(python, probe, start, environment, trace=True)
    if traced["snapshot_calls"]:
        raise SystemExit(f"{probe.name}: its snapshot made calls {traced['snapshot_calls']}")
    first_only = Counter(_GENERATED_ID.sub("/{id}", call) for call in traced["first_calls"]) - Counter(
        _GENERATED_ID.sub("/{id}", call) for call in traced["warm_calls"]
    )
    run(python, probe, start + 1, environment)
    rows = [run(python, probe, number, environment) for number in range(start + 2, start + 2 + runs)]
    return {
        "cpu_ratio": round(statistics.median(row["primed_cpu_ms"] / row["warm_cpu_ms"] for row in rows), 3),
        "least_ratio": round(statistics.median(_least_ratio(row, first_only) for row in rows), 3),
        "cpu_ms": round(statistics.median(row["primed_cpu_ms"] for row in rows), 2),
        "warm_cpu_ms": round(statistics.median(row["warm_cpu_ms"] for row in rows), 2),
        "first_only_calls": sorted(first_only.elements()),
        "warm_call_cpu_ms": {
            kind: round(statistics.median(row["warm_call_cpu_ms"][kind] for row in rows), 3)
            for kind in rows[0]["warm_call_cpu_ms"]
        },
        "runs": len(rows),
    }


def _least_ratio(row: dict, first_only: Counter) -> float:
    """The least a primed first request could cost against a warm one, in the same process: the warm request plus,
    warm, each call it makes that a warm request does not (a call whose warm cost is not measured counts as free)."""
    calls = sum(row["warm_call_cpu_ms"].get(call, 0.0) * times for call, times in first_only.items())
    return (row["warm_cpu_ms"] + calls) / row["warm_cpu_ms"]


def _p99(ordered: list[float]) -> float:
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def warm_own_cpu(python: str, environment: dict[str, str], iterations: int, code: Path = cfn.ROOT) -> dict:
    """The warm route's own work per warm request (warm.py), p50 and p99 of the per-pair differences; the gateway's
    code (its layer and function) read from `code`, this checkout or another revision's (bench.ab)."""
    spec = cfn.functions()[reference.WARM_FUNCTION]
    event = json.loads((cfn.ROOT / "events" / f"{spec.logical_id}.json").read_text())  # succeeds on the sandbox
    layer, function = (code / path.relative_to(cfn.ROOT) for path in (LAYER_DIR, spec.code_dir))
    with tempfile.NamedTemporaryFile("r", suffix=".json") as output:
        subprocess.run(
            [python, str(HERE / "warm.py"), str(layer), str(function), str(iterations), output.name],
            input=json.dumps(event),
            text=True,
            env=environment,
            stdout=subprocess.DEVNULL,
            check=True,
        )
        samples = json.loads(Path(output.name).read_text())
    own = sorted(g - d for g, d in zip(samples["gateway_cpu_ms"], samples["direct_cpu_ms"], strict=True))
    audit_write = sorted(samples["audit_write_cpu_ms"])
    noise = sorted(samples["noise_cpu_ms"])
    return {
        "p50": round(statistics.median(own), 3),
        "p99": round(_p99(own), 3),
        "audit_write_p50": round(statistics.median(audit_write), 3),  # the record's conditional put, warm
        "audit_write_p99": round(_p99(audit_write), 3),
        "noise_p99": round(_p99(noise), 3),  # the direct calls against themselves: the method's own p99
        "gateway_p50": round(statistics.median(samples["gateway_cpu_ms"]), 3),
        "direct_p50": round(statistics.median(samples["direct_cpu_ms"]), 3),
        "iterations": len(own),
        "function": spec.logical_id,
    }
