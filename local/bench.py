"""`make bench`: cold start of each function against the floor, and warm overhead over a direct provider call.

(a) Cold start: median over fresh processes of the runtime-only venv (layers/gateway/requirements.txt and
    nothing else) of import + one request that fails validation, beside the floor every request path pays
    anyway (import boto3 and requests, validate one JSON with pydantic), measured in the same run, alternating.
(b) Warm overhead: the Cladfy route through its handler (keep-alive session, cached secret) minus a direct
    keep-alive `requests.post` to the same sandbox endpoint, alternating, same run; median and p99.
Results are printed as a table and saved as JSON (bench-results.json).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from local import LAYER_DIR
from local import template as cfn
from local.api_events import proxy_event

PROBE = Path(__file__).with_name("bench_probe.py")
COLD_TARGET = 1.15
WARM_TARGET_MS = 1.0


def invalid_event(spec: cfn.FunctionSpec) -> dict[str, Any]:
    """An event the function must reject by validation: an empty JSON object for API routes, a record whose
    body is not JSON for SQS consumers."""
    if spec.api_events:
        method, path = spec.api_events[0]
        return proxy_event(method, path, headers=[("Content-Type", "application/json")], body="{}")
    return {"Records": [{"messageId": "bench", "body": "not json", "attributes": {}, "messageAttributes": {}}]}


def probe_environment(spec: cfn.FunctionSpec) -> dict[str, str]:
    fake_ids = {key: f"bench-{key}" for key in cfn.resources()}
    fake_ids |= {f"{key}.Arn": f"arn:aws:bench:us-east-1:123456789012:{key}" for key in cfn.resources()}
    environment = cfn.function_environment(spec.logical_id, fake_ids, {"Environment": "local"})
    return {"PATH": os.environ.get("PATH", ""), "AWS_DEFAULT_REGION": "us-east-1", **environment}


def run_probe(python: str, arguments: list[str], event: dict | None, environment: dict[str, str]) -> float:
    with tempfile.NamedTemporaryFile("r", suffix=".ms") as output:
        subprocess.run(
            [python, "-X", "frozen_modules=on", str(PROBE), *arguments, output.name],
            input=json.dumps(event or {}),
            text=True,
            env=environment,
            stdout=subprocess.DEVNULL,
            check=True,
        )
        return float(Path(output.name).read_text())


def cold_starts(python: str, runs: int) -> dict[str, Any]:
    functions = cfn.functions()
    probes: dict[str, tuple[list[str], dict | None, dict[str, str]]] = {
        "floor": (["floor"], None, {"PATH": os.environ.get("PATH", ""), "AWS_DEFAULT_REGION": "us-east-1"})
    }
    for spec in functions.values():
        arguments = ["function", str(LAYER_DIR), str(spec.code_dir), spec.module, spec.attribute]
        probes[spec.logical_id] = (arguments, invalid_event(spec), probe_environment(spec))
    samples: dict[str, list[float]] = {name: [] for name in probes}
    for _ in range(runs):  # alternate, so drift in machine load hits every probe alike
        for name, (arguments, event, environment) in probes.items():
            samples[name].append(run_probe(python, arguments, event, environment))
    floor = statistics.median(samples["floor"])
    return {
        name: {
            "median_ms": round(statistics.median(values), 1),
            "ratio_to_floor": round(statistics.median(values) / floor, 3),
            "runs": len(values),
        }
        for name, values in samples.items()
    }


def warm_overhead(iterations: int) -> dict[str, Any]:
    """Runs in a child process whose stdout (the functions' logs) goes to /dev/null, as CloudWatch takes it."""
    with tempfile.NamedTemporaryFile("r", suffix=".json") as output:
        subprocess.run(
            [sys.executable, "-m", "local.bench", "warm-child", "--iterations", str(iterations), "--out", output.name],
            cwd=cfn.ROOT,
            stdout=subprocess.DEVNULL,
            check=True,
        )
        return json.loads(Path(output.name).read_text())


def warm_child(iterations: int, out: Path) -> None:
    import base64

    import boto3
    import requests
    from moto import mock_aws

    from local.aws_resources import load_local_secrets, provision
    from local.functions import LambdaContext, cold_start, load_handler
    from local.sandbox import ProviderSandbox

    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1")
    os.environ.pop("AWS_ENDPOINT_URL", None)
    secrets = load_local_secrets()
    with mock_aws(), ProviderSandbox(secrets, quiet=True) as sandbox:
        parameters = {"Environment": "local", "CladfyBaseUrl": sandbox.base_urls()["CLADFY_BASE_URL"]}
        physical_ids = provision(boto3.session.Session(), secrets, parameters)
        os.environ.update(cfn.function_environment("CladfyKraPinFunction", physical_ids, parameters))
        cold_start()
        spec = cfn.functions()["CladfyKraPinFunction"]
        handler, context = load_handler(spec), LambdaContext(spec.logical_id)
        body = json.dumps({"pinnumber": "A004416331M"})
        event = proxy_event("POST", "/cladfy/krapin", headers=[("Content-Type", "application/json")], body=body)
        session = requests.Session()
        basic = base64.b64encode(f"{secrets['cladfy']['clientId']}:{secrets['cladfy']['secretKey']}".encode())
        direct_headers = {"Authorization": f"Basic {basic.decode()}", "Accept": "application/json"}
        url = sandbox.base_urls()["CLADFY_BASE_URL"] + "/krapin"

        def through_gateway() -> float:
            started = time.perf_counter()
            if handler(event, context)["statusCode"] != 200:
                raise RuntimeError("the benchmark route failed")
            return (time.perf_counter() - started) * 1000

        def direct() -> float:
            started = time.perf_counter()
            session.post(url, json={"pinnumber": "A004416331M"}, headers=direct_headers, timeout=(3.05, 10)).json()
            return (time.perf_counter() - started) * 1000

        for _ in range(30):  # warm both paths: connections, caches, token
            through_gateway(), direct()
        gateway_ms, direct_ms = [], []
        for _ in range(iterations):
            gateway_ms.append(through_gateway())
            direct_ms.append(direct())
    overheads = sorted(g - d for g, d in zip(gateway_ms, direct_ms, strict=True))
    out.write_text(
        json.dumps(
            {
                "iterations": iterations,
                "gateway_median_ms": round(statistics.median(gateway_ms), 3),
                "direct_median_ms": round(statistics.median(direct_ms), 3),
                "overhead_median_ms": round(statistics.median(gateway_ms) - statistics.median(direct_ms), 3),
                "overhead_p99_ms": round(overheads[int(len(overheads) * 0.99) - 1], 3),
            }
        )
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="KYC gateway benchmark")
    parser.add_argument("mode", nargs="?", default="all", choices=["all", "warm-child"])
    parser.add_argument("--runtime-python", default=str(cfn.ROOT / ".venv-runtime" / "bin" / "python"))
    parser.add_argument("--runs", type=int, default=int(os.environ.get("BENCH_RUNS", "11")))
    parser.add_argument("--iterations", type=int, default=int(os.environ.get("BENCH_ITERATIONS", "400")))
    parser.add_argument("--out", type=Path, default=cfn.ROOT / "bench-results.json")
    args = parser.parse_args(argv)
    if args.mode == "warm-child":
        warm_child(args.iterations, args.out)
        return 0

    cold = cold_starts(args.runtime_python, args.runs)
    warm = warm_overhead(args.iterations)
    results = {
        "python": args.runtime_python,
        "cold_start": cold,
        "warm": warm,
        "targets": {"cold_ratio": COLD_TARGET, "warm_overhead_median_ms": WARM_TARGET_MS},
    }
    args.out.write_text(json.dumps(results, indent=2) + "\n")

    print(f"Cold start: import + first request failing validation, median of {args.runs} fresh processes")
    print(f"  {'probe':32} {'median ms':>10} {'x floor':>8}  target <= {COLD_TARGET}x")
    for name, figures in cold.items():
        verdict = "" if name == "floor" else ("ok" if figures["ratio_to_floor"] <= COLD_TARGET else "OVER")
        print(f"  {name:32} {figures['median_ms']:>10.1f} {figures['ratio_to_floor']:>8.3f}  {verdict}")
    print(f"Warm overhead of the gateway over a direct provider call ({warm['iterations']} calls each)")
    print(f"  gateway median {warm['gateway_median_ms']:.3f} ms, direct median {warm['direct_median_ms']:.3f} ms")
    verdict = "ok" if warm["overhead_median_ms"] <= WARM_TARGET_MS else "OVER"
    print(
        f"  overhead median {warm['overhead_median_ms']:.3f} ms ({verdict}, target <= {WARM_TARGET_MS} ms), "
        f"p99 {warm['overhead_p99_ms']:.3f} ms"
    )
    print(f"saved {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
