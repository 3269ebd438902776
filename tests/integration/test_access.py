"""Who may call, and from where, as CloudFormation deploys it (tests/support/access_stacks.py): the API's resource
policy is evaluated for requests (a principal, a route, a source address, a VPC endpoint) as API Gateway would; the
callers' policy, the endpoint type, the custom domain and the outputs are read as deployed. The webhook's web ACL and
the combinations refused before deploying are in test_access_web_acl.py."""

from __future__ import annotations

import fnmatch
import ipaddress
import json
from dataclasses import dataclass
from typing import Any

import pytest

from project import template as cfn
from tests.integration.test_deployed_template import of_type
from tests.support.access_stacks import ACCOUNT, API_ID, DOMAIN, PARTNER, ROLE, VARIANTS, VPCE, Stack, deployments


@pytest.fixture(scope="module", params=["dev", "prod"])
def stacks(request) -> dict[str, Stack]:
    return deployments(request.param)


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
