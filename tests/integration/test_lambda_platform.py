"""What the functions run on, read from the CloudFormation AWS deploys (SAM's own translator): arm64 for every function
and its layer, and SnapStart on the published versions the live alias serves, only when the parameter asks."""

from __future__ import annotations

import re

import yaml

from build_steps import verify_build
from project import template as cfn
from tests.integration import test_deployed_template
from tests.integration.test_deployed_template import gateway_functions, of_type, transformed

deployed = test_deployed_template.deployed  # the template as deployed, for dev and for prod (a fixture)


def test_every_function_and_its_layer_run_on_arm64(deployed):
    functions = of_type(deployed, "AWS::Lambda::Function")
    (layer,) = of_type(deployed, "AWS::Lambda::LayerVersion").values()
    for name, function in functions.items():
        assert function["Properties"]["Architectures"] == ["arm64"], name
        assert function["Properties"]["Runtime"] in layer["Properties"]["CompatibleRuntimes"], name
    assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]
    # and `make build` builds the layer for it and checks the build against it
    source = cfn.resources()["GatewayLayer"]
    assert source["Metadata"] == {"BuildMethod": "makefile", "BuildArchitecture": "arm64"}
    assert verify_build.ARCHITECTURE == "arm64" and verify_build.MACHINE == "aarch64"


def test_the_layer_is_built_from_the_locks_arm64_wheels_checked_by_hash():
    makefile = (cfn.ROOT / "layers" / "gateway" / "Makefile").read_text()
    install = re.search(r"pip install (.*?)-r requirements\.txt", makefile, re.DOTALL).group(1).split()
    assert {"--require-hashes", "--no-deps", "--only-binary=:all:", "--no-compile"} <= set(install)
    platforms = re.search(r"^LAMBDA_PLATFORMS := (.*)$", makefile, re.MULTILINE).group(1).split()
    assert platforms and all(platform.endswith(f"_{verify_build.MACHINE}") for platform in platforms)


def snap_start(function: dict, template: dict, values: dict[str, str]) -> dict | None:
    """The function's SnapStart setting as CloudFormation sets it for these parameter values (None: none)."""
    condition, chosen, otherwise = function["Properties"]["SnapStart"]["Fn::If"]
    value = chosen if cfn.holds(condition, values, template) else otherwise
    return None if value == {"Ref": "AWS::NoValue"} else value


def test_snapstart_is_on_only_when_the_parameter_says_so_for_every_function(deployed):
    functions = gateway_functions(deployed)
    assert "SnapStart" not in deployed["Resources"]["DeployCheckHookFunction"]["Properties"]  # it runs once a deploy
    defaults = cfn.parameter_values({}, deployed)
    assert deployed["Parameters"]["SnapStart"]["AllowedValues"] == ["true", "false"]
    for name, function in functions.items():
        assert snap_start(function, deployed, defaults) is None, name  # off unless asked: snapshots are charged
        assert snap_start(function, deployed, defaults | {"SnapStart": "true"}) == {"ApplyOn": "PublishedVersions"}


def test_the_live_alias_of_every_function_serves_a_published_version(deployed):
    # SnapStart snapshots published versions only: every route, queue and schedule must reach one, never $LATEST
    resources = deployed["Resources"]
    versions = of_type(deployed, "AWS::Lambda::Version")
    for name in gateway_functions(deployed):
        alias = resources[f"{name}Aliaslive"]["Properties"]
        (version,) = [v for v, resource in versions.items() if resource["Properties"]["FunctionName"] == {"Ref": name}]
        assert alias["FunctionVersion"] == {"Fn::GetAtt": [version, "Version"]}, name
        assert resources[version]["DeletionPolicy"] == "Retain", name  # the version CodeDeploy shifts from stays


def test_a_change_of_the_layer_alone_publishes_a_new_version_of_every_function(tmp_path):
    # Given the template, and the same template with only the layer's content changed (a dependency bumped)
    changed = cfn.load()
    changed["Resources"]["GatewayLayer"]["Properties"]["ContentUri"] = "layers/gateway-bumped/"
    source = tmp_path / "template.yaml"
    source.write_text(yaml.dump(changed))

    # When both are transformed
    before, after = (
        {
            resource["Properties"]["FunctionName"]["Ref"]: name
            for name, resource in of_type(transformed("prod", path), "AWS::Lambda::Version").items()
        }
        for path in (cfn.TEMPLATE, source)
    )

    # Then every function gets a new version (which SnapStart snapshots, and the alias moves to through CodeDeploy)
    assert before.keys() == after.keys() == set(cfn.functions())
    assert all(before[function] != after[function] for function in before)
