"""The caller kit as a new service gets it: pip-installed from its path into a directory of its own (the build
backend from this venv, no index), and code run against that install in an isolated interpreter."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from project import template as cfn


def install(tmp_path: Path) -> Path:
    """The directory pip installed the client into (from a copy: a build writes beside its sources)."""
    source, target = tmp_path / "client", tmp_path / "site"
    shutil.copytree(cfn.ROOT / "clients" / "python", source, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    subprocess.run(  # noqa: S603 - pip on our own package
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
         "--target", str(target), str(source)],
        check=True,
        capture_output=True,
        timeout=300,
    )  # fmt: skip
    return target


def run(target: Path, code: str, env: dict[str, str] | None = None) -> str:
    """`code`'s output, run by an isolated interpreter (no project paths) that imports the install first."""
    return subprocess.run(  # noqa: S603 - our own probe
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(target)!r})\n{code}"],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    ).stdout
