"""The caller kit installs from the repository path with pip, as a new service would install it, and what is
installed is the package (its modules and py.typed), not the source tree on the test path."""

from __future__ import annotations

import shutil
import subprocess
import sys

from project import template as cfn


def test_the_client_installs_from_its_path_and_imports_from_the_install(tmp_path):
    # Given the client's directory (a copy: a build writes beside its sources), When pip installs it from its path
    # (the build backend from this venv, no index)
    source, target = tmp_path / "client", tmp_path / "site"
    shutil.copytree(cfn.ROOT / "clients" / "python", source, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    subprocess.run(  # noqa: S603 - pip on our own package
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
         "--target", str(target), str(source)],
        check=True,
        capture_output=True,
        timeout=300,
    )  # fmt: skip

    # Then the installed package imports on its own, typed, with its routes
    probe = (
        "import kyc_gateway_client as k, pathlib; "
        "print(k.__version__, pathlib.Path(k.__file__).parent.joinpath('py.typed').exists(), len(k.ROUTES), k.__file__)"
    )
    shown = subprocess.run(  # noqa: S603 - our own probe
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(target)!r}); {probe}"],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout.split()
    assert shown[:3] == ["0.1.0", "True", "10"]
    assert shown[3].startswith(str(target))
