"""Who may call, and from where, as CloudFormation deploys it: SAM's translation of template.yaml for default and
non-default parameter values, its intrinsics then resolved for those values. The API's resource policy is evaluated
for requests (a principal, a route, a source address, a VPC endpoint) as API Gateway would; the callers' policy, the
endpoint type, the custom domain, the webhook's web ACL and the outputs are read as deployed."""

from __future__ import annotations

import fnmatch
import ipaddress
import json
import re
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any

import pytest

from project import template as cfn
from tests.integration.test_deployed_template import of_type, transformed

ACCOUNT = cfn.parameter_values({})["AWS::AccountId"]
PARTNER = "111122223333"
ROLE = "arn:aws:iam::444455556666:role/onboarding"
VPCE = "vpce-0123456789abcdef0"
DOMAIN = "kyc.example.com"
API_ID = "a1b2c3d4e5"
TOPIC = f"arn:aws:sns:us-east-1:{ACCOUNT}:alarms"
VARIANTS = {
    "default": {},
    "regional": {
        "CallerPrincipals": f"{PARTNER},{ROLE}",
        "WebhookSourceCidrs": "203.0.113.0/24,2001:db8::/32",
        "WebhookRateLimitPerIp": "500",
        "CustomDomainName": DOMAIN,
        "CustomDomainCertificateArn": f"arn:aws:acm:us-east-1:{ACCOUNT}:certificate/0f0e0d0c-1111-2222-3333-44445555",
    },
    "private": {"ApiEndpointType": "PRIVATE", "VpcEndpointIds": VPCE},
    "own role": {"CallerPrincipals": f"arn:aws:iam::{ACCOUNT}:role/onboarding-service"},
}


@dataclass(frozen=True)
class Stack:
    """One deployment: the transformed template and the parameter values it was deployed with."""

    environment: str
    template: dict[str, Any]
    values: dict[str, Any]

    def resolve(self, value: Any) -> Any:
        physical = {
            "GatewayApi": API_ID,
            "GatewayApiStage": self.environment,  # SAM's stage: its Ref is the stage name
            "GatewayCallersPolicy": f"arn:aws:iam::{ACCOUNT}:policy/callers",
            "GatewayDomainName": DOMAIN,
            "AlarmTopic": TOPIC,
            "GatewayDomainName.RegionalDomainName": "d-abc.execute-api.us-east-1.amazonaws.com",
            "GatewayDomainName.RegionalHostedZoneId": "Z1UJRXOUMOOFQ8",
        }
        return cfn.resolve(value, self.values | physical, self.template)

    def holds(self, condition: str) -> bool:
        return cfn.holds(condition, self.values, self.template)

    @property
    def resources(self) -> dict[str, Any]:
        return self.template["Resources"]

    def policy(self) -> list[dict[str, Any]]:
        statements = self.resolve(self.resources["GatewayApi"]["Properties"]["Policy"])["Statement"]
        return [statement for statement in statements if statement is not None]  # AWS::NoValue's

    def routes(self, *, signed: bool) -> set[str]:
        """The API's routes as its deployed OpenAPI body declares them, `POST/connectfi/webhooks/*`."""
        body = self.resources["GatewayApi"]["Properties"]["Body"]
        return {
            method.upper() + re.sub(r"\{[^}]+\}", "*", path)
            for path, operations in body["paths"].items()
            for method, operation in operations.items()
            if (operation["security"] == [{"AWS_IAM": []}]) == signed
        }


@pytest.fixture(scope="module", params=["dev", "prod"])
def stacks(request) -> dict[str, Stack]:
    made = {}
    for name, parameters in VARIANTS.items():
        template = transformed(request.param, **parameters)
        values = cfn.parameter_values({"Environment": request.param, **parameters}, template)
        made[name] = Stack(request.param, template, values)
        # SAM stamps an API deployment to the second, somewhere within its run: the next run starts over a second
        # after this one ended, however long it took (under load a run can stamp near its end)
        time.sleep(1.1)
    return made


@dataclass(frozen=True)
class Request:
    """A request as the resource policy sees it; no account means an unsigned (anonymous) one."""

    route: str
    account: str | None = None
    arn: str | None = None
    source_ip: str = "198.51.100.7"
    vpce: str | None = None

    @classmethod
    def signed_by(cls, arn: str, route: str, **context: Any) -> Request:
        return cls(route, account=arn.split(":")[4], arn=arn, **context)

    def keys(self) -> dict[str, str | None]:
        return {
            "aws:PrincipalAccount": self.account,
            "aws:PrincipalArn": self.arn,
            "aws:SourceIp": self.source_ip,
            "aws:SourceVpce": self.vpce,
        }


def listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _grant(principal: Any, request: Request) -> str | None:
    """Whom a statement's principal names of the request's: "anyone", "arn" (the identity itself), "account" (its
    account: the account's own IAM policies then decide), or None."""
    if principal == "*":
        return "anyone"
    if request.account is None:
        return None
    named = set(listed(principal["AWS"]))
    return "arn" if request.arn in named else "account" if request.account in named else None


def _condition_holds(operator: str, key: str, expected: Any, request: Request) -> bool:
    actual, expected = request.keys()[key], listed(expected)
    if operator == "StringNotEquals":  # a negated operator holds when the key is absent
        return actual not in expected
    if operator == "StringNotLike":
        return actual is None or not any(fnmatch.fnmatchcase(actual, pattern) for pattern in expected)
    if operator == "IpAddress":
        address = ipaddress.ip_address(actual)
        return any(address in ipaddress.ip_network(network) for network in expected)
    raise ValueError(f"{operator} is not evaluated here")


def verdict(stack: Stack, request: Request) -> str:
    """The resource policy's answer: "deny" (an explicit deny), "allow" (an allow naming the identity itself, or
    anyone), "account" (an allow naming its account only), or "none" (no statement applies)."""
    resource = f"execute-api:/{stack.environment}/{request.route}"
    grants = set()
    for statement in stack.policy():
        if not any(fnmatch.fnmatchcase(resource, pattern) for pattern in listed(statement["Resource"])):
            continue
        grant = _grant(statement["Principal"], request)
        if grant is None:
            continue
        conditions = statement.get("Condition") or {}
        if all(
            _condition_holds(operator, key, value, request)
            for operator, pairs in conditions.items()
            for key, value in pairs.items()
        ):
            if statement["Effect"] == "Deny":
                return "deny"
            grants.add(grant)
    return "allow" if grants & {"arn", "anyone"} else "account" if grants else "none"


def may_call(stack: Stack, request: Request, *, own_policy: bool) -> bool:
    """API Gateway's decision for an IAM-authenticated API: an explicit deny refuses; an identity of the API's own
    account gets in when its own IAM policy (`own_policy`) allows, or an allow names it; another account's identity
    needs both its own policy and an allow naming it or its account; an anonymous request needs an allow for anyone."""
    answer = verdict(stack, request)
    if answer == "deny":
        return False
    if request.account is None:
        return answer == "allow"
    if request.account == ACCOUNT:
        return own_policy or answer == "allow"
    return own_policy and answer in ("allow", "account")


WEBHOOK = "POST/connectfi/webhooks/Zq3Zq3Zq3Zq3Zq3Zq3"
OWN_ROLE = f"arn:aws:iam::{ACCOUNT}:role/onboarding-service"


def test_by_default_only_the_stacks_own_account_may_call_each_signed_route(stacks):
    stack = stacks["default"]
    signed = stack.routes(signed=True)
    assert len(signed) >= 9 and not any(route.startswith("POST/connectfi/webhooks") for route in signed)
    for route in signed:
        concrete = route.replace("*", "iapp_1")
        own_role = Request.signed_by(OWN_ROLE, concrete)
        assert may_call(stack, own_role, own_policy=True) and not may_call(stack, own_role, own_policy=False), route
        assert verdict(stack, Request.signed_by(ROLE, concrete)) == "deny", route
        assert verdict(stack, Request(concrete)) == "deny", route  # unsigned (API Gateway refuses it first anyway)


def test_named_principals_alone_may_call_an_account_for_all_its_identities_an_arn_for_itself(stacks):
    stack = stacks["regional"]
    for route in stack.routes(signed=True):
        concrete = route.replace("*", "iapp_1")
        partner_role = Request.signed_by(f"arn:aws:iam::{PARTNER}:role/any", concrete)
        for named in (partner_role, Request.signed_by(ROLE, concrete)):
            # each with its own account's policy too (a call from another account always needs both)
            assert may_call(stack, named, own_policy=True) and not may_call(stack, named, own_policy=False), route
        assert verdict(stack, Request.signed_by("arn:aws:iam::444455556666:role/other", concrete)) == "deny"
        # the stack's own account is not named here, so its identities are refused whatever their IAM policies say
        assert verdict(stack, Request.signed_by(OWN_ROLE, concrete)) == "deny", route


def test_a_role_of_the_stacks_own_account_named_still_needs_its_own_policy_for_each_route_audit_included(stacks):
    # Given a stack naming one role of its own account as its caller
    stack = stacks["own role"]
    for route in stack.routes(signed=True):
        concrete = route.replace("*", "iapp_1")
        named = Request.signed_by(OWN_ROLE, concrete)
        # Then the role calls a route only as its own policy allows (the callers' or the audit search's policy)
        assert may_call(stack, named, own_policy=True) and not may_call(stack, named, own_policy=False), route
        # And no other identity of the account may call, whatever its policies say
        other = Request.signed_by(f"arn:aws:iam::{ACCOUNT}:role/other", concrete)
        assert verdict(stack, other) == "deny", route


def test_the_webhook_route_is_open_to_anyone_unless_source_addresses_are_given(stacks):
    assert stacks["default"].routes(signed=False) == {"POST/connectfi/webhooks/*"}
    assert verdict(stacks["default"], Request(WEBHOOK, source_ip="198.51.100.7")) == "allow"
    # Given connectFi's source addresses, Then the webhook is open to those alone
    regional = stacks["regional"]
    for inside in ("203.0.113.9", "2001:db8::7"):
        assert verdict(regional, Request(WEBHOOK, source_ip=inside)) == "allow", inside
    for outside in ("198.51.100.7", "2001:db9::7"):
        assert verdict(regional, Request(WEBHOOK, source_ip=outside)) == "none", outside  # no allow: refused
    # And neither policy lets an unsigned request reach a signed route
    assert verdict(regional, Request("POST/cladfy/krapin", source_ip="203.0.113.9")) == "deny"


def test_the_endpoint_is_regional_by_default_and_private_only_through_its_vpc_endpoints(stacks):
    endpoint = {
        name: stack.resolve(stack.resources["GatewayApi"]["Properties"]["EndpointConfiguration"])
        for name, stack in stacks.items()
    }
    assert endpoint["default"] == {"Types": ["REGIONAL"], "VpcEndpointIds": None}  # None: AWS::NoValue
    assert "aws:SourceVpce" not in json.dumps(stacks["default"].policy())
    assert endpoint["private"] == {"Types": ["PRIVATE"], "VpcEndpointIds": [VPCE]}
    private = stacks["private"]
    for route in ("POST/cladfy/krapin", "GET/connectfi/applications/iapp_1"):
        assert may_call(private, Request.signed_by(OWN_ROLE, route, vpce=VPCE), own_policy=True)
        assert verdict(private, Request.signed_by(OWN_ROLE, route)) == "deny"
        assert verdict(private, Request.signed_by(OWN_ROLE, route, vpce="vpce-0aaaaaaaaaaaaaaaa")) == "deny"
    assert verdict(private, Request(WEBHOOK, vpce=VPCE)) == "allow"
    assert verdict(private, Request(WEBHOOK)) == "deny"


def test_a_changed_policy_is_deployed_with_a_new_api_deployment(stacks):
    # API Gateway applies a resource policy with the next deployment of the stage: each update makes one
    deployments = {
        name: next(iter(of_type(stack.template, "AWS::ApiGateway::Deployment"))) for name, stack in stacks.items()
    }
    assert len(set(deployments.values())) == len(deployments)
    for name, stack in stacks.items():
        (stage,) = of_type(stack.template, "AWS::ApiGateway::Stage").values()
        assert stage["Properties"]["DeploymentId"] == {"Ref": deployments[name]}


def test_the_callers_policy_grants_every_signed_route_but_the_audit_search_and_no_public_one(stacks):
    for stack in stacks.values():
        policy = stack.resolve(stack.resources["GatewayCallersPolicy"]["Properties"]["PolicyDocument"])
        ((statement),) = policy["Statement"]
        assert (statement["Effect"], statement["Action"]) == ("Allow", "execute-api:Invoke")
        api_arn = stack.resolve(stack.template["Outputs"]["ApiArn"]["Value"])
        assert api_arn == f"arn:aws:execute-api:us-east-1:{ACCOUNT}:{API_ID}/{stack.environment}"
        callers = {route for route in stack.routes(signed=True) if "/audit/" not in route}
        assert set(statement["Resource"]) == {f"{api_arn}/{route}" for route in callers}
        # compliance roles search the audit trail through a policy of their own
        assert not any("/connectfi/webhooks" in arn or "/audit/" in arn for arn in statement["Resource"])


def test_the_outputs_name_the_api_its_arn_its_url_and_the_callers_policy(stacks):
    for name, stack in stacks.items():
        names = ("ApiId", "ApiUrl", "CallersPolicyArn")
        outputs = {key: stack.resolve(stack.template["Outputs"][key]["Value"]) for key in names}
        assert outputs["ApiId"] == API_ID
        assert outputs["CallersPolicyArn"] == f"arn:aws:iam::{ACCOUNT}:policy/callers"
        execute_api = f"https://{API_ID}.execute-api.us-east-1.amazonaws.com/{stack.environment}"
        assert outputs["ApiUrl"] == (f"https://{DOMAIN}" if name == "regional" else execute_api)
        for alias in ("CustomDomainTarget", "CustomDomainHostedZoneId"):  # a Route 53 alias record needs both
            output = stack.template["Outputs"][alias]
            assert stack.holds(output["Condition"]) == (name == "regional"), alias
    regional = stacks["regional"]
    outputs = regional.template["Outputs"]
    assert regional.resolve(outputs["CustomDomainTarget"]["Value"]) == "d-abc.execute-api.us-east-1.amazonaws.com"
    assert regional.resolve(outputs["CustomDomainHostedZoneId"]["Value"]) == "Z1UJRXOUMOOFQ8"


def test_a_custom_domain_maps_the_stage_at_its_root_only_when_it_is_given(stacks):
    for name, stack in stacks.items():
        domain, mapping = stack.resources["GatewayDomainName"], stack.resources["GatewayBasePathMapping"]
        assert stack.holds(domain["Condition"]) == stack.holds(mapping["Condition"]) == (name == "regional")
    regional = stacks["regional"]
    mapping = regional.resources["GatewayBasePathMapping"]["Properties"]
    assert mapping["DomainName"] == {"Ref": "GatewayDomainName"} and "BasePath" not in mapping  # at the root
    assert regional.resolve(mapping) == {"DomainName": DOMAIN, "RestApiId": API_ID, "Stage": regional.environment}
    domain = regional.resolve(regional.resources["GatewayDomainName"]["Properties"])
    assert (domain["DomainName"], domain["EndpointConfiguration"], domain["SecurityPolicy"]) == (
        DOMAIN,
        {"Types": ["REGIONAL"]},
        "TLS_1_2",
    )
    assert domain["RegionalCertificateArn"] == VARIANTS["regional"]["CustomDomainCertificateArn"]


@pytest.mark.parametrize(
    ("parameters", "expected"),
    [
        ({}, ""),  # the URL each request came in at
        ({"CustomDomainName": DOMAIN}, f"https://{DOMAIN}"),
        (
            {"CustomDomainName": DOMAIN, "PublicBaseUrl": "https://hooks.example.org/kyc"},
            "https://hooks.example.org/kyc",
        ),
    ],
)
def test_the_identification_functions_public_base_url_follows_the_custom_domain(stacks, parameters, expected):
    stack = stacks["default"]
    values = cfn.parameter_values({"Environment": stack.environment, **parameters}, stack.template)
    variables = stack.resources["ConnectFiIdentificationFunction"]["Properties"]["Environment"]["Variables"]
    assert cfn.resolve(variables["PUBLIC_BASE_URL"], values, stack.template) == expected
    assert variables["CONNECTFI_WEBHOOK_HOSTS"] == {"Ref": "ConnectFiWebhookHosts"}


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
    assert rate["Action"] == {"Block": {"CustomResponse": {"ResponseCode": 429}}}
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
        ({"ApiEndpointType": "PRIVATE"}, "PrivateApiNeedsItsVpcEndpoints"),
        ({**VARIANTS["private"], "VpcEndpointIds": "vpce-0a1b2c3d4e5f67890,"}, "PrivateApiNeedsItsVpcEndpoints"),
        ({**VARIANTS["private"], "WebhookSourceCidrs": "203.0.113.0/24"}, "SourceAddressesNeedARegionalApi"),
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
