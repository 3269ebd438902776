"""A provider and a route added to the registry alone reach CloudFormation with every part the others have: its
secret, token-rows policy, base URL, provider alarms, log group, function alarms, rollback and IAM-only route.
The template is generated with one more (fictional) provider and function, then translated by SAM as it deploys."""

from __future__ import annotations

import json

import pytest

from generators import template as generator
from kyc_gateway.registry import FUNCTIONS, PROVIDERS, FunctionEntry, ProviderEntry
from tests.integration.test_deployed_template import of_type, policy_statements, transformed

NEMO = ProviderEntry(
    "nemo",
    "Nemo",
    "Nemo KYC",
    "NEMO",
    "https://api.nemo.example",
    "/check",
    'Nemo API client: {"key": "..."}',
    "kyc_gateway.providers.nemo",
    uses_tokens=True,
)
CHECK = FunctionEntry(
    "NemoCheckFunction",
    "nemo.check",
    "nemo_check",
    "POST /nemo/check -> Nemo KYC POST /check",
    provider="nemo",
    method="POST",
    path="/nemo/check",
    write=True,
)

AUDIT = FunctionEntry(  # compliance roles' route: signed, but never in the callers' policy
    "AuditSearchFunction", "audit.search", "audit_search", "POST /audit/search", method="POST", path="/audit/search"
)

FUNCTION_NAME = {"Name": "FunctionName", "Value": {"Ref": "NemoCheckFunction"}}


@pytest.fixture(scope="module")
def deployed(tmp_path_factory) -> dict:
    path = tmp_path_factory.mktemp("template") / "template.yaml"
    path.write_text(
        generator.render(generator.build(providers=(*PROVIDERS, NEMO), functions=(*FUNCTIONS, CHECK, AUDIT)))
    )
    return transformed("dev", path)


def test_the_new_function_gets_its_code_environment_log_group_and_iam_only_route(deployed):
    resources = deployed["Resources"]
    function = resources["NemoCheckFunction"]["Properties"]
    assert function["Code"] == {"S3Bucket": "artifacts", "S3Key": "functions/nemo_check/"}
    variables = function["Environment"]["Variables"]
    assert variables["NEMO_BASE_URL"] == {"Ref": "NemoBaseUrl"}
    assert variables["NEMO_SECRET_ID"] == {"Ref": "NemoSecret"}
    assert variables["TOKEN_TABLE_NAME"] == {"Ref": "TokenTable"}
    assert variables["IDEMPOTENCY_TABLE_NAME"] == {"Ref": "IdempotencyTable"}  # a write
    assert function["LoggingConfig"]["LogGroup"] == {"Ref": "NemoCheckLogGroup"}
    log_group = resources["NemoCheckLogGroup"]["Properties"]
    assert log_group["LogGroupName"] == {"Fn::Sub": "/aws/lambda/kyc-gateway-${Environment}-nemo-check"}
    assert log_group["KmsKeyId"] == {"Fn::GetAtt": ["DataKey", "Arn"]}
    operation = deployed["Resources"]["GatewayApi"]["Properties"]["Body"]["paths"]["/nemo/check"]["post"]
    assert operation["security"] == [{"AWS_IAM": []}]
    assert "NemoCheckFunctionAliaslive" in json.dumps(operation["x-amazon-apigateway-integration"]["uri"])


def test_the_new_function_reaches_only_its_providers_secret_and_token_rows(deployed):
    role = deployed["Resources"]["NemoCheckFunctionRole"]
    text = json.dumps(policy_statements(deployed, role))
    assert "NemoSecret" in text and '"nemo#*"' in text
    for other in PROVIDERS:
        assert other.secret not in text and f'"{other.name}#*"' not in text
    tags = {tag["Key"]: tag["Value"] for tag in role["Properties"]["Tags"]}
    assert tags["kyc-gateway:idempotency"] == "keys.nemo.check"


def test_the_new_provider_gets_a_retained_encrypted_secret_and_an_https_base_url(deployed):
    secret = deployed["Resources"]["NemoSecret"]
    assert secret["DeletionPolicy"] == secret["UpdateReplacePolicy"] == "Retain"
    assert secret["Properties"]["KmsKeyId"] == {"Ref": "DataKey"}
    assert secret["Properties"]["Name"] == {"Fn::Sub": "kyc-gateway/${Environment}/nemo"}
    parameter = deployed["Parameters"]["NemoBaseUrl"]
    assert parameter["Default"] == "https://api.nemo.example" and parameter["AllowedPattern"].startswith("^https://")


def test_the_new_provider_and_function_are_watched_and_rolled_back(deployed):
    alarms = of_type(deployed, "AWS::CloudWatch::Alarm")
    for name, metric, dimension in (
        ("NemoProviderFailuresAlarm", "ProviderFailures", {"Name": "Provider", "Value": "nemo"}),
        ("NemoTokenFailuresAlarm", "TokenFailures", {"Name": "Provider", "Value": "nemo"}),
        ("NemoCheckFunctionGatewayFaultsAlarm", "GatewayFaults", {"Name": "Route", "Value": "nemo.check"}),
        ("NemoCheckFunctionErrorsAlarm", "Errors", {"Name": "FunctionName", "Value": {"Ref": "NemoCheckFunction"}}),
        (
            "NemoCheckFunctionThrottlesAlarm",
            "Throttles",
            {"Name": "FunctionName", "Value": {"Ref": "NemoCheckFunction"}},
        ),
    ):
        alarm = alarms[name]["Properties"]
        assert alarm["MetricName"] == metric and dimension in alarm["Dimensions"], name
        assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}], name
    group = deployed["Resources"]["NemoCheckFunctionDeploymentGroup"]["Properties"]
    assert group["AlarmConfiguration"]["Alarms"] == [
        {"Name": {"Ref": "NemoCheckFunctionNewVersionErrorsAlarm"}},
        {"Name": {"Ref": "NemoCheckFunctionNewVersionFaultsAlarm"}},
    ]
    assert "NemoCheckFunctionReservedConcurrency" in deployed["Parameters"]


def test_the_new_route_is_granted_by_the_resource_and_callers_policies_and_an_audit_route_by_the_resource_policy_alone(
    deployed,
):
    resources = deployed["Resources"]
    statements = {}
    for listed in resources["GatewayApi"]["Properties"]["Policy"]["Statement"]:
        statement = listed["Fn::If"][1] if "Fn::If" in listed else listed  # a statement only when principals are named
        statements[statement.get("Sid")] = statement
    for sid in ("ThisAccountsCallers", "NamedCallersOfOtherAccounts", "NoOtherCallers"):
        routes = json.dumps(statements[sid]["Resource"])
        assert "/POST/nemo/check" in routes and "/POST/audit/search" in routes, sid
    (callers,) = resources["GatewayCallersPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    granted = json.dumps(callers["Resource"])
    assert "${GatewayApi}/${Environment}/POST/nemo/check" in granted
    assert "/audit/" not in granted and "/connectfi/webhooks/" not in granted
