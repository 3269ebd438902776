"""The webhook's web ACL, and the parameter combinations CloudFormation refuses before deploying, as deployed
(tests/support/access_stacks.py)."""

from __future__ import annotations

import json
import re
import urllib.parse
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from project import template as cfn
from tests.support.access_stacks import API_ID, DOMAIN, TOPIC, VARIANTS, Stack, deployments
from tests.unit.test_samconfig import overrides as samconfig_overrides


@pytest.fixture(scope="module", params=["dev", "prod"])
def stacks(request) -> dict[str, Stack]:
    return deployments(request.param)


# --- The webhook's web ACL -----------------------------------------------------------------------------------------


def byte_match(statement: dict[str, Any], path: str) -> bool:
    """Whether a WAF ByteMatchStatement on the URI path matches `path`, its text transformations applied in order."""
    match = statement["ByteMatchStatement"]
    assert match["FieldToMatch"] == {"UriPath": {}}
    transform = {"URL_DECODE": urllib.parse.unquote, "LOWERCASE": str.lower}
    for step in sorted(match["TextTransformations"], key=lambda transformation: transformation["Priority"]):
        path = transform[step["Type"]](path)
    search, position = match["SearchString"], match["PositionalConstraint"]
    return {"CONTAINS": search in path, "STARTS_WITH": path.startswith(search)}[position]


WAF = ("WebhookWebAcl", "WebhookWebAclAssociation", "WebhooksRateLimitedAlarm")


def test_the_web_acl_exists_only_with_a_rate_limit(stacks):
    for name, stack in stacks.items():
        assert {stack.holds(stack.resources[logical_id]["Condition"]) for logical_id in WAF} == {name == "regional"}
        zero = cfn.parameter_values({"WebhookRateLimitPerIp": "0"}, stack.template)
        assert not cfn.holds(stack.resources["WebhookWebAcl"]["Condition"], zero, stack.template)
    parameter = stacks["default"].template["Parameters"]["WebhookRateLimitPerIp"]
    accepted = {
        value
        for value in ("", "0", "10", "2000000", "5", "-1", "010", "x")
        if re.fullmatch(parameter["AllowedPattern"], value)
    }
    assert accepted == {"", "0", "10", "2000000"}  # WAF's smallest limit is 10


def test_the_web_acl_limits_each_source_on_the_webhook_route_alone_and_keeps_no_url(stacks):
    stack = stacks["regional"]
    acl = stack.resolve(stack.resources["WebhookWebAcl"]["Properties"])
    assert (acl["Scope"], acl["DefaultAction"]) == ("REGIONAL", {"Allow": {}})
    rate = next(rule for rule in acl["Rules"] if "RateBasedStatement" in rule["Statement"])
    limit = rate["Statement"]["RateBasedStatement"]
    assert (int(limit["Limit"]), limit["AggregateKeyType"], limit["EvaluationWindowSec"]) == (500, "IP", 300)
    assert rate["Action"] == {
        "Block": {"CustomResponse": {"ResponseCode": 429, "CustomResponseBodyKey": "rate-limited"}}
    }
    # Every rule looks at the webhook route only: behind the stage or at a custom domain's root, however spelled
    token = "Zq3" * 16
    for rule in acl["Rules"]:
        scope = next(iter(rule["Statement"].values()))["ScopeDownStatement"]
        for path in (f"/{stack.environment}/connectfi/webhooks/{token}", f"/connectfi/webhooks/{token}"):
            assert byte_match(scope, path) and byte_match(scope, path.replace("webhooks", "%57ebhooks")), path
        for route in stack.routes(signed=True):
            assert not byte_match(scope, f"/{stack.environment}" + route.split("/", 1)[1].replace("*", "x")), route
    # Sampled requests would keep webhook URLs, the token in them
    assert '"SampledRequestsEnabled": true' not in json.dumps(acl)
    association = stack.resolve(stack.resources["WebhookWebAclAssociation"]["Properties"]["ResourceArn"])
    assert association == f"arn:aws:apigateway:us-east-1::/restapis/{API_ID}/stages/{stack.environment}"


@pytest.mark.parametrize("section", ["prod", "ci-prod"])
def test_prod_limits_each_source_to_half_the_webhook_routes_throttle(section):
    # Given prod's deployment settings, and the webhook route's throttle and the WAF rule's window as deployed
    stack = deployments("prod")["default"]
    deployed = Stack("prod", stack.template, cfn.parameter_values(samconfig_overrides(section), stack.template))
    acl = deployed.resolve(deployed.resources["WebhookWebAcl"]["Properties"])
    (rate,) = [
        rule["Statement"]["RateBasedStatement"] for rule in acl["Rules"] if "RateBasedStatement" in rule["Statement"]
    ]
    settings = deployed.resolve(deployed.resources["GatewayApiStage"]["Properties"]["MethodSettings"])
    (webhooks,) = [setting for setting in settings if "webhooks" in setting["ResourcePath"]]

    # Then the web ACL is deployed, and one address can take at most half of what the route admits in that window
    assert deployed.holds(deployed.resources["WebhookWebAcl"]["Condition"])
    assert 10 <= int(rate["Limit"]) <= webhooks["ThrottlingRateLimit"] * rate["EvaluationWindowSec"] / 2


def test_the_web_acls_429_is_the_error_envelope_the_api_document_promises_for_it(stacks):
    # Given the web ACL's refusal (WAF answers it, API Gateway never sees the request)
    acl = stacks["regional"].resolve(stacks["regional"].resources["WebhookWebAcl"]["Properties"])
    rate = next(rule for rule in acl["Rules"] if "RateBasedStatement" in rule["Statement"])
    body = acl["CustomResponseBodies"][rate["Action"]["Block"]["CustomResponse"]["CustomResponseBodyKey"]]

    # Then it is JSON, in the envelope openapi.json gives the webhook route's 429, and WAF's limits allow it
    openapi = json.loads((cfn.ROOT / "openapi.json").read_text())
    promised = openapi["paths"]["/connectfi/webhooks/{token}"]["post"]["responses"]["429"]["content"]
    schema = {**promised["application/json"]["schema"], "components": openapi["components"]}
    envelope = json.loads(body["Content"])
    Draft202012Validator(schema).validate(envelope)
    assert (body["ContentType"], envelope["error"]["code"]) == ("APPLICATION_JSON", "throttled")
    assert len(body["Content"].encode()) <= 4096


def test_the_rate_limited_alarm_watches_the_rate_rule_of_the_web_acl(stacks):
    stack = stacks["regional"]
    acl = stack.resolve(stack.resources["WebhookWebAcl"]["Properties"])
    (rate,) = [rule for rule in acl["Rules"] if "RateBasedStatement" in rule["Statement"]]
    alarm = stack.resolve(stack.resources["WebhooksRateLimitedAlarm"]["Properties"])
    dimensions = {dimension["Name"]: dimension["Value"] for dimension in alarm["Dimensions"]}
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/WAFV2", "BlockedRequests")
    assert dimensions == {
        "WebACL": acl["VisibilityConfig"]["MetricName"],
        "Rule": rate["VisibilityConfig"]["MetricName"],
        "Region": "us-east-1",
    }
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (1, "GreaterThanOrEqualToThreshold")
    assert alarm["AlarmActions"] == [TOPIC]


# --- Combinations refused before deploying ---------------------------------------------------------------------------


def _asserts(expression: dict[str, Any], values: dict[str, Any]) -> bool:
    ((function, argument),) = expression.items()
    if function == "Fn::Not":
        return not _asserts(argument[0], values)
    if function == "Fn::EachMemberEquals":
        members, value = argument
        return all(member == value for member in cfn.resolve(members, values))
    if function == "Fn::Contains":
        members, value = argument
        return value in cfn.resolve(members, values)
    if function == "Fn::Equals":
        left, right = (cfn.resolve(item, values) for item in argument)
        return left == right
    raise ValueError(f"{function} is not evaluated here")


def refused_by(stack: Stack, parameters: dict[str, str]) -> list[str]:
    """The template's rules that CloudFormation would refuse these parameter values with."""
    values = cfn.parameter_values(parameters, stack.template)
    return [
        name
        for name, rule in stack.template["Rules"].items()
        if ("RuleCondition" not in rule or _asserts(rule["RuleCondition"], values))
        and not all(_asserts(assertion["Assert"], values) for assertion in rule["Assertions"])
    ]


@pytest.mark.parametrize(
    ("parameters", "refusal"),
    [
        ({"Environment": "local"}, "LocalIsNeverDeployed"),
        ({"ApiEndpointType": "PRIVATE"}, "PrivateApiNeedsItsVpcEndpoints"),
        ({**VARIANTS["private"], "VpcEndpointIds": "vpce-0a1b2c3d4e5f67890,"}, "PrivateApiNeedsItsVpcEndpoints"),
        ({**VARIANTS["private"], "WebhookSourceCidrs": "203.0.113.0/24"}, "SourceAddressesNeedARegionalApi"),
        ({"CallerPrincipals": "222222222222,"}, "CallerPrincipalsHaveNoEmptyMember"),
        ({"CallerPrincipals": ",222222222222"}, "CallerPrincipalsHaveNoEmptyMember"),
        ({"WebhookSourceCidrs": "203.0.113.0/24,"}, "WebhookSourceCidrsHaveNoEmptyMember"),
        ({"CustomDomainName": DOMAIN}, "CustomDomainNeedsItsCertificateAndARegionalApi"),
        (
            {**VARIANTS["private"], **VARIANTS["regional"], "WebhookSourceCidrs": ""},
            "CustomDomainNeedsItsCertificateAndARegionalApi",
        ),
    ],
)
def test_an_api_nobody_could_reach_is_refused_before_anything_changes(stacks, parameters, refusal):
    stack = stacks["default"]
    assert refused_by(stack, parameters) == [refusal]
    for variant in VARIANTS.values():
        assert refused_by(stack, variant) == []
