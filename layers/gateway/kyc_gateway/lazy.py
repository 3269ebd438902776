"""Per-instance singletons built on first use, so a request failing validation never pays for them."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any


def once[T](factory: Callable[..., T]) -> Callable[..., T]:
    """Cache `factory`'s result per arguments. Unlike a bare functools.cache, concurrent first calls (threads
    of the local stack) build it once: a boto3 client takes ~70 ms of CPU and is not safe to build in parallel.
    `cache_clear()` forgets it, as a new instance would."""
    lock = threading.Lock()
    cached = functools.cache(factory)

    @functools.wraps(factory)
    def get(*args: Any) -> T:
        with lock:
            return cached(*args)

    get.cache_clear = cached.cache_clear  # type: ignore[attr-defined]
    return get
