"""docs/github-deploy-role.yaml: the roles CI deploys with can make every resource the gateway's stack holds, and
only a workflow job bound to the environment may assume them."""

from __future__ import annotations

import fnmatch
import json
import re

import pytest
import yaml

from project import template as cfn
from tests.integration.test_deployed_template import transformed

ROLES = cfn.load(cfn.ROOT / "docs" / "github-deploy-role.yaml")
SERVICE = {
    "ApiGateway": "apigateway",
    "CloudWatch": "cloudwatch",
    "DynamoDB": "dynamodb",
    "SecretsManager": "secretsmanager",
}
NOTHING_TO_ALLOW = {"AWS::CloudFormation::WaitConditionHandle"}


def actions(role: str) -> set[str]:
    statements = ROLES["Resources"][role]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    found = set()
    for statement in statements:
        listed = statement["Action"]
        found |= set(listed if isinstance(listed, list) else [listed])
    return found


# What CloudFormation's resource handlers may call (cfn-lint ships their schemas) for features the gateway's stack
# does not use: no VPC or file system for functions, no stream or import for tables, no log delivery, no policy
# attached to users or groups, no permissions boundary, no DynamoDB service-linked role (replicas, autoscaling); a
# web ACL on an API Gateway stage, not on the other services WAF protects, with no paid rule group; no object of the
# retained, owner-enforced archive bucket deleted or given an ACL, and no S3 table.
NOT_USED = re.compile(
    r"^(ec2|elasticfilesystem|s3files|s3tables|kinesis|firehose):"
    r"|^s3:(REST\.PUT\.OBJECT|GetObjectMetadata|ListBucket|DeleteObject|PutObjectAcl)$"
    r"|^iam:(Attach|Detach)(Group|User)Policy$|^iam:(Put|Delete)RolePermissionsBoundary$|^iam:CreateServiceLinkedRole$"
    r"|^(amplify|apprunner|appsync|cognito-idp|elasticloadbalancing|bedrock-agentcore):\w*Web(ACL|Acl)|^payments:"
)
SCHEMAS = cfn.ROOT / ".venv-sam" / "lib" / "python3.13" / "site-packages" / "cfnlint" / "data" / "schemas"


def handler_permissions(kind: str) -> set[str]:
    """What CloudFormation's handlers for `kind` call to create, update, read and delete it."""
    digest = json.loads((SCHEMAS / "providers" / "us-east-1.json").read_text())[kind]
    handlers = json.loads((SCHEMAS / "resources" / f"{digest}.json").read_text()).get("handlers", {})
    return {p for name in ("create", "read", "update", "delete") for p in handlers.get(name, {}).get("permissions", [])}


def test_cloudformation_may_call_everything_the_deployed_stacks_resources_need():
    if not SCHEMAS.exists():
        pytest.fail("aws-sam-cli's venv (with cfn-lint's schemas) is missing: run `make venv`")
    granted = actions("CloudFormationExecutionRole")
    kinds = {resource["Type"] for resource in transformed("prod")["Resources"].values()}
    missing = {
        permission: kind
        for kind in kinds
        for permission in handler_permissions(kind)
        if not NOT_USED.search(permission)
        and not any(fnmatch.fnmatchcase(permission.lower(), action.lower()) for action in granted)
    }
    assert not missing, missing


# Resources whose names CloudFormation or AWS pick (ids, AWS's managed rule groups) or the operator does (a custom
# domain), which no stack-name prefix can scope.
UNSCOPABLE = re.compile(
    r'^"\*"$|(key/\*|event-source-mapping:\*|deploymentconfig:\*|log-group:\*|::/restapis(/\*)?|::/account|::/tags/\*'
    r"|::/domainnames(/\*)?|managedruleset/\*)\"\}?$"
)


def test_every_resource_grant_is_scoped_to_the_environments_stack_unless_aws_picks_the_name():
    document = ROLES["Resources"]["CloudFormationExecutionRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    for statement in document["Statement"]:
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        for resource in resources:
            written = json.dumps(resource)
            scoped = "kyc-gateway-${Environment}" in written or "kyc-gateway/${Environment}/" in written
            assert scoped or UNSCOPABLE.search(written), (statement["Sid"], written)


def granted(service: str, environment: str) -> list[str]:
    """The ARN patterns CloudFormationExecutionRole grants every action of `service` on, in `environment`."""
    document = ROLES["Resources"]["CloudFormationExecutionRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    values = cfn.parameter_values({"Environment": environment}, ROLES)
    return [
        cfn.resolve(resource, values, ROLES)
        for statement in document["Statement"]
        if statement["Action"] in (f"{service}:*", [f"{service}:*"])
        for resource in (statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]])
    ]


@pytest.mark.parametrize("environment", ["dev", "prod"])
def test_cloudformation_may_manage_every_function_and_log_group_the_stack_names(environment):
    # Given every function and log group of the deployed stack, by the name it gets (its own, or for a function
    # without one the name CloudFormation derives: the stack's, samconfig.toml's, then the logical id and a suffix)
    deployed = transformed(environment)
    values = cfn.parameter_values({"Environment": environment}, deployed)
    arn = "arn:aws:{}:us-east-1:123456789012:{}"
    functions = [
        arn.format(
            "lambda",
            "function:"
            + (
                cfn.resolve(function["Properties"].get("FunctionName"), values, deployed)
                or f"kyc-gateway-{environment}-{logical_id}-AbCdEf123456"[:64]
            ),
        )
        for logical_id, function in deployed["Resources"].items()
        if function["Type"] == "AWS::Lambda::Function"
    ]
    log_groups = [
        arn.format("logs", "log-group:" + cfn.resolve(group["Properties"]["LogGroupName"], values, deployed))
        for group in deployed["Resources"].values()
        if group["Type"] == "AWS::Logs::LogGroup"
    ]
    assert any("CodeDeployHook_" in name for name in functions)

    # Then the role CloudFormation deploys with may manage each of them
    for service, names in (("lambda", functions), ("logs", log_groups)):
        patterns = granted(service, environment)
        for name in names:
            assert any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns), name


def test_only_a_job_of_the_matching_github_environment_may_assume_the_deploy_role():
    (trust,) = ROLES["Resources"]["DeployRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    condition = trust["Condition"]["StringEquals"]
    assert condition["token.actions.githubusercontent.com:aud"] == "sts.amazonaws.com"
    assert condition["token.actions.githubusercontent.com:sub"] == {
        "Fn::Sub": "repo:${GitHubRepository}:environment:${Environment}"
    }
    workflow = yaml.safe_load((cfn.ROOT / ".github" / "workflows" / "main.yml").read_text())
    environments = {job.get("environment") for job in workflow["jobs"].values()} - {None}
    assert environments == set(ROLES["Parameters"]["Environment"]["AllowedValues"])


def test_the_deploy_role_hands_changes_only_to_cloudformation_and_deploys_only_its_stack():
    granted = actions("DeployRole")
    assert not any(re.search(r"\*", action) for action in granted)
    assert not {action for action in granted if action.split(":")[0] in {"lambda", "dynamodb", "kms", "secretsmanager"}}
