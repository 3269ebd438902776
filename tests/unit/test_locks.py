"""Reproducible builds: every venv and the layer install from locks with hashes; the built layer is the lock."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from build_steps import verify_build
from project import template as cfn

ROOT = cfn.ROOT
LOCKS = {
    "layers/gateway/requirements.in": "layers/gateway/requirements.txt",
    "requirements-dev.in": "requirements-dev.txt",
    "requirements-sam.in": "requirements-sam.txt",
    "requirements-checkov.in": "requirements-checkov.txt",
}
REQUIREMENT = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]+\])?==(\S+)", re.MULTILINE)


def pins(text: str) -> dict[str, str]:
    return {verify_build.normalise(name): version for name, version in REQUIREMENT.findall(text)}


def entries(lock: str) -> list[str]:
    """Each requirement of a lock with its continuation lines."""
    text = (ROOT / lock).read_text()
    return [entry for entry in re.split(r"\n(?=[A-Za-z0-9])", text) if REQUIREMENT.match(entry)]


@pytest.mark.parametrize(("source", "lock"), LOCKS.items())
def test_every_lock_pins_its_inputs_exactly_and_hashes_every_package(source, lock):
    wanted = pins((ROOT / source).read_text())
    included = re.findall(r"^-r (\S+)", (ROOT / source).read_text(), re.MULTILINE)
    for other in included:
        wanted |= pins((ROOT / other).read_text())
    locked = pins((ROOT / lock).read_text())
    assert {name: locked.get(name) for name in wanted} == wanted
    assert all("--hash=sha256:" in entry for entry in entries(lock)), lock
    # The header records the command `make lock` runs, which Dependabot repeats when it bumps a pin
    assert "uv pip compile --universal --python-version 3.13 --generate-hashes" in (ROOT / lock).read_text()
    assert f" {source} -o {lock}" in (ROOT / lock).read_text().splitlines()[1]


def test_the_project_venv_runs_the_layer_packages_at_the_layer_versions():
    layer, dev = (
        pins((ROOT / lock).read_text()) for lock in ("layers/gateway/requirements.txt", "requirements-dev.txt")
    )
    assert {name: dev.get(name) for name in layer} == layer


def test_every_venv_of_the_makefile_installs_by_hash():
    makefile = (ROOT / "Makefile").read_text()
    installs = re.findall(r"\$\(PIP_INSTALL\) (\S+)", makefile)
    assert sorted(installs) == sorted(LOCKS.values())
    assert "--require-hashes" in re.search(r"^PIP_INSTALL = (.*)$", makefile, re.MULTILINE).group(1)
    assert "pip install" not in makefile.replace("bin/pip install $(PIP_QUIET) --require-hashes", "")


def built_layer(root: Path, packages: dict[str, str], tags: dict[str, str] | None = None) -> Path:
    """A layer as `make build` leaves it: each package's dist-info (its wheel's tag from `tags`, else pure Python),
    kyc_gateway compiled."""
    python = root / "python"
    (python / "kyc_gateway").mkdir(parents=True)
    (python / "kyc_gateway" / "__init__.py").write_text("")
    (python / "kyc_gateway" / "__pycache__").mkdir()
    (python / "kyc_gateway" / "__pycache__" / "__init__.cpython-313.pyc").write_bytes(b"")
    for name, version in packages.items():
        info = python / f"{name.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        tag = (tags or {}).get(name, "py3-none-any")
        (info / "WHEEL").write_text(f"Wheel-Version: 1.0\nRoot-Is-Purelib: false\nTag: {tag}\n")
    return python


AARCH64_WHEEL, X86_64_WHEEL = "cp313-cp313-manylinux_2_17_aarch64", "cp313-cp313-manylinux_2_17_x86_64"


def shared_object(path: Path, machine: int) -> None:
    """The first bytes of a 64-bit little-endian ELF shared object for `machine` (62 x86_64, 183 aarch64)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = b"\x7fELF" + bytes([2, 1, 1]) + bytes(9) + (3).to_bytes(2, "little") + machine.to_bytes(2, "little")
    path.write_bytes(header + bytes(44))


@pytest.fixture
def lock(tmp_path: Path) -> Path:
    path = tmp_path / "requirements.txt"
    path.write_text("pydantic==2.14.3 \\\n    --hash=sha256:00\npydantic-core==2.50.4 \\\n    --hash=sha256:11\n")
    return path


def test_given_the_layer_built_from_the_lock_for_arm64_then_no_problem(tmp_path, lock):
    packages, tags = {"pydantic": "2.14.3", "pydantic_core": "2.50.4"}, {"pydantic_core": AARCH64_WHEEL}
    layer = built_layer(tmp_path, packages, tags)
    shared_object(layer / "pydantic_core" / "_pydantic_core.cpython-313-aarch64-linux-gnu.so", 183)
    assert verify_build.problems(lock, layer) == []


def test_given_an_x86_64_build_in_the_layer_then_the_arm64_check_names_it(tmp_path, lock):
    # Given the lock's packages, but pydantic-core as this x86 machine's pip would install it, even under the name of
    # an aarch64 build
    packages, tags = {"pydantic": "2.14.3", "pydantic_core": "2.50.4"}, {"pydantic_core": X86_64_WHEEL}
    layer = built_layer(tmp_path, packages, tags)
    shared_object(layer / "pydantic_core" / "_pydantic_core.cpython-313-aarch64-linux-gnu.so", 62)

    # When the build is checked, then the compiled file and the wheel are named
    assert verify_build.problems(lock, layer) == [
        "pydantic_core/_pydantic_core.cpython-313-aarch64-linux-gnu.so: built for x86_64, not aarch64 (Lambda arm64)",
        "pydantic_core-2.50.4.dist-info: wheel tag cp313-cp313-manylinux_2_17_x86_64, a platform Lambda's "
        "python3.13 on arm64 cannot run",
    ]


@pytest.mark.parametrize(
    "name", ["_pydantic_core.cpython-313-aarch64-linux-gnu.so", "_speedups.abi3.so", "libffi.so.8"]
)
def test_given_a_shared_object_that_is_not_elf_then_the_arm64_check_names_it(tmp_path, lock, name):
    # Given the lock's packages, and a shared object whose name Lambda's python would load that is a macOS build
    packages, tags = {"pydantic": "2.14.3", "pydantic_core": "2.50.4"}, {"pydantic_core": AARCH64_WHEEL}
    layer = built_layer(tmp_path, packages, tags)
    shared_object(layer / "pydantic_core" / "_pydantic_core.cpython-313-aarch64-linux-gnu.so", 183)
    (layer / "pydantic_core" / name).write_bytes(b"\xcf\xfa\xed\xfe" + bytes(28))  # Mach-O, 64-bit

    # When the build is checked, Then it is named
    assert verify_build.problems(lock, layer) == [
        f"pydantic_core/{name}: not an ELF shared object, which Lambda arm64 cannot load"
    ]


def test_given_a_drifted_layer_then_each_difference_is_named(tmp_path, lock):
    layer = built_layer(tmp_path, {"pydantic": "2.14.2", "requests": "2.34.2"})
    (layer / "pydantic_core").mkdir()
    (layer / "pydantic_core" / "_pydantic_core.cpython-313-darwin.so").write_bytes(b"")
    (layer / "kyc_gateway" / "api.py").write_text("")  # shipped as source only
    assert verify_build.problems(lock, layer) == [
        "pydantic: locked 2.14.3, built 2.14.2",
        "pydantic-core: locked 2.50.4, built nothing",
        "requests 2.34.2: built but not in the lock",
        "pydantic_core/_pydantic_core.cpython-313-darwin.so: not built for Lambda's interpreter "
        "(.cpython-313-aarch64-linux-gnu.so)",
        "pydantic_core/_pydantic_core.cpython-313-darwin.so: not an ELF shared object, which Lambda arm64 cannot load",
        "python/kyc_gateway/api.py: no bytecode",
    ]
