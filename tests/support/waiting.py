"""Waiting for something another thread or process does, with a deadline: a test polls instead of sleeping a guess,
and fails, saying what it waited for, instead of hanging."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(condition: Callable[[], T], seconds: float = 30.0, *, every: float = 0.3, what: str = "") -> T:
    """`condition()`'s first true value, asked every `every` seconds; AssertionError after `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"not within {seconds} s: {what or condition.__name__}")
        time.sleep(every)
