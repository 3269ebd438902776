"""A deploy that changes only a parameter reaches the version the `live` alias serves. SAM names each function's
version by the template as written, so a parameter's new value (a provider's host, PUBLIC_BASE_URL, the audit
retention) changes $LATEST's configuration without publishing a version; the alias would keep serving the old one.
Each version's description carries what its configuration takes from parameters, and CloudFormation replaces a
version whose description changes (the property cannot be updated): a new version is published and the alias moves
to it through the deployment, its alarms watching. Read from the CloudFormation SAM makes of template.yaml."""

from __future__ import annotations

import json
import re
import tomllib

import pytest

from project import template as cfn
from tests.integration.test_deployed_template import of_type, transformed

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


def another_value(spec: dict) -> str:
    """A valid value other than the parameter's default."""
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
    for name, function in of_type(template, "AWS::Lambda::Function").items():
        properties = {key: value for key, value in function["Properties"].items() if key not in NOT_IN_A_VERSION}
        description = versions[name]["Properties"].get("Description")
        held[name] = (cfn.resolve(properties, values, template), cfn.resolve(description, values, template))
    return held


def test_every_parameter_that_changes_a_functions_configuration_replaces_its_live_version(deployed):
    # Given the stack as deployed with its defaults
    before = configurations(deployed, values_for(deployed))
    changing = set()
    for name, spec in deployed["Parameters"].items():
        # When one parameter takes another value
        after = configurations(deployed, values_for(deployed, **{name: another_value(spec)}))
        for function, (configuration, description) in after.items():
            if configuration != before[function][0]:
                changing.add(name)
                # Then every function whose version would hold another configuration gets a new version
                assert description != before[function][1], (name, function)
    # (and the drill moved the parameters that matter: hosts, the callback URL, SnapStart, the audit retention)
    assert {"CladfyBaseUrl", "ConnectFiBaseUrl", "PublicBaseUrl", "CustomDomainName", "SnapStart"} <= changing
    assert {"AuditRetentionDays", "ConnectFiWebhookHosts", "SignzyAuthHeader"} <= changing


def test_a_version_description_fits_lambdas_limit_with_the_deployed_values(deployed):
    # Given the values samconfig.toml deploys, long but plausible values for what it leaves to the operator
    plausible = {
        "CdpBaseUrl": "https://drap-sandbox.digitnine.com",
        "ConnectFiBaseUrl": "https://sandbox-api.connectfi.example.com/v2",
        "PublicBaseUrl": "https://abcdefghij.execute-api.eu-central-1.amazonaws.com/prod",
        "ConnectFiWebhookHosts": "hooks.onboarding.example.com,callbacks.compliance.example.org",
    }
    sections = tomllib.loads((cfn.ROOT / "samconfig.toml").read_text())
    for environment in ("dev", "prod"):
        overrides = sections[environment]["deploy"]["parameters"]["parameter_overrides"]
        values = values_for(deployed, **(dict(item.split("=", 1) for item in overrides.split()) | plausible))
        for function, (_, description) in configurations(deployed, values).items():
            # Then each version's description is within Lambda's 256 characters, with room to spare
            assert len(description) <= 200, (environment, function, len(description))
