"""Deployments of the gateway's access settings as CloudFormation deploys them: SAM's translation of template.yaml
for default and non-default parameter values, its intrinsics then resolved for those values. Each environment's are
made once per process, for every test module that reads them."""

from __future__ import annotations

import functools
import re
import time
from dataclasses import dataclass
from typing import Any

from project import template as cfn
from tests.integration.test_deployed_template import transformed

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


@functools.cache
def deployments(environment: str) -> dict[str, Stack]:
    """Each variant deployed as `environment`."""
    made = {}
    for name, parameters in VARIANTS.items():
        template = transformed(environment, **parameters)
        values = cfn.parameter_values({"Environment": environment, **parameters}, template)
        made[name] = Stack(environment, template, values)
        # SAM stamps an API deployment to the second, somewhere within its run: the next run starts over a second
        # after this one ended, however long it took (under load a run can stamp near its end)
        time.sleep(1.1)
    return made
