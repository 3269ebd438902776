"""The template's safety nets, read from the CloudFormation AWS deploys (SAM's own translator): data that outlives
the stack, a data key each role may use only as its resources need, no trace of the webhook's secret URL, and
concurrency bounds an operator can set."""

from __future__ import annotations

import copy
import fnmatch
import re

import pytest
from botocore.exceptions import ClientError

from project import template as cfn
from tests.integration import test_deployed_template
from tests.integration.test_deployed_template import gateway_functions, of_type, policy_statements, referenced

deployed = test_deployed_template.deployed  # the template as deployed, for dev and for prod (a fixture)

# --- Data outlives the stack ---------------------------------------------------------------------------------------

# Log groups too: they hold the only copy of an audit record that could not be written (audit_records_not_written).
STATEFUL = {
    "AWS::KMS::Key",
    "AWS::DynamoDB::Table",
    "AWS::SecretsManager::Secret",
    "AWS::SQS::Queue",
    "AWS::Logs::LogGroup",
    "AWS::S3::Bucket",  # the audit archive (its Object Lock would refuse a deletion, not keep the bucket)
}


def test_every_key_table_secret_queue_bucket_and_log_group_is_kept_when_the_stack_is_deleted_or_replaces_it(deployed):
    # Given every stateful resource of the deployed template, found by type (so one added later is covered too)
    stateful = {name: r for name, r in deployed["Resources"].items() if r["Type"] in STATEFUL}
    assert {resource["Type"] for resource in stateful.values()} == STATEFUL
    # Then a stack deletion and a replacing change both keep it (CloudFormation offers Snapshot for none of these
    # types: cfn-lint's E3035 refuses it)
    for name, resource in stateful.items():
        assert resource.get("DeletionPolicy") == "Retain", name
        assert resource.get("UpdateReplacePolicy") == "Retain", name


# Where each type that holds data at rest names its KMS key.
AT_REST_KEY = {
    "AWS::DynamoDB::Table": ("SSESpecification", "KMSMasterKeyId"),
    "AWS::SecretsManager::Secret": ("KmsKeyId",),
    "AWS::SQS::Queue": ("KmsMasterKeyId",),
    "AWS::Logs::LogGroup": ("KmsKeyId",),
    "AWS::SNS::Topic": ("KmsMasterKeyId",),
    "AWS::S3::Bucket": (
        "BucketEncryption",
        "ServerSideEncryptionConfiguration",
        0,
        "ServerSideEncryptionByDefault",
        "KMSMasterKeyID",
    ),
}


def at_rest_key(resource: dict) -> object:
    """What names the key `resource` is encrypted with at rest (AT_REST_KEY's path into its properties)."""
    value = resource.get("Properties") or {}
    for step in AT_REST_KEY[resource["Type"]]:
        value = (
            value[step]
            if isinstance(step, int) and len(value) > step
            else value.get(step, {})
            if isinstance(step, str)
            else {}
        )
    return value


def test_everything_that_holds_data_is_encrypted_with_a_key_of_the_stack_that_rotates(deployed):
    # Given every resource that holds data at rest, found by type (one added later is covered too), and the keys
    keys = of_type(deployed, "AWS::KMS::Key")
    holding = {name: r for name, r in deployed["Resources"].items() if r["Type"] in AT_REST_KEY}
    assert {resource["Type"] for resource in holding.values()} == set(AT_REST_KEY)

    # Then each names one of the stack's customer managed keys, and each key rotates its material yearly
    for name, resource in holding.items():
        assert referenced(at_rest_key(resource)) & keys.keys(), name
        if resource["Type"] == "AWS::DynamoDB::Table":  # where the key is named apart from turning encryption on
            encryption = resource["Properties"]["SSESpecification"]
            assert (encryption["SSEEnabled"], encryption["SSEType"]) == (True, "KMS"), name
    for name, key in keys.items():
        assert key["Properties"].get("EnableKeyRotation") is True, name


# Where each retained type keeps its name, and the loop variable docs/operations.md's teardown deletes it under
TEARDOWN = {
    "AWS::DynamoDB::Table": ("TableName", "table", "kyc-gateway-dev-"),
    "AWS::SQS::Queue": ("QueueName", "queue", "kyc-gateway-dev-"),
    "AWS::SecretsManager::Secret": ("Name", "secret", "kyc-gateway/dev/"),
}


def test_the_teardown_in_the_runbook_deletes_every_retained_table_queue_and_secret(deployed):
    # Given the tables, queues and secrets the stack keeps, by type and by name in dev
    values = cfn.parameter_values({"Environment": "dev"}, deployed)
    runbook = (cfn.ROOT / "docs" / "operations.md").read_text()
    for kind, (property_name, variable, prefix) in TEARDOWN.items():
        kept = {
            cfn.resolve(resource["Properties"][property_name], values, deployed).removeprefix(prefix)
            for resource in of_type(deployed, kind).values()
        }
        # Then the runbook's teardown loop over that kind names each one, and nothing else
        (listed,) = re.findall(rf"for {variable} in ([^;]+); do", runbook)
        assert set(listed.split()) == kept, f"docs/operations.md's `for {variable} in` loop: {sorted(kept)}"


def test_the_api_gateway_logging_role_a_dev_stack_makes_for_the_account_outlives_that_stack():
    # Given dev, which sets the account's API Gateway logging role for every stack of the account and region
    dev = test_deployed_template.transformed("dev", ManageApiGatewayAccount="true")
    (account,) = of_type(dev, "AWS::ApiGateway::Account").values()
    role = account["Properties"]["CloudWatchRoleArn"]["Fn::GetAtt"][0]

    # Then deleting dev keeps that role, which prod's access logs go through too
    assert (dev["Resources"][role]["DeletionPolicy"], dev["Resources"][role]["UpdateReplacePolicy"]) == ("Retain",) * 2


def listing(value: object) -> list:
    return value if isinstance(value, list) else [value]


def test_every_queue_topic_and_bucket_refuses_whatever_is_not_sent_over_tls(deployed):
    # Given every queue, topic and bucket of the deployed template, found by type, and the policies that name them
    def denies_plain_http(statement: dict, action: str, name: str) -> bool:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        return (
            statement["Effect"] == "Deny"
            and statement["Principal"] == "*"
            and any(fnmatch.fnmatch(action, pattern) for pattern in actions)
            and statement.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
            and covers(statement["Resource"], name)
        )

    def covers(resource: object, name: str) -> bool:
        """The statement's Resource names the resource itself (its ARN; a bucket's objects too), not only another
        one of the policy's."""
        forms = [item for item in listing(resource) if name in referenced(item)]
        if name not in of_type(deployed, "AWS::S3::Bucket"):
            return bool(forms)
        return {"Fn::GetAtt": [name, "Arn"]} in forms and {"Fn::Sub": f"${{{name}.Arn}}/*"} in forms

    for kind, policy_kind, listed, action in (
        ("AWS::SQS::Queue", "AWS::SQS::QueuePolicy", "Queues", "sqs:ReceiveMessage"),
        ("AWS::SNS::Topic", "AWS::SNS::TopicPolicy", "Topics", "sns:Publish"),
        ("AWS::S3::Bucket", "AWS::S3::BucketPolicy", "Bucket", "s3:GetObject"),
    ):
        resources = of_type(deployed, kind)
        assert resources, kind
        for name in resources:
            # Then each is named by a policy denying anyone a request that is not over TLS
            policies = [
                policy["Properties"]["PolicyDocument"]["Statement"]
                for policy in of_type(deployed, policy_kind).values()
                if {"Ref": name} in listing(policy["Properties"][listed])
            ]
            statements = [statement for found in policies for statement in found]
            assert any(denies_plain_http(statement, action, name) for statement in statements), name


def test_every_table_refuses_deletion_and_can_be_restored_to_any_second(deployed):
    tables = of_type(deployed, "AWS::DynamoDB::Table")
    assert tables
    for name, table in tables.items():
        assert table["Properties"]["DeletionProtectionEnabled"] is True, name
        assert table["Properties"]["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True, name


def test_the_local_stacks_tables_refuse_deletion_as_the_deployed_ones_do(aws, physical_ids):
    dynamodb = aws.client("dynamodb")
    for name, resource in cfn.resources().items():
        if resource["Type"] == "AWS::DynamoDB::Table":
            with pytest.raises(ClientError, match="DeletionProtectionEnabled"):
                dynamodb.delete_table(TableName=physical_ids[name])


# --- The data key: each role only what its resources need -----------------------------------------------------------

# The types whose data a role's grant reaches through the data key (log groups and topics: written by AWS services).
KEY_PROPERTY = {
    kind: AT_REST_KEY[kind]
    for kind in ("AWS::SecretsManager::Secret", "AWS::DynamoDB::Table", "AWS::SQS::Queue", "AWS::S3::Bucket")
}


def key_rights_needed(action: str, kind: str) -> set[str]:
    """What a caller needs of a customer managed key to use `action` (an IAM action, maybe with wildcards) on a
    resource of type `kind` encrypted with it, as AWS documents it."""
    service, _, operation = action.lower().partition(":")
    if kind == "AWS::SQS::Queue" and fnmatch.fnmatchcase("sendmessage", operation):
        return {"kms:GenerateDataKey", "kms:Decrypt"}  # SQS makes each message's data key with the sender's rights
    if kind == "AWS::SQS::Queue" and fnmatch.fnmatchcase("receivemessage", operation):
        return {"kms:Decrypt"}
    if kind == "AWS::SecretsManager::Secret" and fnmatch.fnmatchcase("getsecretvalue", operation):
        return {"kms:Decrypt"}
    if kind == "AWS::DynamoDB::Table" and service == "dynamodb":
        return {"kms:Decrypt"}
    if kind == "AWS::S3::Bucket" and fnmatch.fnmatchcase("putobject", operation):
        return {"kms:GenerateDataKey"}  # S3 makes each object's data key with the writer's rights (one part: no read)
    return set()


def encrypted_with_data_key(resource: dict) -> bool:
    return resource["Type"] in KEY_PROPERTY and "DataKey" in referenced(at_rest_key(resource))


def actions_of(statement: dict) -> list[str]:
    return statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]


def role_statements(template: dict, function: dict) -> list[dict]:
    """Every statement the function's execution role grants."""
    return policy_statements(template, template["Resources"][function["Properties"]["Role"]["Fn::GetAtt"][0]])


def data_key_rights(template: dict) -> dict[str, tuple[set[str], set[str]]]:
    """Per function: the KMS actions its role is granted, and those its environment and its other grants need."""
    resources = template["Resources"]
    rights = {}
    for name, function in of_type(template, "AWS::Lambda::Function").items():
        properties = function["Properties"]
        needed = {"kms:Decrypt"} if "DataKey" in referenced(properties.get("KmsKeyArn")) else set()
        granted: set[str] = set()
        for statement in role_statements(template, function):
            kms = {action for action in actions_of(statement) if action.startswith("kms:")}
            if kms:
                assert statement["Resource"] == {"Fn::GetAtt": ["DataKey", "Arn"]}, (name, statement)
                granted |= kms
                continue
            for target in referenced(statement["Resource"]) & resources.keys():
                if encrypted_with_data_key(resources[target]):
                    for action in actions_of(statement):
                        needed |= key_rights_needed(action, resources[target]["Type"])
        rights[name] = (granted, needed)
    return rights


def test_each_role_may_use_the_data_key_only_as_its_resources_need(deployed):
    rights = data_key_rights(deployed)
    for name, (granted, needed) in rights.items():
        assert "kms:Encrypt" not in granted, name
        assert granted == needed, name
    # the derivation sees what each role does: the webhook receiver sends to the encrypted queue
    assert any("kms:GenerateDataKey" in needed for _, needed in rights.values())


def test_the_former_use_everything_key_policy_would_be_refused_for_every_role(deployed):
    # Given the key policy every role attached before: decrypt, encrypt and make data keys
    broad = copy.deepcopy(deployed)
    (statement,) = broad["Resources"]["DataKeyDecryptPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    statement["Action"] = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"]
    # Then no role passes: each would hold rights none of its resources needs
    assert all(granted > needed for granted, needed in data_key_rights(broad).values())


def test_data_keys_are_made_only_through_sqs_and_s3_the_services_that_need_them(deployed):
    statements = [
        statement
        for function in of_type(deployed, "AWS::Lambda::Function").values()
        for statement in role_statements(deployed, function)
        if "kms:GenerateDataKey" in actions_of(statement)
    ]
    assert statements
    for statement in statements:
        via = statement["Condition"]["StringEquals"]["kms:ViaService"]
        assert via in ({"Fn::Sub": "sqs.${AWS::Region}.amazonaws.com"}, {"Fn::Sub": "s3.${AWS::Region}.amazonaws.com"})


# --- No secret in traces --------------------------------------------------------------------------------------------

XRAY_DEFAULT_RULE_PRIORITY = 10000  # X-Ray's own rule, evaluated after every custom one (1 to 9999)


def xray_matches(pattern: str, value: str) -> bool:
    """X-Ray's sampling-rule wildcards: `*` any run of characters, `?` one; the rest literal, case ignored."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.IGNORECASE) is not None


def samples(rule: dict, service: str, method: str, host: str, path: str) -> bool:
    """Whether an API Gateway stage's request matches `rule` (the fields X-Ray compares for a stage)."""
    fields = (("ServiceName", service), ("HTTPMethod", method), ("Host", host), ("URLPath", path))
    return rule["ServiceType"] in ("AWS::ApiGateway::Stage", "AWS::ApiGateway::*", "*") and all(
        xray_matches(rule[key], value) for key, value in fields
    )


def test_the_webhook_route_is_never_traced_and_every_other_route_still_is(deployed):
    values = cfn.parameter_values({"Environment": deployed["environment"]}, deployed)
    (sampling_rule,) = of_type(deployed, "AWS::XRay::SamplingRule").values()
    rule = cfn.resolve(sampling_rule["Properties"]["SamplingRule"], values)
    # Given the stage's X-Ray service name as API Gateway writes it, <api name>/<stage>, from the API as deployed
    (api,) = of_type(deployed, "AWS::ApiGateway::RestApi").values()
    (stage,) = of_type(deployed, "AWS::ApiGateway::Stage").values()
    assert stage["Properties"]["TracingEnabled"] is True
    stage_name = cfn.resolve(stage["Properties"]["StageName"], values)
    service = f"{cfn.resolve(api['Properties']['Name'], values)}/{stage_name}"
    assert rule["ServiceName"] == service
    # And the webhook route as its function declares it, with a token in place
    ((method, path),) = cfn.functions()["ConnectFiWebhookFunction"].api_events
    webhook = path.replace("{token}", "Zq3" * 16)
    # Then it matches behind the stage, a custom domain's base path or none, on any host, and is never sampled
    host = "abc123.execute-api.us-east-1.amazonaws.com"
    for prefix in (f"/{stage_name}", "/kyc", ""):
        assert samples(rule, service, method, host, prefix + webhook), prefix
    for other in ("GET", "PUT", "OPTIONS"):  # whatever method reaches the token's URL
        assert samples(rule, service, other, host, f"/{stage_name}{webhook}"), other
    assert (rule["ReservoirSize"], rule["FixedRate"]) == (0, 0)
    assert rule["Priority"] < XRAY_DEFAULT_RULE_PRIORITY
    # And no other route loses its traces
    for spec in cfn.functions().values():
        for other_method, other_path in spec.api_events:
            if (other_method, other_path) != (method, path):
                concrete = f"/{stage_name}" + re.sub(r"\{[^}]+\}", "x1", other_path)
                assert not samples(rule, service, other_method, host, concrete), other_path


def test_the_sampling_rule_name_carries_the_environment_within_x_rays_32_characters(deployed):
    (sampling_rule,) = of_type(deployed, "AWS::XRay::SamplingRule").values()
    for environment in deployed["Parameters"]["Environment"]["AllowedValues"]:
        name = cfn.resolve(sampling_rule["Properties"]["SamplingRule"]["RuleName"], {"Environment": environment})
        assert environment in name and len(name) <= 32, name


# --- Concurrency bounds ---------------------------------------------------------------------------------------------


def reserved_concurrency(function: dict, template: dict, values: dict[str, str]) -> str | None:
    """What CloudFormation sets as the function's reserved concurrency for these parameter values (None: none)."""
    condition, chosen, otherwise = function["Properties"]["ReservedConcurrentExecutions"]["Fn::If"]
    value = chosen if cfn.holds(condition, values, template) else otherwise
    return None if value == {"Ref": "AWS::NoValue"} else cfn.resolve(value, values)


def test_every_function_reserves_concurrency_only_when_its_own_parameter_is_set(deployed):
    functions = gateway_functions(deployed)  # the deploy hook reserves none (its checkov skip says why)
    defaults = cfn.parameter_values({}, deployed)
    for name, function in functions.items():
        # Given its parameter, named after it
        parameter = deployed["Parameters"][f"{name}ReservedConcurrency"]
        # Then its default reserves nothing, and setting it reserves that much for this function alone
        assert reserved_concurrency(function, deployed, defaults) is None, name
        chosen = defaults | {f"{name}ReservedConcurrency": "7"}
        assert {other: reserved_concurrency(f, deployed, chosen) for other, f in functions.items()} == {
            other: "7" if other == name else None for other in functions
        }
        # And only a positive count is taken (0 would throttle it entirely: stop a function another way)
        accepted = {
            value for value in ("", "7", "250", "0", "-1", "x") if re.fullmatch(parameter["AllowedPattern"], value)
        }
        assert accepted == {"", "7", "250"}, name


def test_every_template_parameter_is_documented_in_the_configuration_guide():
    guide = (cfn.ROOT / "docs" / "configuration.md").read_text()
    functions = "|".join(cfn.functions())
    for name in cfn.load()["Parameters"]:
        documented = re.sub(rf"^({functions})(?=ReservedConcurrency$)", "<Function>", name)
        assert f"`{documented}`" in guide, name
