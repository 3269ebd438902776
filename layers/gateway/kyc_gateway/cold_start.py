"""An instance's cold start (its init and first request) runs with Python's cyclic garbage collector paused.

A cold start allocates hundreds of thousands of objects that live as long as the instance (modules, botocore's
service models and clients, pydantic validators) and next to no cyclic garbage: the collector's passes over them
are wasted work, about 8% of a cold first request's CPU (make bench, docs/performance.md). The pause begins when
the layer is first imported (kyc_gateway/__init__.py) and ends once the instance's first request is answered
(`resumes_after_first_request`, around every handler, failed requests included): what is alive then is frozen
(`gc.freeze`: left out of every later collection, which also makes a warm instance's full collections cheaper)
and collection resumes. Its price: cyclic garbage of the cold start is never freed (a few hundred KB at most).
A process that had switched the collector off itself is left as it was.
"""

from __future__ import annotations

import functools
import gc
from collections.abc import Callable
from typing import Any, TypeVar

HandlerT = TypeVar("HandlerT", bound=Callable[..., Any])

_pause = {"on": gc.isenabled()}  # whether this process's cold start paused the collector, until it resumes
if _pause["on"]:
    gc.disable()


def resumes_after_first_request(handler: HandlerT) -> HandlerT:
    """`handler`, ending the cold start's pause once its first invocation returns or raises."""

    @functools.wraps(handler)
    def handled(event: Any, context: Any) -> Any:
        try:
            return handler(event, context)
        finally:
            if _pause["on"]:
                resume()

    return handled  # type: ignore[return-value]


def resume() -> None:
    """End the pause: freeze what is alive, collect again from now on. Once per process; later calls do nothing."""
    if _pause["on"]:
        _pause["on"] = False
        gc.freeze()
        gc.enable()
