"""CloudFormation's intrinsic functions, as the generators write them."""

from __future__ import annotations

from typing import Any


def ref(name: str) -> dict[str, Any]:
    return {"Ref": name}


def sub(text: str) -> dict[str, Any]:
    return {"Fn::Sub": text}


def is_plain_ref(value: Any) -> bool:
    """Whether `value` is a Ref and nothing else."""
    return isinstance(value, dict) and set(value) == {"Ref"}


def parameters_of(value: Any, template: dict[str, Any]) -> set[str]:
    """The parameters an intrinsic's value depends on: a Ref of one, a ${name} of one, a condition on one."""
    declared = template["Parameters"]
    if isinstance(value, list):
        return set().union(*(parameters_of(item, template) for item in value))
    if not isinstance(value, dict):
        return set()
    found: set[str] = set()
    for name, argument in value.items():
        if name == "Ref" and argument in declared:
            found.add(argument)
        elif name == "Fn::Sub":
            text = argument if isinstance(argument, str) else argument[0]
            found |= {parameter for parameter in declared if f"${{{parameter}}}" in text}
        elif name == "Condition" and isinstance(argument, str):
            found |= parameters_of(template["Conditions"][argument], template)
        if name == "Fn::If":
            found |= parameters_of({"Condition": argument[0]}, template)
        found |= parameters_of(argument, template)
    return found
