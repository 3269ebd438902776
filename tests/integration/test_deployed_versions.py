"""A deploy that changes only a parameter reaches the version the `live` alias serves. SAM names each function's
version by the template as written, so a parameter's new value (a provider's host, PUBLIC_BASE_URL, the audit
retention) changes $LATEST's configuration without publishing a version; the alias would keep serving the old one.
Each version's description carries what its configuration takes from parameters, and CloudFormation replaces a
version whose description changes (the property cannot be updated): a new version is published and the alias moves
to it through the deployment, its alarms watching. Read from the CloudFormation SAM makes of template.yaml."""

from __future__ import annotations

import json
import re

import pytest

from project import template as cfn
from tests.integration.test_deployed_template import gateway_functions, of_type, transformed

NOT_IN_A_VERSION = {"ReservedConcurrentExecutions", "Tags"}  # the function's own, whichever version runs


@pytest.fixture(scope="module")
def deployed() -> dict:
    return transformed("prod")


def values_for(template: dict, **overrides: str) -> dict:
    """Every name an intrinsic of `template` may ask for: its parameters (their defaults, then `overrides`), and a
    stand-in for each resource and attribute, which no parameter changes."""
    values = cfn.parameter_values(overrides, template)
    text = json.dumps(template)
    names = set(template["Resources"]) | set(re.findall(r"\$\{([^}!]+)\}", text))
    attributes = {".".join(pair) for pair in re.findall(r'"Fn::GetAtt": \["([^"]+)", "([^"]+)"\]', text)}
    return {name: f"<{name}>" for name in names | attributes} | values


def another_value(template: dict, name: str) -> str:
    """A valid value other than the parameter's default."""
    spec = template["Parameters"][name]
    default = str(spec.get("Default", ""))
    if spec.get("AllowedValues"):
        return next(str(value) for value in spec["AllowedValues"] if str(value) != default)
    if spec["Type"] == "Number":
        return str(int(float(default or spec.get("MinValue", 0))) + 1)
    if spec["Type"] == "CommaDelimitedList":
        return "changed.example,other.example"
    return "https://changed.example" if not default or default.startswith(("https://", "/")) else default + "x"


def configurations(template: dict, values: dict) -> dict[str, tuple[dict, str]]:
    """Per function: what a version of it holds (resolved) and its version's description (resolved)."""
    versions = {
        version["Properties"]["FunctionName"]["Ref"]: version
        for version in of_type(template, "AWS::Lambda::Version").values()
    }
    held = {}
    for name, function in gateway_functions(template).items():
        properties = {key: value for key, value in function["Properties"].items() if key not in NOT_IN_A_VERSION}
        description = versions[name]["Properties"].get("Description")
        held[name] = (cfn.resolve(properties, values, template), cfn.resolve(description, values, template))
    return held


def test_a_version_is_published_exactly_when_one_parameter_changes_what_it_would_hold(
    by_default, each_changed_alone, relevant
):
    # Given the stack as deployed with its defaults
    before = by_default
    for name, after in each_changed_alone.items():
        # When one parameter takes another value
        for function, (configuration, description) in after.items():
            # Then a function gets a new version (another description) if and only if its configuration changed:
            # a description changed for nothing would have Lambda publish nothing new, and the deploy fail
            assert (configuration != before[function][0]) == (description != before[function][1]), (name, function)
    # (and the drill moved the parameters that matter: hosts, the callback URL, SnapStart, the audit retention)
    assert {"CladfyBaseUrl", "ConnectFiBaseUrl", "PublicBaseUrl", "CustomDomainName", "SnapStart"} <= relevant
    assert {"AuditRetentionDays", "ConnectFiWebhookHosts", "SignzyAuthHeader"} <= relevant


def test_a_version_is_published_exactly_when_a_second_parameter_changes_what_it_would_hold(
    deployed, each_changed_alone, relevant
):
    # Given the stack deployed with one parameter set (a PublicBaseUrl, say), each other parameter then changed too
    for first in sorted(relevant):
        changed, before = {first: another_value(deployed, first)}, each_changed_alone[first]
        for second in sorted(relevant - {first}):
            both = changed | {second: another_value(deployed, second)}
            after = configurations(deployed, values_for(deployed, **both))
            # Then again a new version exactly when its configuration changed (a CustomDomainName under a set
            # PublicBaseUrl changes nothing, and must publish nothing)
            for function, (configuration, description) in after.items():
                assert (configuration != before[function][0]) == (description != before[function][1]), (
                    first,
                    second,
                    function,
                )


@pytest.fixture(scope="module")
def by_default(deployed) -> dict[str, tuple[dict, str]]:
    return configurations(deployed, values_for(deployed))


@pytest.fixture(scope="module")
def each_changed_alone(deployed) -> dict[str, dict[str, tuple[dict, str]]]:
    """Per parameter: the configurations with that parameter alone at another value."""
    return {
        name: configurations(deployed, values_for(deployed, **{name: another_value(deployed, name)}))
        for name in deployed["Parameters"]
    }


@pytest.fixture(scope="module")
def relevant(by_default, each_changed_alone) -> set[str]:
    """The parameters whose value changes some function's configuration."""
    return {
        name
        for name, after in each_changed_alone.items()
        if any(configuration != by_default[function][0] for function, (configuration, _) in after.items())
    }


def test_a_version_description_fits_lambdas_limit_with_the_longest_values_the_parameters_take(deployed):
    # Given every parameter at its longest: its MaxLength, its longest allowed value, its MaxValue, and for a base
    # URL read from SSM (which the template cannot bound) the 80 characters configuration.md allows
    longest = {}
    for name, spec in deployed["Parameters"].items():
        if spec.get("AllowedValues"):
            longest[name] = max((str(value) for value in spec["AllowedValues"]), key=len)
        elif "MaxLength" in spec:
            longest[name] = "x" * int(spec["MaxLength"])
        elif "MaxValue" in spec:
            longest[name] = str(spec["MaxValue"])
        elif spec["Type"].startswith("AWS::SSM::Parameter::Value"):
            longest[name] = "https://" + "c" * 72
    # Then each version's description is within Lambda's 256 characters
    for function, (_, description) in configurations(deployed, values_for(deployed, **longest)).items():
        assert len(description) <= 256, (function, len(description))
