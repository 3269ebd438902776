"""CloudFormation's intrinsic functions, as the generators write them."""

from __future__ import annotations

from typing import Any


def ref(name: str) -> dict[str, Any]:
    return {"Ref": name}


def sub(text: str) -> dict[str, Any]:
    return {"Fn::Sub": text}
