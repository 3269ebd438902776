"""The one JSON reader of every request body (API routes and webhook deliveries alike) and of every provider answer.

Strict where Python's json module is lenient, because whatever it lets through is forwarded to a provider or
stored: a key given twice (which of the two would the provider read?), NaN and Infinity (not JSON), a number that
overflows a double (json reads 1e400 as infinity, which cannot be sent on, and a 400-digit integer as a Python int,
which every reader that holds numbers as doubles, JavaScript's included, takes for infinity), a lone surrogate escape
("\\ud800": not text). Each is a ValueError naming what is wrong, never the value (it may be personal data).

The standard library's C decoder, with hooks only where it must be stricter: pydantic_core's reader takes 1e400
and duplicate keys as they are.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

# A \uD800-\uDFFF escape: only these can put a surrogate into a string (UTF-8 text cannot carry one).
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_DOUBLE_DIGITS = 309  # the largest double, about 1.8e308, has 309 integer digits


class NotStrictJson(ValueError):
    """The body is not JSON as the gateway reads it; `reason` says why, without any of the body's values."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def loads(data: bytes) -> Any:
    """The JSON value in `data` (UTF-8); NotStrictJson when it is not strict JSON."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise NotStrictJson("is not UTF-8 text") from None
    return loads_text(text)


def loads_text(text: str) -> Any:
    """The JSON value in `text` (already decoded: a provider's answer, read in its declared charset); NotStrictJson
    when it is not strict JSON."""
    try:
        value = json.loads(
            text,
            object_pairs_hook=_unique_keys,
            parse_constant=_not_json,
            parse_float=_finite,
            parse_int=_within_double,
        )
    except NotStrictJson:
        raise
    except RecursionError:  # json gives up at the interpreter's recursion limit: cheap, and a caller error
        raise NotStrictJson("is nested too deeply") from None
    except ValueError:  # malformed, or an integer beyond Python's digit limit
        raise NotStrictJson("is not valid JSON") from None
    if _SURROGATE_ESCAPE.search(text) and not _whole_text(value):
        raise NotStrictJson("has a lone surrogate escape (\\ud800-\\udfff without its pair)")
    return value


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    value = dict(pairs)
    if len(value) != len(pairs):
        raise NotStrictJson("has a key given twice in one object")
    return value


def _not_json(constant: str) -> Any:
    raise NotStrictJson(f"has {constant}, which is not a JSON number")


def _finite(number: str) -> float:
    value = float(number)
    if not math.isfinite(value):
        raise NotStrictJson("has a number too large for a double")
    return value


def _within_double(number: str) -> int:
    if len(number.lstrip("-")) >= _DOUBLE_DIGITS:  # as long as the largest double (about 1.8e308), or longer
        _finite(number)  # read as a double, as a number's other readers would: too large is infinity
    return int(number)


def _whole_text(value: Any) -> bool:
    """Every string of `value` (keys included) is encodable text: no surrogate left without its pair."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return False
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return True
