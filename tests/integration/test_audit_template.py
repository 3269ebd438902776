"""The audit trail as deployed (the transformed template, docs/audit.md): a table that outlives the stack, refuses
deletion, can be restored and expires records after the retention parameter; functions that may only add records;
a search only compliance roles may call."""

from __future__ import annotations

import copy
import fnmatch
import json
import re

import pytest

from kyc_gateway.registry import FUNCTIONS
from tests.integration.test_deployed_template import policy_statements, referenced, transformed

FIVE_YEARS_AND_A_DAY = 5 * 365 + 2 + 1  # five years hold up to two 29 Februaries


@pytest.fixture(scope="module")
def deployed() -> dict:
    return transformed("prod")


def actions(statement: dict) -> set[str]:
    action = statement["Action"]
    return set(action if isinstance(action, list) else [action])


# AWS's policies the stack's service roles carry: none reaches a table of the stack (API Gateway's pushes access
# logs).
SERVICE_ROLE_POLICIES = {"AmazonAPIGatewayPushToCloudWatchLogs"}


def own_statements(deployed: dict, role: dict) -> list[dict]:
    """What a role grants through the stack's own policies (inline and managed); AWS's policies for Lambda,
    X-Ray and API Gateway logging name none of its resources."""
    managed = role["Properties"].get("ManagedPolicyArns", [])
    aws_policies = [arn for arn in managed if not (isinstance(arn, dict) and "Ref" in arn)]
    if any(json.dumps(arn).rsplit("/", 1)[-1].strip('"}') in SERVICE_ROLE_POLICIES for arn in aws_policies):
        role = {
            "Properties": {**role["Properties"], "ManagedPolicyArns": [a for a in managed if a not in aws_policies]}
        }
    return policy_statements(deployed, role)


def role_of(deployed: dict, function: str) -> dict:
    return deployed["Resources"][deployed["Resources"][function]["Properties"]["Role"]["Fn::GetAtt"][0]]


def test_the_audit_table_outlives_the_stack_refuses_deletion_restores_and_is_encrypted_with_the_data_key(deployed):
    table = deployed["Resources"]["AuditTable"]
    properties = table["Properties"]

    assert (table["DeletionPolicy"], table["UpdateReplacePolicy"]) == ("Retain", "Retain")
    assert properties["DeletionProtectionEnabled"] is True
    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert properties["SSESpecification"] == {
        "SSEEnabled": True,
        "SSEType": "KMS",
        "KMSMasterKeyId": {"Ref": "DataKey"},
    }
    assert properties["KeySchema"] == [
        {"AttributeName": "fingerprint", "KeyType": "HASH"},
        {"AttributeName": "at", "KeyType": "RANGE"},
    ]


def test_records_expire_after_the_retention_parameter_five_years_and_a_day_by_default(deployed):
    ttl = deployed["Resources"]["AuditTable"]["Properties"]["TimeToLiveSpecification"]
    assert ttl == {"AttributeName": "expiresAt", "Enabled": True}
    assert deployed["Parameters"]["AuditRetentionDays"]["Default"] == FIVE_YEARS_AND_A_DAY
    for entry in FUNCTIONS:
        variables = deployed["Resources"][entry.logical_id]["Properties"]["Environment"]["Variables"]
        if entry.audited:
            assert variables["AUDIT_RETENTION_DAYS"] == {"Ref": "AuditRetentionDays"}, entry.logical_id
        else:
            assert "AUDIT_TABLE_NAME" not in variables, entry.logical_id


def test_the_fingerprint_key_is_generated_encrypted_and_kept(deployed):
    secret = deployed["Resources"]["AuditKeySecret"]
    generated = secret["Properties"]["GenerateSecretString"]

    assert (secret["DeletionPolicy"], secret["UpdateReplacePolicy"]) == ("Retain", "Retain")
    assert secret["Properties"]["KmsKeyId"] == {"Ref": "DataKey"}
    assert json.loads(generated["SecretStringTemplate"]) == {"current": generated["GenerateStringKey"]}
    assert generated["PasswordLength"] >= 32  # kyc_gateway.audit refuses shorter keys


# What a policy's Fn::Sub may name besides resources, as the transformed template is deployed to prod.
PSEUDO = {"AWS::Partition": "aws", "AWS::Region": "us-east-1", "AWS::AccountId": "123456789012", "Environment": "prod"}


def resource_patterns(resource) -> list[str]:
    """The ARN patterns a policy's Resource names as text ("*", "arn:...:table/*"), pseudo parameters filled in; a
    reference to another resource matches nothing (one to the audit table is found by `referenced`)."""
    if isinstance(resource, list):
        return [pattern for item in resource for pattern in resource_patterns(item)]
    if isinstance(resource, dict) and "Fn::Sub" in resource:
        text = resource["Fn::Sub"] if isinstance(resource["Fn::Sub"], str) else resource["Fn::Sub"][0]
        return [re.sub(r"\$\{([^}]+)\}", lambda name: PSEUDO.get(name.group(1), "<unresolved>"), text)]
    return [resource] if isinstance(resource, str) else []


def audit_table_grants(deployed: dict) -> dict[str, set[str]]:
    """Each role's DynamoDB actions (as written: `dynamodb:*` stays itself) that may reach the audit table: a
    statement naming the table, or an ARN pattern or wildcard that matches it."""
    (name,) = resource_patterns(deployed["Resources"]["AuditTable"]["Properties"]["TableName"])
    table = f"arn:aws:dynamodb:us-east-1:123456789012:table/{name}"
    grants = {}
    for logical_id, resource in deployed["Resources"].items():
        if resource["Type"] == "AWS::IAM::Role":
            granted = set()
            for statement in own_statements(deployed, resource):
                # "all but" grants far too much
                assert not {"NotAction", "NotResource"} & set(statement), (logical_id, statement)
                on_table = "AuditTable" in referenced(statement["Resource"]) or any(
                    fnmatch.fnmatchcase(table, pattern) for pattern in resource_patterns(statement["Resource"])
                )
                dynamodb = {a for a in actions(statement) if fnmatch.fnmatchcase("dynamodb", a.split(":")[0].lower())}
                if on_table and dynamodb:
                    assert statement["Effect"] == "Allow" and "Condition" not in statement
                    granted |= dynamodb
            if granted:
                grants[logical_id] = granted
    return grants


def test_functions_may_only_add_audit_records_and_only_the_search_may_query_them(deployed):
    # Given every role of the stack and what it may do to the audit table, wildcards included
    on_audit_table = audit_table_grants(deployed)

    # Then each function that calls a provider may put records, nothing more; the search may also query; the archive
    # may read the table's stream (each change as it is made, for 24 hours), and nothing of the table itself
    expected = {}
    for entry in FUNCTIONS:
        role = deployed["Resources"][entry.logical_id]["Properties"]["Role"]["Fn::GetAtt"][0]
        if entry.audited:
            expected[role] = {"dynamodb:PutItem"} | ({"dynamodb:Query"} if entry.searches_audit else set())
        if entry.logical_id == "AuditArchiveFunction":
            stream = ("DescribeStream", "GetRecords", "GetShardIterator", "ListStreams")
            expected[role] = {f"dynamodb:{action}" for action in stream}
    assert on_audit_table == expected
    assert sum(1 for granted in on_audit_table.values() if "dynamodb:Query" in granted) == 1


@pytest.mark.parametrize(
    "resource",
    [
        "*",
        {"Fn::Sub": "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/*"},
        [{"Fn::Sub": "arn:${AWS::Partition}:dynamodb:*:*:table/kyc-gateway-${Environment}-*"}],
        {"Fn::GetAtt": ["AuditTable", "Arn"]},
    ],
)
def test_a_broader_dynamodb_grant_that_reaches_the_audit_table_is_seen(deployed, resource):
    # Given a writer's role granted every DynamoDB action on a resource the audit table falls under
    broadened = copy.deepcopy(deployed)
    role = broadened["Resources"]["CladfyKraPinFunctionRole"]["Properties"]
    statement = {"Effect": "Allow", "Action": ["dynamodb:*"], "Resource": resource}
    role["Policies"].append({"PolicyName": "Broader", "PolicyDocument": {"Statement": [statement]}})

    # Then the check counts it against the role
    assert "dynamodb:*" in audit_table_grants(broadened)["CladfyKraPinFunctionRole"]


def test_a_grant_on_another_table_is_not_counted_against_the_audit_table(deployed):
    broadened = copy.deepcopy(deployed)
    role = broadened["Resources"]["CladfyKraPinFunctionRole"]["Properties"]
    other = {"Fn::Sub": "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/${OtherTable}"}
    statement = {"Effect": "Allow", "Action": "dynamodb:*", "Resource": other}
    role["Policies"].append({"PolicyName": "Other", "PolicyDocument": {"Statement": [statement]}})

    assert audit_table_grants(broadened)["CladfyKraPinFunctionRole"] == {"dynamodb:PutItem"}


def test_every_role_that_writes_records_reads_the_fingerprint_key(deployed):
    for entry in FUNCTIONS:
        statements = policy_statements(deployed, role_of(deployed, entry.logical_id))
        reads_key = any(
            "secretsmanager:GetSecretValue" in actions(statement)
            and "AuditKeySecret" in referenced(statement["Resource"])
            for statement in statements
        )
        assert reads_key == entry.audited, entry.logical_id


def test_the_audit_search_policy_invokes_the_search_route_only_and_is_a_stack_output(deployed):
    policy = deployed["Resources"]["AuditSearchPolicy"]["Properties"]["PolicyDocument"]
    (statement,) = policy["Statement"]

    assert (statement["Effect"], actions(statement)) == ("Allow", {"execute-api:Invoke"})
    resource = statement["Resource"]["Fn::Sub"]
    assert resource.endswith("${GatewayApi}/${Environment}/POST/audit/search")
    assert deployed["Outputs"]["AuditSearchPolicyArn"]["Value"] == {"Ref": "AuditSearchPolicy"}
    # The route it names is the API's, signed with IAM like every route, under /audit/ (out of the callers' policy)
    route = deployed["Resources"]["GatewayApi"]["Properties"]["Body"]["paths"]["/audit/search"]["post"]
    assert route["security"] == [{"AWS_IAM": []}]
