"""A Lambda instance's cold start runs with Python's cyclic garbage collector paused.

A cold start makes some 55,000 container objects that live as long as the instance (modules, botocore's service
models and clients, pydantic validators) and next to no cyclic garbage (a few hundred objects): the collector's
passes over them are wasted work, about 8% of a cold first request's CPU (make bench, docs/performance.md).

In Lambda (AWS_LAMBDA_RUNTIME_API set: the runtime, SnapStart and `sam local invoke` alike; unset in tests, tools and
the local stack unless a test or the bench sets it to act as Lambda) the pause begins when the layer is first imported
(kyc_gateway/__init__.py) and ends when the first invocation's first unit of work is done: for an API route once its
answer is made (a caller waits on it), for a queue batch once its first record is (the rest of the batch runs with the
collector on: the first record pays the imports and clients the cold start left to first use), for a scheduled run as it
starts (a run can be long). Ending it freezes every object the collector then tracks (`gc.freeze`: the live ones, the
few cycles of garbage made so far, a failed first request's traceback) out of every later collection, which also makes a
warm instance's full collections cheaper, and collection resumes. Its price: what was frozen is never collected, even
once it becomes garbage (a few hundred KB measured).
A process that had switched the collector off itself is left as it was.
"""

from __future__ import annotations

import functools
import gc
import os
from collections.abc import Callable
from typing import Any, TypeVar

HandlerT = TypeVar("HandlerT", bound=Callable[..., Any])

# Holds "paused" while this instance's cold start has the collector paused; popped (atomically) to resume.
_pause = {"paused": True} if "AWS_LAMBDA_RUNTIME_API" in os.environ and gc.isenabled() else {}
if _pause:
    gc.disable()


def resumes_after_first_request(handler: HandlerT) -> HandlerT:
    """`handler`, ending the cold start's pause once its first invocation returns or raises."""

    @functools.wraps(handler)
    def handled(event: Any, context: Any) -> Any:
        try:
            return handler(event, context)
        finally:
            if _pause:
                resume()

    return handled  # type: ignore[return-value]


def resume() -> None:
    """End the pause: freeze what the collector tracks, collect again from now on. Once per process, whichever
    thread comes first; later calls do nothing."""
    if _pause.pop("paused", False):
        gc.freeze()
        gc.enable()
