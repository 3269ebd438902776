"""Where a running `make run` says its services are, for `make invoke`, `make smoke ENV=local` and developers'
tools. Standard library only: the runtime venv (make smoke) reads it too."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def state_file() -> Path:
    """`.local-stack/stack.json`, or LOCAL_STACK_STATE (each e2e test's stack has its own)."""
    return Path(os.environ.get("LOCAL_STACK_STATE") or ROOT / ".local-stack" / "stack.json")
