"""Ship botocore with the data of the AWS services the layer calls (kyc_gateway.aws.SHIPPED_SERVICES), and no other.

botocore bundles the models of every AWS service. A cold instance's first client scans all of their directories
(about 10 ms per model type) and parses endpoints.json (1.2 MB, about 30 ms) before it can send anything; with
the unused models removed and endpoints.json keeping only the services the gateway calls, the first client costs
about 12 ms instead of 60 (docs/performance.md), and the layer is about 27 MB smaller. Every partition and region
stays in endpoints.json, and the kept services' entries are unchanged, so their endpoints resolve exactly as
before (a test compares every region of every partition).

    python -m build_steps.slim_botocore <site-packages>...   slim the botocore found in each directory
    python -m build_steps.slim_botocore --check <dir>...      list what is not slimmed (nothing when it is)

Standard library only: `make build` runs it on the built layer, the runtime venv's target on that venv.
"""

from __future__ import annotations

import gzip
import json
import shutil
import sys
from pathlib import Path

from kyc_gateway.aws import SHIPPED_SERVICES  # importable: the `local` package puts the layer on sys.path


def endpoint_prefix(service_dir: Path) -> str:
    """The service's key in endpoints.json: its newest model's metadata.endpointPrefix."""
    newest = sorted(path for path in service_dir.iterdir() if path.is_dir())[-1]
    model = newest / "service-2.json.gz"
    text = gzip.decompress(model.read_bytes()) if model.exists() else (newest / "service-2.json").read_bytes()
    return json.loads(text)["metadata"]["endpointPrefix"]


def trimmed_endpoints(endpoints: dict, prefixes: set[str]) -> dict:
    """endpoints.json with every partition's metadata and regions, and its services narrowed to `prefixes`."""
    return {
        **endpoints,
        "partitions": [
            {**partition, "services": {k: v for k, v in partition["services"].items() if k in prefixes}}
            for partition in endpoints["partitions"]
        ],
    }


def slim(site_packages: Path) -> None:
    data = site_packages / "botocore" / "data"
    missing = sorted(service for service in SHIPPED_SERVICES if not (data / service).is_dir())
    if missing:
        raise SystemExit(f"{data}: no model for {', '.join(missing)}")
    prefixes = {endpoint_prefix(data / service) for service in SHIPPED_SERVICES}
    for path in data.iterdir():
        if path.is_dir() and path.name not in SHIPPED_SERVICES:
            shutil.rmtree(path)
    endpoints = json.loads((data / "endpoints.json").read_text())
    (data / "endpoints.json").write_text(json.dumps(trimmed_endpoints(endpoints, prefixes), separators=(",", ":")))


def problems(site_packages: Path) -> list[str]:
    data = site_packages / "botocore" / "data"
    if not data.is_dir():
        return [f"{data}: not found"]
    services = {path.name for path in data.iterdir() if path.is_dir()}
    found = [f"{data}: ships {name}, which the gateway does not call" for name in sorted(services - SHIPPED_SERVICES)]
    found += [f"{data}: no model for {name}" for name in sorted(SHIPPED_SERVICES - services)]
    prefixes = {endpoint_prefix(data / service) for service in SHIPPED_SERVICES & services}
    endpoints = json.loads((data / "endpoints.json").read_text())
    extra = {key for partition in endpoints["partitions"] for key in partition["services"]} - prefixes
    found += [f"{data}/endpoints.json: not slimmed (it lists {len(extra)} other services)"] if extra else []
    return found


def main(argv: list[str]) -> int:
    check = argv[:1] == ["--check"]
    directories = [Path(argument) for argument in (argv[1:] if check else argv)]
    if not directories:
        print(__doc__, file=sys.stderr)
        return 2
    if check:
        found = [problem for directory in directories for problem in problems(directory)]
        for problem in found:
            print(problem, file=sys.stderr)
        return 1 if found else 0
    for directory in directories:
        slim(directory)
        print(f"{directory}/botocore/data: {', '.join(sorted(SHIPPED_SERVICES))} kept")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
