"""The release version: the caller kit's `__version__` (clients/python/src/kyc_gateway_client/__init__.py), the one
place it is written. The client's package metadata reads it from there, openapi.json's `info.version` is generated
from it, and a release's tag must be `v` + it."""

from __future__ import annotations

import ast
import re

from project import ROOT

CLIENT_INIT = ROOT / "clients" / "python" / "src" / "kyc_gateway_client" / "__init__.py"
_SEMVER = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")


def current() -> str:
    """`__version__` as written, read without importing the package."""
    for node in ast.parse(CLIENT_INIT.read_text()).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__version__" for t in node.targets):
            return ast.literal_eval(node.value)
    raise SystemExit(f"{CLIENT_INIT.relative_to(ROOT)} sets no __version__")


def parse(version: str) -> tuple[int, int, int]:
    """MAJOR.MINOR.PATCH as numbers; a `v` prefix (a tag) is allowed."""
    match = _SEMVER.match(version.removeprefix("v"))
    if match is None:
        raise ValueError(f"{version!r} is not MAJOR.MINOR.PATCH")
    major, minor, patch = (int(part) for part in match.groups())
    return major, minor, patch
