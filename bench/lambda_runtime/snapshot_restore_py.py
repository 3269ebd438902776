"""What Lambda's Python runtime gives a SnapStart function's code, for `make bench` and the tests: the runtime hook
registries of the snapshot-restore-py library (which Lambda's Python runtimes ship, and which the layer does not),
with that library's API, and the two steps the runtime takes with them.

A directory of its own, put first on sys.path by whoever plays the runtime, so that `import snapshot_restore_py`
finds it exactly as the layer's code finds the real one on Lambda.
"""

from collections.abc import Callable
from typing import Any

_before_snapshot_registry: list[tuple[Callable[..., Any], tuple, dict]] = []
_after_restore_registry: list[tuple[Callable[..., Any], tuple, dict]] = []


def register_before_snapshot(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Callable[..., Any]:
    _before_snapshot_registry.append((func, args, kwargs))
    return func


def register_after_restore(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Callable[..., Any]:
    _after_restore_registry.append((func, args, kwargs))
    return func


def get_before_snapshot() -> list[tuple[Callable[..., Any], tuple, dict]]:
    return _before_snapshot_registry


def get_after_restore() -> list[tuple[Callable[..., Any], tuple, dict]]:
    return _after_restore_registry


# --- the runtime's part -------------------------------------------------------------------------------------------


def take_snapshot() -> None:
    """What Lambda does after the function's init when it publishes a version: the before-snapshot hooks, in the
    reverse order of their registration (then it snapshots the instance)."""
    for func, args, kwargs in reversed(_before_snapshot_registry):
        func(*args, **kwargs)


def restore() -> None:
    """What Lambda does in an instance started from the snapshot, before its first invocation: the after-restore
    hooks, in the order of their registration."""
    for func, args, kwargs in _after_restore_registry:
        func(*args, **kwargs)
