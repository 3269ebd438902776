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


def built_layer(root: Path, packages: dict[str, str]) -> Path:
    python = root / "python"
    (python / "kyc_gateway").mkdir(parents=True)
    (python / "kyc_gateway" / "__init__.py").write_text("")
    (python / "kyc_gateway" / "__pycache__").mkdir()
    (python / "kyc_gateway" / "__pycache__" / "__init__.cpython-313.pyc").write_bytes(b"")
    for name, version in packages.items():
        info = python / f"{name.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    return python


@pytest.fixture
def lock(tmp_path: Path) -> Path:
    path = tmp_path / "requirements.txt"
    path.write_text("pydantic==2.14.3 \\\n    --hash=sha256:00\npydantic-core==2.50.4 \\\n    --hash=sha256:11\n")
    return path


def test_given_the_layer_built_from_the_lock_then_no_problem(tmp_path, lock):
    layer = built_layer(tmp_path, {"pydantic": "2.14.3", "pydantic_core": "2.50.4"})
    (layer / "pydantic_core").mkdir()
    (layer / "pydantic_core" / "_pydantic_core.cpython-313-x86_64-linux-gnu.so").write_bytes(b"")
    assert verify_build.problems(lock, layer) == []


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
        "(.cpython-313-x86_64-linux-gnu.so)",
        "python/kyc_gateway/api.py: no bytecode",
    ]
