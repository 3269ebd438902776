"""The role CodeDeploy deploys each function with (`GatewayCodeDeployRole`, generators/deployment.py), read from the
transformed template: every call a deployment makes is allowed, for dev and prod, and nothing else, evaluated as IAM
evaluates actions and resources (case-insensitive wildcards); its actions are AWS's own policy for CodeDeploy's
Lambda deployments, which SAM would give otherwise, less what the gateway's deployments never use."""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Callable

import pytest

from kyc_gateway.registry import FUNCTIONS
from project import template as cfn
from tests.integration.test_deployed_template import transformed
from tests.support.deploy_drill import HOOK, TARGET_VERSION

DEPLOYMENT_GROUP = "AWS::CodeDeploy::DeploymentGroup"
# AWS's AWSCodeDeployRoleForLambda grants these too; the gateway's deployments use neither: no deployment trigger
# publishes to a topic (its alarms page through their own actions), and CloudFormation gives CodeDeploy the AppSpec
# itself, never from S3.
NOT_NEEDED = {"sns:publish", "s3:getobject", "s3:getobjectversion"}


@pytest.fixture(scope="module")
def deployed() -> dict:
    return transformed("dev")


def role_statements(deployed: dict) -> tuple[str, list[dict]]:
    """The one role every deployment group runs with, and its statements."""
    resources = deployed["Resources"]
    groups = [resource for resource in resources.values() if resource["Type"] == DEPLOYMENT_GROUP]
    (role_id,) = {group["Properties"]["ServiceRoleArn"]["Fn::GetAtt"][0] for group in groups}
    role = resources[role_id]["Properties"]
    return role_id, [statement for policy in role["Policies"] for statement in policy["PolicyDocument"]["Statement"]]


def test_codedeploy_may_run_each_functions_deployment_with_a_role_that_reaches_the_gateway_alone(deployed):
    """Given the transformed template's deployment groups and the role they run with, when each deployment reads its
    rollback alarms (as named for the version deployed), runs the hook and moves its function's alias, then the role
    allows each call, and none on another function, alarm or hook of the account."""
    resources = deployed["Resources"]
    groups = {name: resource for name, resource in resources.items() if resource["Type"] == DEPLOYMENT_GROUP}
    assert "CodeDeployServiceRole" not in resources  # SAM's role, with AWS's policy for any alias of the account
    role_id, statements = role_statements(deployed)
    role = resources[role_id]["Properties"]
    assert role["AssumeRolePolicyDocument"]["Statement"] == [
        {"Effect": "Allow", "Principal": {"Service": "codedeploy.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ]
    assert "ManagedPolicyArns" not in role
    for environment in ("dev", "prod"):
        values = deployed_values(deployed, environment)
        allowed = allows(cfn.resolve(statements, values, deployed))
        hook = values[f"{HOOK}.Arn"]
        alarms_watched = []
        for entry in FUNCTIONS:
            function = values[f"{entry.logical_id}.Arn"]
            update = resources[f"{entry.logical_id}Aliaslive"]["UpdatePolicy"]["CodeDeployLambdaAliasUpdate"]
            group = groups[update["DeploymentGroupName"]["Ref"]]
            for watched in group["Properties"]["AlarmConfiguration"]["Alarms"]:
                name = cfn.resolve(resources[watched["Name"]["Ref"]]["Properties"]["AlarmName"], values, deployed)
                alarms_watched.append(name)
                assert allowed("cloudwatch:DescribeAlarms", alarm_arn(name)), name
            for action in ("lambda:GetAlias", "lambda:UpdateAlias", "lambda:GetProvisionedConcurrencyConfig"):
                assert allowed(action, function) and allowed(action, f"{function}:live"), (entry.logical_id, action)
            assert not allowed("lambda:InvokeFunction", f"{function}:live")
        assert allowed("lambda:InvokeFunction", hook) and allowed("lambda:InvokeFunction", f"{hook}:$LATEST")
        assert len(alarms_watched) == 2 * len(FUNCTIONS)
        # nothing of the account's other functions, alarms or hooks
        other = "arn:aws:lambda:us-east-1:123456789012:function:"
        for action in ("lambda:UpdateAlias", "lambda:GetAlias", "lambda:InvokeFunction"):
            for name in ("payments-api", f"kyc-gateway-{environment}-Other", "CodeDeployHook_payments"):
                assert not allowed(action, f"{other}{name}:live") and not allowed(action, f"{other}{name}"), name
        for name in (f"kyc-gateway-{environment}-Api5xxRate", "payments-NewVersionErrors-7"):
            assert not allowed("cloudwatch:DescribeAlarms", alarm_arn(name)), name
        assert not allowed("sns:Publish", "arn:aws:sns:us-east-1:123456789012:kyc-gateway-alarms")


def deployed_values(deployed: dict, environment: str) -> dict:
    """What the template's parameters, functions and versions resolve to in `environment` (version 7 deploying)."""
    values = cfn.parameter_values({"Environment": environment}, deployed)
    for logical_id, resource in deployed["Resources"].items():
        if resource["Type"] == "AWS::Lambda::Function":
            name = cfn.resolve(resource["Properties"].get("FunctionName"), values, deployed) or (
                f"kyc-gateway-{environment}-{logical_id}-AbCdEf123456"
            )
            arn = f"arn:aws:lambda:{values['AWS::Region']}:{values['AWS::AccountId']}:function:{name}"
            values |= {logical_id: name, f"{logical_id}.Arn": arn}
        elif resource["Type"] == "AWS::Lambda::Version":
            values[f"{logical_id}.Version"] = TARGET_VERSION
    return values


def alarm_arn(name: str) -> str:
    return f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{name}"


def allows(statements: list[dict]) -> Callable[[str, str], bool]:
    """IAM's answer to an action on a resource under `statements` (resolved): an Allow whose Action and Resource
    patterns match, as IAM matches them (wildcards; actions case-insensitively). A Deny, NotAction, NotResource or a
    condition is not modelled: the role must have none."""

    def allowed(action: str, resource: str) -> bool:
        for statement in statements:
            assert statement["Effect"] == "Allow" and not {"NotAction", "NotResource", "Condition"} & set(statement)
            actions = any(
                fnmatch.fnmatchcase(action.lower(), pattern.lower()) for pattern in listed(statement["Action"])
            )
            if actions and any(fnmatch.fnmatchcase(resource, pattern) for pattern in listed(statement["Resource"])):
                return True
        return False

    return allowed


def listed(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value


def test_the_roles_actions_are_awss_own_for_codedeploys_lambda_deployments_less_what_is_never_used(deployed):
    from moto.iam.aws_managed_policies import aws_managed_policies_data

    # Given AWS's policy for CodeDeploy's Lambda deployments (moto's copy of it), which SAM's own role carries
    aws = json.loads(aws_managed_policies_data)["AWSCodeDeployRoleForLambda"]["Document"]["Statement"]
    awss = {action.lower() for statement in aws for action in listed(statement["Action"])}

    # Then the gateway's role grants exactly those actions, less the ones its deployments never use, no wildcard
    _, statements = role_statements(deployed)
    granted = [action.lower() for statement in statements for action in listed(statement["Action"])]
    assert set(granted) == awss - NOT_NEEDED
    assert not any("*" in action for action in granted)
