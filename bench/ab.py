"""`make bench-ab BASE=<revision>`: this checkout's warm own work (warm.py, `make bench`'s warm measure) against
another revision's, in rounds that alternate the two against one local stack.

The warm p99 moves with the machine's hour by more than its goal's margin (docs/performance.md): two
whole `make bench` runs an hour apart cannot tell a change from the machine. Here both revisions are measured in the
same minutes, each round in the other order, through the same harness, stack and runtime venv; only the gateway's
code (its layer and the warm route's function, unpacked from git) differs. A difference that holds round after
round is the code's.
"""

from __future__ import annotations

import argparse
import io
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from bench.measure import local_stack, probe_environment, warm_own_cpu
from project import LAYER_DIR
from project import template as cfn


def unpack(revision: str, into: Path) -> Path:
    """The gateway's code (the layer and the functions) as it is at `revision`, unpacked under `into`."""
    paths = [str(path.relative_to(cfn.ROOT)) for path in (LAYER_DIR, cfn.ROOT / "functions")]
    archive = subprocess.run(
        ["git", "archive", "--format=tar", revision, *paths],  # noqa: S607 - this repository's git
        cwd=cfn.ROOT,
        capture_output=True,
        check=False,
    )
    if archive.returncode != 0:
        raise SystemExit(f"git archive {revision}: {archive.stderr.decode().strip()}")
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as unpacked:
        unpacked.extractall(into, filter="data")
    return into


FIGURES = ("p50", "p99", "noise_p99")  # of warm_own_cpu's, in ms: what each round and the summary report


def summary(rounds: list[dict[str, Any]]) -> dict[str, float]:
    """The medians, over the rounds, of each round's figures."""
    return {figure: round(statistics.median(measured[figure] for measured in rounds), 3) for figure in FIGURES}


def figures(name: str, measured: dict[str, Any]) -> str:
    p50, p99, noise = (measured[figure] for figure in FIGURES)
    return f"{name:24} p50 {p50:.3f} ms  p99 {p99:.3f} ms  noise p99 {noise:.3f} ms"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make bench-ab", description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="the revision to compare with (a commit, tag or branch)")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--iterations", type=int, default=1000)
    parser.add_argument("--runtime-python", default=str(cfn.ROOT / ".venv-runtime" / "bin" / "python"))
    arguments = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as directory, local_stack() as stack:
        sides = {"this checkout": cfn.ROOT, arguments.base: unpack(arguments.base, Path(directory))}
        environment = probe_environment(stack, {})
        rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in sides}
        for number in range(arguments.rounds):
            for name in list(sides)[:: 1 if number % 2 == 0 else -1]:
                measured = warm_own_cpu(arguments.runtime_python, environment, arguments.iterations, sides[name])
                rounds[name].append(measured)
                print(f"round {number + 1} {figures(name, measured)}", flush=True)
    print(f"\nWarm own CPU per request, medians of {arguments.rounds} rounds of {arguments.iterations} requests:")
    for name, measured in rounds.items():
        print(f"  {figures(name, summary(measured))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
