"""Reads template.yaml the way CloudFormation would, for the local stack and the tests.

Resources (tables, queues, secrets) and each function's environment come from the template itself, so the
local emulation cannot drift from what is deployed.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    """YAML loader that turns CloudFormation short-form tags (!Ref, !Sub, ...) into their long form."""


def _intrinsic(loader: _CfnLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


_CfnLoader.add_multi_constructor("!", _intrinsic)


@functools.cache
def load(path: Path = TEMPLATE) -> dict[str, Any]:
    return yaml.load(path.read_text(), Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    code_dir: Path
    module: str
    attribute: str
    properties: dict[str, Any]

    @property
    def api_events(self) -> list[tuple[str, str]]:
        """(METHOD, path) of each API Gateway event of the function."""
        routes = []
        for event in (self.properties.get("Events") or {}).values():
            if event.get("Type") == "Api":
                routes.append((event["Properties"]["Method"].upper(), event["Properties"]["Path"]))
        return routes


def resources(template: dict[str, Any] | None = None) -> dict[str, Any]:
    return (template or load())["Resources"]


def lambda_functions(template: dict[str, Any] | None = None) -> set[str]:
    """Every Lambda function of the template: the registry's (SAM's) and CodeDeploy's pre-traffic hook (a plain one)."""
    kinds = ("AWS::Serverless::Function", "AWS::Lambda::Function")
    return {name for name, resource in resources(template).items() if resource["Type"] in kinds}


def functions(template: dict[str, Any] | None = None) -> dict[str, FunctionSpec]:
    template = template or load()
    global_props = (template.get("Globals") or {}).get("Function") or {}
    specs = {}
    for logical_id, resource in resources(template).items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        properties = {**global_props, **resource["Properties"]}
        module, attribute = properties["Handler"].rsplit(".", 1)
        specs[logical_id] = FunctionSpec(logical_id, ROOT / properties["CodeUri"], module, attribute, properties)
    return specs


def function_environment(
    logical_id: str,
    physical_ids: dict[str, str],
    parameters: dict[str, str] | None = None,
    template: dict[str, Any] | None = None,
) -> dict[str, str]:
    """The function's environment variables (Globals merged with its own), intrinsics resolved.

    `physical_ids` maps logical ids to what `!Ref` gives for them (table names, secret ARNs, queue URLs) and
    `LogicalId.Attr` to what `!GetAtt` gives.
    """
    template = template or load()
    global_vars = (((template.get("Globals") or {}).get("Function") or {}).get("Environment") or {}).get("Variables")
    own_vars = ((resources(template)[logical_id]["Properties"].get("Environment") or {}).get("Variables")) or {}
    values = parameter_values(parameters, template) | physical_ids
    variables = {**(global_vars or {}), **own_vars}
    return {name: str(resolve(value, values, template)) for name, value in variables.items()}


def parameter_values(overrides: dict[str, str] | None = None, template: dict[str, Any] | None = None) -> dict[str, Any]:
    """What `!Ref` gives for each parameter (its default, or `overrides`) and pseudo parameter: a string, or for a
    CommaDelimitedList the list of its items."""
    template = template or load()
    declared = template.get("Parameters") or {}
    defaults = {name: str(spec.get("Default", "")) for name, spec in declared.items()}
    pseudo = {
        "AWS::Region": "us-east-1",
        "AWS::AccountId": "123456789012",
        "AWS::Partition": "aws",
        "AWS::StackName": "kyc-gateway-local",
        "AWS::URLSuffix": "amazonaws.com",
    }
    values: dict[str, Any] = defaults | (overrides or {})
    for name, spec in declared.items():
        if spec.get("Type") == "CommaDelimitedList":
            values[name] = [item.strip() for item in str(values[name]).split(",")]
    return values | pseudo


def resolve(value: Any, values: dict[str, Any], template: dict[str, Any] | None = None) -> Any:
    """Resolve Ref, Fn::GetAtt, Fn::Sub, Fn::Join and Fn::If against `values`; Fn::If reads the conditions of
    `template` (template.yaml by default). A branch of AWS::NoValue is None."""
    if isinstance(value, dict) and len(value) == 1:
        ((name, argument),) = value.items()
        if name == "Ref":
            return None if argument == "AWS::NoValue" else values[argument]
        if name == "Fn::GetAtt":
            return values[".".join(argument)]
        if name == "Fn::Sub":
            text, extra = (argument, {}) if isinstance(argument, str) else (argument[0], argument[1])
            lookup = values | {key: resolve(item, values, template) for key, item in extra.items()}
            return re.sub(r"\$\{([^}]+)\}", lambda match: str(lookup[match.group(1)]), text)
        if name == "Fn::Join":
            separator, items = argument
            return separator.join(str(item) for item in resolve(items, values, template))
        if name == "Fn::If":
            condition, chosen, otherwise = argument
            return resolve(chosen if holds(condition, values, template) else otherwise, values, template)
    if isinstance(value, dict):
        return {key: resolve(item, values, template) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve(item, values, template) for item in value]
    return value


def holds(condition: str | dict[str, Any], values: dict[str, Any], template: dict[str, Any] | None = None) -> bool:
    """A template condition's value (by name, or a condition function) for the given parameter values."""
    if isinstance(condition, str):
        return holds((template or load())["Conditions"][condition], values, template)
    ((function, argument),) = condition.items()
    if function == "Condition":
        return holds(argument, values, template)
    if function == "Fn::Not":
        return not holds(argument[0], values, template)
    if function == "Fn::And":
        return all(holds(item, values, template) for item in argument)
    if function == "Fn::Or":
        return any(holds(item, values, template) for item in argument)
    if function == "Fn::Equals":
        left, right = (resolve(item, values, template) for item in argument)
        return str(left) == str(right)
    raise ValueError(f"{function} is not a condition function")
