"""After `sam build`: the built layer holds exactly the lock's packages, at the lock's versions, built for Lambda's
python3.13 on arm64 (every compiled file an aarch64 build, every wheel tagged for it), every module of it (and of
the functions) compiled for Lambda's interpreter, and botocore slimmed to the services the gateway calls.

`make build` runs it, so CI fails when the shipped layer drifts from layers/gateway/requirements.txt (a package
added by hand, a stale build cache, a wheel for the wrong interpreter or for the building machine's x86_64).
Standard library only.
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
# The functions' architecture (template Globals, the layer's CompatibleArchitectures): Lambda's arm64 is aarch64.
ARCHITECTURE = "arm64"
MACHINE = "aarch64"
EXTENSION_SUFFIX = f".cpython-313-{MACHINE}-linux-gnu.so"
# Wheel platforms Lambda's python3.13 runs (Amazon Linux 2023, glibc 2.34): pure Python, or manylinux up to 2_34.
_LAMBDA_PLATFORM = re.compile(rf"^(any|manylinux2014_{MACHINE}|manylinux_2_(1[7-9]|2[0-9]|3[0-4])_{MACHINE})$")
# ELF e_machine values (offset 18 of the header), to name what a compiled file was built for.
_ELF_MACHINES = {3: "i386", 40: "arm", 62: "x86_64", 183: "aarch64"}
_SHARED_OBJECT = re.compile(r"\.so(\.\d+)*$")  # what Python or a library loads: _ext.abi3.so, libz.so.1


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
    found_problems += foreign_builds(directory)
    if not (directory / "kyc_gateway" / "__init__.py").is_file():
        found_problems.append("kyc_gateway is not in the layer")
    found_problems += [f"{source}: no bytecode" for source in uncompiled(directory)]
    if "botocore" in expected:
        found_problems += slim_botocore.problems(directory)
    return found_problems


def foreign_builds(directory: Path) -> list[str]:
    """Compiled files that are not aarch64 builds (read from their ELF header, whatever their name), shared objects
    that are not ELF at all (a macOS build, a broken download), and wheels installed with a platform tag Lambda's
    arm64 python3.13 cannot run."""
    found = []
    for path in sorted(directory.rglob("*")):
        if not path.is_file():
            continue
        machine, name = elf_machine(path), path.relative_to(directory)
        if machine is None and _SHARED_OBJECT.search(path.name):
            found.append(f"{name}: not an ELF shared object, which Lambda {ARCHITECTURE} cannot load")
        elif machine is not None and machine != MACHINE:
            found.append(f"{name}: built for {machine}, not {MACHINE} (Lambda {ARCHITECTURE})")
    for wheel in sorted(directory.glob("*.dist-info/WHEEL")):
        tags = [line.split(":", 1)[1].strip() for line in wheel.read_text().splitlines() if line.startswith("Tag:")]
        found += [
            f"{wheel.parent.name}: wheel tag {tag}, a platform Lambda's python3.13 on {ARCHITECTURE} cannot run"
            for tag in tags
            if not _LAMBDA_PLATFORM.match(tag.rsplit("-", 1)[-1])
        ]
    return found


def elf_machine(path: Path) -> str | None:
    """The architecture an ELF file (shared object, executable) was built for; None when it is not ELF."""
    with path.open("rb") as file:
        header = file.read(20)
    if len(header) < 20 or header[:4] != b"\x7fELF":
        return None
    number = int.from_bytes(header[18:20], "little" if header[5] == 1 else "big")
    return _ELF_MACHINES.get(number, f"ELF machine {number}")


def uncompiled(directory: Path) -> list[Path]:
    """Modules without their cpython-313 bytecode: read-only on Lambda, they would be compiled on every cold start."""
    return sorted(
        source.relative_to(directory.parent)
        for source in directory.rglob("*.py")
        if not (source.parent / "__pycache__" / f"{source.stem}.cpython-313.pyc").is_file()
    )


def main() -> int:
    functions = [path for path in BUILT.parents[1].iterdir() if path.is_dir() and path != BUILT.parent]
    found = problems() + [
        problem
        for function in functions
        for problem in [f"{source}: no bytecode" for source in uncompiled(function)] + foreign_builds(function)
    ]
    for problem in found:
        print(f"built layer: {problem}", file=sys.stderr)
    if not found:
        print(
            f"built layer: {len(locked())} locked packages at their locked versions, plus kyc_gateway; "
            f"every compiled file an {MACHINE} build (Lambda {ARCHITECTURE})"
        )
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
