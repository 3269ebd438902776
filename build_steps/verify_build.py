"""After `sam build`: the built layer holds exactly the lock's packages, at the lock's versions, built for Lambda,
every module of it (and of the functions) compiled for Lambda's interpreter, and botocore slimmed to the
services the gateway calls.

`make build` runs it, so CI fails when the shipped layer drifts from layers/gateway/requirements.txt (a package
added by hand, a stale build cache, a wheel for the wrong interpreter). Standard library only.
"""

from __future__ import annotations

import re
import sys
from importlib import metadata
from pathlib import Path

from build_steps import slim_botocore

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "layers" / "gateway" / "requirements.txt"
BUILT = ROOT / ".aws-sam" / "build" / "GatewayLayer" / "python"
# Lambda's python3.13 on x86_64 (template Globals): compiled extensions must be built for it.
EXTENSION_SUFFIX = ".cpython-313-x86_64-linux-gnu.so"


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked(lock: Path = LOCK) -> dict[str, str]:
    pins = {}
    for line in lock.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)\s*(;[^\\]*)?", line)
        if match:
            if match.group(3):
                raise SystemExit(f"{lock}: {match.group(1)} has an environment marker; teach verify_build about it")
            pins[normalise(match.group(1))] = match.group(2)
    return pins


def built(directory: Path = BUILT) -> dict[str, str]:
    return {normalise(d.metadata["Name"]): d.version for d in metadata.distributions(path=[str(directory)])}


def problems(lock: Path = LOCK, directory: Path = BUILT) -> list[str]:
    if not directory.is_dir():
        return [f"{directory} does not exist: run sam build first"]
    expected, found = locked(lock), built(directory)
    found_problems = [
        f"{name}: locked {version}, built {found.get(name, 'nothing')}"
        for name, version in sorted(expected.items())
        if found.get(name) != version
    ]
    extra = sorted(set(found) - set(expected))
    found_problems += [f"{name} {found[name]}: built but not in the lock" for name in extra]
    found_problems += [
        f"{so.relative_to(directory)}: not built for Lambda's interpreter ({EXTENSION_SUFFIX})"
        for so in directory.rglob("*.so")
        if not so.name.endswith(EXTENSION_SUFFIX) and ".cpython-" in so.name
    ]
    if not (directory / "kyc_gateway" / "__init__.py").is_file():
        found_problems.append("kyc_gateway is not in the layer")
    found_problems += [f"{source}: no bytecode" for source in uncompiled(directory)]
    if "botocore" in expected:
        found_problems += slim_botocore.problems(directory)
    return found_problems


def uncompiled(directory: Path) -> list[Path]:
    """Modules without their cpython-313 bytecode: read-only on Lambda, they would be compiled on every cold start."""
    return sorted(
        source.relative_to(directory.parent)
        for source in directory.rglob("*.py")
        if not (source.parent / "__pycache__" / f"{source.stem}.cpython-313.pyc").is_file()
    )


def main() -> int:
    functions = [path for path in BUILT.parents[1].iterdir() if path.is_dir() and path != BUILT.parent]
    found = problems() + [f"{source}: no bytecode" for function in functions for source in uncompiled(function)]
    for problem in found:
        print(f"built layer: {problem}", file=sys.stderr)
    if not found:
        print(f"built layer: {len(locked())} locked packages at their locked versions, plus kyc_gateway")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
