"""template.yaml invariants that matter in production: least privilege, encryption, retention, auth."""

from __future__ import annotations

import json
import re

from kyc_gateway.registry import PROVIDERS, ProviderEntry
from project import template as cfn
from tests.support.routes import provider_of
from tests.unit.test_registry import client_class

TEMPLATE = cfn.load()
RESOURCES = cfn.resources(TEMPLATE)
FUNCTIONS = cfn.functions(TEMPLATE)


PUBLIC_ROUTES = {("POST", "/connectfi/webhooks/{token}")}  # connectFi cannot sign: the URL's token authenticates


def test_every_api_route_needs_iam_auth_except_the_webhook():
    api = RESOURCES["GatewayApi"]["Properties"]
    assert api["Auth"]["DefaultAuthorizer"] == "AWS_IAM"
    for spec in FUNCTIONS.values():
        for event in spec.properties.get("Events", {}).values():
            if event["Type"] != "Api":
                continue
            properties = event["Properties"]
            assert properties["RestApiId"] == {"Ref": "GatewayApi"}
            if (properties["Method"], properties["Path"]) in PUBLIC_ROUTES:
                assert properties["Auth"] == {"Authorizer": "NONE"}
            else:
                assert "Auth" not in properties, f"{spec.logical_id} overrides the API's IAM auth"


def test_webhook_queue_is_encrypted_with_a_bounded_redrive_to_an_alarmed_dlq():
    queue = RESOURCES["WebhookQueue"]["Properties"]
    assert queue["KmsMasterKeyId"] == {"Ref": "DataKey"}
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["WebhookDeadLetterQueue", "Arn"]}
    assert 1 < queue["RedrivePolicy"]["maxReceiveCount"] <= 10
    assert RESOURCES["WebhookDeadLetterQueue"]["Properties"]["KmsMasterKeyId"] == {"Ref": "DataKey"}
    alarm = RESOURCES["WebhookDeadLetterAlarm"]["Properties"]
    assert alarm["Dimensions"][0]["Value"] == {"Fn::GetAtt": ["WebhookDeadLetterQueue", "QueueName"]}
    processor = FUNCTIONS["ConnectFiWebhookProcessorFunction"].properties["Events"]["Webhooks"]["Properties"]
    assert processor["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_functions_run_python313_below_api_gateway_timeout_with_the_shared_layer():
    for spec in FUNCTIONS.values():
        assert spec.properties["Runtime"] == "python3.13"
        assert spec.properties["Timeout"] < 29 or not spec.api_events
        assert {"Ref": "GatewayLayer"} in spec.properties["Layers"]
    layer = RESOURCES["GatewayLayer"]
    assert layer["Metadata"]["BuildMethod"] == "makefile"  # layers/gateway/Makefile: the lock's wheels, by hash
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.13"]


def test_every_function_logs_to_its_own_encrypted_group_with_retention():
    for spec in FUNCTIONS.values():
        group = spec.properties["LoggingConfig"]["LogGroup"]["Ref"]
        assert RESOURCES[group]["Type"] == "AWS::Logs::LogGroup"
        assert RESOURCES[group]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
        assert RESOURCES[group]["Properties"]["KmsKeyId"] == {"Fn::GetAtt": ["DataKey", "Arn"]}
        assert spec.properties["KmsKeyArn"] == {"Fn::GetAtt": ["DataKey", "Arn"]}
        assert {"Ref": "DataKeyDecryptPolicy"} in policies_of(spec)


def test_the_api_stage_is_throttled_and_access_logged_without_paths():
    api = RESOURCES["GatewayApi"]["Properties"]
    (settings,) = [item for item in api["MethodSettings"] if item["ResourcePath"] == "/*"]
    assert settings["ThrottlingRateLimit"] > 0 and settings["ThrottlingBurstLimit"] > 0
    assert "$context.resourcePath" in api["AccessLogSetting"]["Format"]
    assert "$context.path" not in api["AccessLogSetting"]["Format"]  # the webhook path carries its token


def test_functions_may_read_only_their_own_provider_secret():
    for spec in FUNCTIONS.values():
        readable = [
            policy["AWSSecretsManagerGetSecretValuePolicy"]["SecretArn"]["Ref"]
            for policy in policies_of(spec)
            if isinstance(policy, dict) and "AWSSecretsManagerGetSecretValuePolicy" in policy
        ] + [
            statement["Resource"]["Ref"]
            for statement in statements_of(spec)
            if statement["Action"] == "secretsmanager:GetSecretValue"
        ]
        variables = spec.properties["Environment"]["Variables"]
        secrets = sorted(variables[name]["Ref"] for name in variables if name.endswith("_SECRET_ID"))
        assert sorted(readable) == secrets, spec.logical_id


def own_role(spec: cfn.FunctionSpec) -> dict | None:
    """The template's own role of a function that has one (`Role: !GetAtt <Role>.Arn`), else None."""
    role = spec.properties.get("Role")
    return RESOURCES[role["Fn::GetAtt"][0]]["Properties"] if isinstance(role, dict) else None


def policies_of(spec: cfn.FunctionSpec) -> list:
    """The function's SAM policies, or its own role's managed policies and inline documents."""
    role = own_role(spec)
    if role is None:
        return spec.properties.get("Policies", [])
    return role.get("ManagedPolicyArns", []) + [policy["PolicyDocument"] for policy in role.get("Policies", [])]


def statements_of(spec: cfn.FunctionSpec) -> list[dict]:
    """The function's policy statements: inline ones and those of the template's managed policies it uses."""
    statements = []
    for policy in policies_of(spec):
        if isinstance(policy, dict) and "Ref" in policy:
            statements += RESOURCES[policy["Ref"]]["Properties"]["PolicyDocument"]["Statement"]
        elif isinstance(policy, dict):
            statements += policy.get("Statement", [])
    return statements


def test_token_table_access_is_item_level_and_limited_to_the_functions_provider_keys():
    for spec in FUNCTIONS.values():
        entry = provider_of(spec)
        for statement in statements_of(spec):
            if statement["Resource"] == {"Fn::GetAtt": ["TokenTable", "Arn"]}:
                assert set(statement["Action"]) <= {"dynamodb:GetItem", "dynamodb:UpdateItem"}
                prefixes = statement["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]
                assert entry is not None and prefixes == [f"{entry.name}#*"], spec.logical_id
            if statement["Action"] == "dynamodb:ListStreams":  # a list: of one table's streams, as AWS shows it
                assert statement["Resource"] == {"Fn::Sub": "${AuditTable.Arn}/stream/*"}, spec.logical_id
            elif statement["Action"] == "s3:PutObject":  # new objects, whose keys no policy can know, under a prefix
                assert statement["Resource"] == {"Fn::Sub": "${AuditArchiveBucket.Arn}/records/*"}, spec.logical_id
            else:
                assert "*" not in json.dumps(statement["Resource"]), spec.logical_id


def token_rows_policy(entry: ProviderEntry) -> str:
    return entry.secret.removesuffix("Secret") + "TokenRowsPolicy"


def test_each_token_provider_has_one_managed_policy_for_its_rows_used_by_its_functions():
    for entry in PROVIDERS:
        if not client_class(entry).uses_tokens:
            continue
        policy = RESOURCES[token_rows_policy(entry)]
        assert policy["Type"] == "AWS::IAM::ManagedPolicy"
        (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
        assert statement["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"] == [f"{entry.name}#*"]
        for spec in FUNCTIONS.values():
            if provider_of(spec) == entry and "TOKEN_TABLE_NAME" in spec.properties["Environment"]["Variables"]:
                assert {"Ref": token_rows_policy(entry)} in policies_of(spec), spec.logical_id


def test_idempotency_and_token_access_come_only_from_the_shared_managed_policies():
    assert RESOURCES["IdempotencyRecordsPolicy"]["Type"] == "AWS::IAM::ManagedPolicy"
    for spec in FUNCTIONS.values():
        inline = [p for p in policies_of(spec) if isinstance(p, dict) and "Statement" in p]
        for policy in inline:
            for statement in policy["Statement"]:
                resource = json.dumps(statement["Resource"])
                assert "TokenTable" not in resource and "IdempotencyTable" not in resource, spec.logical_id
        if "IDEMPOTENCY_TABLE_NAME" in spec.properties["Environment"]["Variables"]:
            assert {"Ref": "IdempotencyRecordsPolicy"} in policies_of(spec), spec.logical_id


def test_tables_are_encrypted_recoverable_and_on_demand():
    tables = [resource["Properties"] for resource in RESOURCES.values() if resource["Type"] == "AWS::DynamoDB::Table"]
    assert len(tables) == 4
    for table in tables:
        assert table["SSESpecification"] == {"SSEEnabled": True, "SSEType": "KMS", "KMSMasterKeyId": {"Ref": "DataKey"}}
        assert table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
        assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert RESOURCES["TokenTable"]["Properties"]["TimeToLiveSpecification"] == {"AttributeName": "ttl", "Enabled": True}
    idempotency = RESOURCES["IdempotencyTable"]["Properties"]
    assert idempotency["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}
    audit = RESOURCES["AuditTable"]["Properties"]
    assert audit["TimeToLiveSpecification"] == {"AttributeName": "expiresAt", "Enabled": True}


def test_no_secret_value_is_written_in_the_template_and_secrets_use_the_data_key():
    for resource in RESOURCES.values():
        if resource["Type"] == "AWS::SecretsManager::Secret":
            assert "SecretString" not in resource["Properties"]
            assert resource["Properties"]["KmsKeyId"] == {"Ref": "DataKey"}
    generated = RESOURCES["ConnectFiWebhookSecret"]["Properties"]["GenerateSecretString"]
    assert generated["GenerateStringKey"] == "token" and generated["PasswordLength"] >= 32


def test_function_environment_resolves_refs_parameters_and_globals():
    environment = cfn.function_environment(
        "SignzyRepushFunction",
        {
            "SignzySecret": "arn:aws:secretsmanager:us-east-1:123456789012:secret:s",
            "TokenTable": "tokens",
            "IdempotencyTable": "idempotency",
            "AuditTable": "audit",
            "AuditKeySecret": "arn:aws:secretsmanager:us-east-1:123456789012:secret:audit",
        },
        {"Environment": "local", "SignzyBaseUrl": "http://127.0.0.1:1/signzy"},
    )

    assert environment["SIGNZY_BASE_URL"] == "http://127.0.0.1:1/signzy"
    assert environment["SIGNZY_SECRET_ID"].startswith("arn:aws:secretsmanager")
    assert environment["TOKEN_TABLE_NAME"] == "tokens"
    assert environment["ENVIRONMENT"] == "local"
    assert environment["POWERTOOLS_SERVICE_NAME"] == "kyc-gateway"


def test_api_gateways_own_refusals_use_the_layers_error_envelope():
    from kyc_gateway.errors import GatewayError

    responses = RESOURCES["GatewayApi"]["Properties"]["GatewayResponses"]
    assert {"DEFAULT_4XX", "DEFAULT_5XX", "MISSING_AUTHENTICATION_TOKEN", "THROTTLED"} <= set(responses)
    for kind, response in responses.items():
        template = response["ResponseTemplates"]["application/json"]
        # API Gateway substitutes $context.error.messageString as a quoted JSON string, $context.requestId bare
        rendered = template.replace("$context.error.messageString", '"Forbidden"').replace("$context.requestId", "r-1")
        envelope = json.loads(rendered)
        code = envelope["error"]["code"]
        assert envelope == GatewayError("Forbidden", code=code).envelope("r-1"), kind


def test_every_alarm_has_a_runbook_entry_in_the_operations_guide():
    runbook = (cfn.ROOT / "docs" / "operations.md").read_text().split("## Runbook", 1)[1]
    headings = " ".join(line for line in runbook.splitlines() if line.startswith("### "))
    functions = "|".join(cfn.functions())
    providers = "|".join(entry.title for entry in PROVIDERS)
    for resource in cfn.resources().values():
        if resource["Type"] == "AWS::CloudWatch::Alarm":
            named = resource["Properties"]["AlarmName"]["Fn::Sub"]  # a version's alarm: [its name, its version]
            name = (named if isinstance(named, str) else named[0].removesuffix("-${Version}")).removeprefix(
                "kyc-gateway-${Environment}-"
            )
            generic = re.sub(rf"^({functions})(?=Errors|Throttles|GatewayFaults|NewVersion)", "<Function>", name)
            generic = re.sub(rf"^({providers})(?=ProviderFailures|TokenFailures)", "<Provider>", generic)
            assert f"`{generic}`" in headings, f"{name}: no `### {generic}` entry in docs/operations.md's runbook"


def test_the_default_audit_retention_keeps_every_record_five_years_and_a_day_whatever_the_leap_days():
    import datetime as dt

    from kyc_gateway.settings import Settings

    # Given the retention the template deploys by default (and the gateway's own default, the same)
    days = int(TEMPLATE["Parameters"]["AuditRetentionDays"]["Default"])
    assert Settings().audit_retention_days == days
    # Then a record written on any day of a leap cycle is kept past the same date five years on, and a day
    for offset in range(4 * 366):
        written = dt.date(2027, 1, 1) + dt.timedelta(days=offset)
        five_years_on = dt.date(
            written.year + 5, written.month, 28 if (written.month, written.day) == (2, 29) else written.day
        )
        assert written + dt.timedelta(days=days) >= five_years_on + dt.timedelta(days=1), written
