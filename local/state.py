"""Where a running `make run` says its services are, for `make invoke`, `make smoke ENV=local` and developers'
tools. Standard library only: the runtime venv (make smoke) reads it too.

The file names the process that wrote it (`pid`), and only that process removes it: a second `make run` that
cannot start, or one that stops after another took the file over, leaves the running stack's state alone."""

from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # 127.0.0.1: never through a *_proxy


def state_file() -> Path:
    """`.local-stack/stack.json`, or LOCAL_STACK_STATE (each e2e test's stack has its own)."""
    return Path(os.environ.get("LOCAL_STACK_STATE") or ROOT / ".local-stack" / "stack.json")


def write_state(services: dict[str, Any]) -> None:
    """This process's stack state: its pid and `services`, written whole (a reader never sees half a file)."""
    path = state_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.write_text(json.dumps({"pid": os.getpid(), **services}, indent=2))
    partial.replace(path)


def remove_state_if_ours() -> None:
    """Remove the state file when this process wrote it; anyone else's (a running stack's) stays."""
    path = state_file()
    try:
        ours = json.loads(path.read_text())["pid"] == os.getpid()
    except (OSError, ValueError, KeyError, TypeError):
        return
    if ours:
        path.unlink(missing_ok=True)


def running_stack() -> dict[str, Any] | None:
    """The state of a live `make run` stack (its process exists and its sandbox answers), or None."""
    try:
        state = json.loads(state_file().read_text())
        os.kill(state["pid"], 0)
        with DIRECT.open(state["sandbox"] + "/_sandbox/health", timeout=1):
            return state
    except (OSError, ValueError, KeyError, TypeError):
        return None


def no_running_stack() -> str:
    """Why `running_stack()` found none, for a message: the state file does not exist, or names none that answers (a
    stack stopped without removing it)."""
    path = state_file()
    return f"{path} {'names none that answers' if path.exists() else 'does not exist'}"
