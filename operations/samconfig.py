"""The stack and region samconfig.toml deploys an environment to, for the tools that act on a deployed stack
(make smoke, make redrive). Standard library only: the runtime venv (make smoke) reads it too."""

from __future__ import annotations

import tomllib
from pathlib import Path

SAMCONFIG = Path(__file__).resolve().parents[1] / "samconfig.toml"


def deployment(environment: str) -> tuple[str, str]:
    """(stack name, region) of samconfig.toml's `environment` section (dev, prod)."""
    sections = tomllib.loads(SAMCONFIG.read_text())
    try:
        deploy = sections[environment]["deploy"]["parameters"]
    except KeyError:
        raise SystemExit(f"samconfig.toml has no [{environment}.deploy.parameters] section") from None
    return deploy["stack_name"], deploy["region"]
