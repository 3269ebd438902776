"""samconfig.toml deploys what it says: every environment complete, prod on production hosts, CI without prompts."""

from __future__ import annotations

import re
import tomllib

import pytest

from project import template as cfn

CONFIG = tomllib.loads((cfn.ROOT / "samconfig.toml").read_text())
ENVIRONMENTS = {"dev": "dev", "prod": "prod", "ci-dev": "dev", "ci-prod": "prod"}
NOT_PRODUCTION = re.compile(r"sandbox|preproduction|\.example\b|localhost|127\.0\.0\.1|/dev/|\bdev\b", re.IGNORECASE)


def overrides(section: str) -> dict[str, str]:
    return dict(item.split("=", 1) for item in CONFIG[section]["deploy"]["parameters"]["parameter_overrides"].split())


@pytest.mark.parametrize("section", ENVIRONMENTS)
def test_every_environment_names_its_region_tags_and_every_provider_base_url(section):
    deploy = CONFIG[section]["deploy"]["parameters"]
    environment = ENVIRONMENTS[section]
    assert deploy["region"] and f"environment={environment}" in deploy["tags"]
    values = overrides(section)
    assert values["Environment"] == environment
    parameters = cfn.load()["Parameters"]
    for name, parameter in parameters.items():
        if name.endswith("BaseUrl") and name != "PublicBaseUrl":
            value = values[name]
            if parameter["Type"] == "String":
                assert re.fullmatch(parameter["AllowedPattern"], value) and value.startswith("https://"), name
            else:  # an SSM parameter of this environment
                assert value.startswith(f"/kyc-gateway/{environment}/"), name


@pytest.mark.parametrize("section", ["prod", "ci-prod"])
def test_prod_names_no_sandbox_or_placeholder_host(section):
    for name, value in overrides(section).items():
        assert not NOT_PRODUCTION.search(value), (name, value)


def test_exactly_one_stack_of_the_account_sets_the_api_gateway_account():
    assert overrides("dev")["ManageApiGatewayAccount"] == "true"
    assert overrides("prod")["ManageApiGatewayAccount"] == "false"


@pytest.mark.parametrize(("ci", "interactive"), [("ci-dev", "dev"), ("ci-prod", "prod")])
def test_ci_deploys_the_same_stack_without_a_changeset_prompt(ci, interactive):
    ci_deploy, deploy = CONFIG[ci]["deploy"]["parameters"], CONFIG[interactive]["deploy"]["parameters"]
    assert ci_deploy["confirm_changeset"] is False and deploy["confirm_changeset"] is True
    same = {
        key: value for key, value in ci_deploy.items() if key not in ("confirm_changeset", "fail_on_empty_changeset")
    }
    assert same == {key: value for key, value in deploy.items() if key != "confirm_changeset"}
