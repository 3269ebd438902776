"""The two roles of the gateway's deployments: the one CodeDeploy moves each function's `live` alias with, and the
deploy check hook's (kyc_gateway/deploy_hook.py). Both reach the registry's functions only."""

from __future__ import annotations

from typing import Any

from generators.intrinsics import ref, sub
from kyc_gateway.registry import FunctionEntry

DEPLOY_HOOK = "DeployCheckHookFunction"  # written in the source; its role is generated (deploy_hook_role)
CODEDEPLOY_ROLE = "GatewayCodeDeployRole"


def rollback_alarm_name(function: FunctionEntry) -> str:
    """The beginning of the names of `function`'s rollback alarms, each ending with the version it watches
    (`generators.template`'s NewVersionErrors and NewVersionFaults)."""
    return f"kyc-gateway-${{Environment}}-{function.logical_id}NewVersion"


def codedeploy_role(functions: tuple[FunctionEntry, ...]) -> dict[str, Any]:
    """What CodeDeploy does in a deployment of a function's alias: read the alias (and its provisioned concurrency),
    run the deploy check hook, watch the rollback alarms, move the alias. AWS's managed policy for it
    (AWSCodeDeployRoleForLambda), which SAM gives otherwise, may move any alias of the account and publish to any
    topic; this one reaches the registry's functions, their rollback alarms and the hook only. No topic: the
    deployments notify no one (the alarms that page do)."""
    aliases = [
        item
        for function in functions
        for item in (sub(f"${{{function.logical_id}.Arn}}"), sub(f"${{{function.logical_id}.Arn}}:*"))
    ]
    statements = [
        {
            "Sid": "MoveTheGatewaysAliases",  # IAM names the function for an alias's actions, and the alias for some
            "Effect": "Allow",
            "Action": ["lambda:GetAlias", "lambda:UpdateAlias", "lambda:GetProvisionedConcurrencyConfig"],
            "Resource": aliases,
        },
        {
            "Sid": "RunTheDeployCheck",
            "Effect": "Allow",
            "Action": "lambda:InvokeFunction",
            "Resource": [sub(f"${{{DEPLOY_HOOK}.Arn}}"), sub(f"${{{DEPLOY_HOOK}.Arn}}:*")],
        },
        {
            "Sid": "WatchTheRollbackAlarms",
            "Effect": "Allow",
            "Action": "cloudwatch:DescribeAlarms",
            "Resource": [
                sub(f"arn:${{AWS::Partition}}:cloudwatch:${{AWS::Region}}:${{AWS::AccountId}}:alarm:{name}*")
                for name in map(rollback_alarm_name, functions)
            ],
        },
    ]
    return {CODEDEPLOY_ROLE: _role("codedeploy.amazonaws.com", "deploy-gateway-functions", statements)}


def deploy_hook_role(functions: tuple[FunctionEntry, ...]) -> dict[str, Any]:
    """The deploy hook's role: read and answer the gateway's own deployments, invoke the registry's functions'
    published versions (never `$LATEST`, nor any other function)."""
    statements = [
        {
            "Sid": "ReadAndAnswerTheGatewaysDeployments",
            "Effect": "Allow",
            "Action": ["codedeploy:GetDeployment", "codedeploy:PutLifecycleEventHookExecutionStatus"],
            "Resource": sub(
                "arn:${AWS::Partition}:codedeploy:${AWS::Region}:${AWS::AccountId}:deploymentgroup:"
                "${ServerlessDeploymentApplication}/*"
            ),
        },
        {
            "Sid": "ReadTheGatewaysRevisions",  # where a deployment made by CloudFormation keeps its AppSpec
            "Effect": "Allow",
            "Action": "codedeploy:GetApplicationRevision",
            "Resource": sub(
                "arn:${AWS::Partition}:codedeploy:${AWS::Region}:${AWS::AccountId}:application:"
                "${ServerlessDeploymentApplication}"
            ),
        },
        {
            "Sid": "CheckTheGatewaysNewVersions",
            "Effect": "Allow",
            "Action": "lambda:InvokeFunction",
            "Resource": [sub(f"${{{function.logical_id}.Arn}}:*") for function in functions],
        },
    ]
    managed = [
        sub("arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"),
        sub("arn:${AWS::Partition}:iam::aws:policy/AWSXrayWriteOnlyAccess"),  # as SAM gives functions
        ref("DataKeyDecryptPolicy"),
    ]
    return {"DeployCheckHookRole": _role("lambda.amazonaws.com", "deploy-check", statements, managed)}


def _role(service: str, policy_name: str, statements: list[dict[str, Any]], managed: list[Any] | None = None) -> dict:
    """An IAM role `service` assumes, with `statements` as its one inline policy and the `managed` policies."""
    assume = {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
    properties: dict[str, Any] = {"AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [assume]}}
    if managed:
        properties["ManagedPolicyArns"] = managed
    policy = {"PolicyName": policy_name, "PolicyDocument": {"Version": "2012-10-17", "Statement": statements}}
    return {"Type": "AWS::IAM::Role", "Properties": properties | {"Policies": [policy]}}
