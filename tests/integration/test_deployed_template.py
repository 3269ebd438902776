"""The template as AWS will see it: SAM's own translator (from aws-sam-cli's venv) turns template.yaml into the
CloudFormation that is deployed, and these tests read that, not the SAM source."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from kyc_gateway.providers.connectfi import applications
from kyc_gateway.registry import FUNCTIONS
from local.functions import load_handler
from project import template as cfn
from tests.support.routes import provider_of

SAM_PYTHON = cfn.ROOT / ".venv-sam" / "bin" / "python"
TRANSFORM = cfn.ROOT / "tests" / "support" / "sam" / "transformed_template.py"
AWS_MANAGED = {
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",  # its own log streams
    "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",  # X-Ray has no resource-level permissions
}
WEBHOOK = ("/connectfi/webhooks/{token}", "post")


def transformed(environment: str, template: Path = cfn.TEMPLATE, **parameters: str) -> dict:
    """The CloudFormation SAM makes of `template` for these parameter values (the others at their defaults)."""
    if not SAM_PYTHON.exists():
        pytest.fail("aws-sam-cli's venv is missing: run `make venv` (make test builds it first)")
    values = [f"{name}={value}" for name, value in {"Environment": environment, **parameters}.items()]
    result = subprocess.run(  # noqa: S603 - our own helper in our own venv
        [str(SAM_PYTHON), str(TRANSFORM), str(template), *values],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "AWS_DEFAULT_REGION": "us-east-1"},
        timeout=120,
    )
    return json.loads(result.stdout)


@pytest.fixture(scope="module", params=["dev", "prod"])
def deployed(request) -> dict:
    return transformed(request.param) | {"environment": request.param}


def gateway_functions(template: dict) -> dict[str, dict]:
    """The registry's functions in `template` (every Lambda function but CodeDeploy's pre-traffic hook)."""
    from kyc_gateway.registry import BY_LOGICAL_ID

    return {
        name: function for name, function in of_type(template, "AWS::Lambda::Function").items() if name in BY_LOGICAL_ID
    }


def of_type(template: dict, kind: str) -> dict[str, dict]:
    return {name: resource for name, resource in template["Resources"].items() if resource["Type"] == kind}


def webhook_queue(template: dict) -> tuple[dict, str]:
    """The processor's SQS event source mapping, and the logical id of the queue it reads."""
    (mapping,) = [
        mapping
        for mapping in of_type(template, "AWS::Lambda::EventSourceMapping").values()
        if mapping["Properties"]["FunctionName"] == {"Ref": "ConnectFiWebhookProcessorFunctionAliaslive"}
    ]
    return mapping, mapping["Properties"]["EventSourceArn"]["Fn::GetAtt"][0]


def dead_letter_alarm(template: dict) -> tuple[str, dict]:
    """The webhook queue's dead-letter queue (logical id), and the properties of the alarm on how many letters it
    holds (its age alarm is another)."""
    _, queue = webhook_queue(template)
    dead_letters = template["Resources"][queue]["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
    its_name = [{"Name": "QueueName", "Value": {"Fn::GetAtt": [dead_letters, "QueueName"]}}]
    (alarm,) = [
        alarm["Properties"]
        for alarm in of_type(template, "AWS::CloudWatch::Alarm").values()
        if alarm["Properties"].get("Dimensions") == its_name
        and alarm["Properties"].get("MetricName") != "ApproximateAgeOfOldestMessage"
    ]
    return dead_letters, alarm


def test_the_api_has_exactly_one_stage_with_throttling_access_logs_and_tracing(deployed):
    (stage,) = of_type(deployed, "AWS::ApiGateway::Stage").values()
    for deployment in of_type(deployed, "AWS::ApiGateway::Deployment").values():
        assert "StageName" not in deployment["Properties"]  # that would make a second stage, "Stage"
    properties = stage["Properties"]
    assert properties["TracingEnabled"] is True
    assert properties["AccessLogSetting"]["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]}
    settings = {(item["ResourcePath"], item["HttpMethod"]): item for item in properties["MethodSettings"]}
    assert settings[("/*", "*")]["ThrottlingRateLimit"] > 0 and settings[("/*", "*")]["ThrottlingBurstLimit"] > 0
    webhook = settings[("/~1connectfi~1webhooks~1{token}", "POST")]  # anonymous traffic has a limit of its own
    assert 0 < webhook["ThrottlingRateLimit"] < settings[("/*", "*")]["ThrottlingRateLimit"]


# Lambda's concurrency per account and region unless AWS raises it on request: what one hung provider may hold
ACCOUNT_CONCURRENCY = 1000


def test_the_stage_throttles_are_those_callers_and_operators_read_and_fit_the_accounts_concurrency(deployed):
    from kyc_gateway.settings import Settings

    # Given the stage's throttles as deployed, and the longest a request may hold an instance (its budget)
    (stage,) = of_type(deployed, "AWS::ApiGateway::Stage").values()
    settings = {(item["ResourcePath"], item["HttpMethod"]): item for item in stage["Properties"]["MethodSettings"]}
    stage_limit, webhook = settings[("/*", "*")], settings[("/~1connectfi~1webhooks~1{token}", "POST")]
    rate, burst = stage_limit["ThrottlingRateLimit"], stage_limit["ThrottlingBurstLimit"]
    budget = Settings.model_fields["provider_budget_seconds"].default

    # Then a provider that hangs at the stage's full rate holds fewer instances than the account has
    assert rate * budget < ACCOUNT_CONCURRENCY
    # and the documents callers and operators read give the same figures
    docs = {name: (cfn.ROOT / "docs" / name).read_text() for name in ("api.md", "architecture.md", "access.md")}
    assert f"throttled at {rate} requests per second, burst {burst}" in docs["api.md"]
    assert f"({rate} for the stage, {webhook['ThrottlingRateLimit']} for the webhook route)" in docs["architecture.md"]
    assert re.search(rf"one that hangs keeps up to\s+{int(rate * budget)} ", docs["architecture.md"])
    assert re.search(
        rf"\({webhook['ThrottlingRateLimit']} requests/s,\s+burst {webhook['ThrottlingBurstLimit']},.*"
        rf"callers' {rate}/s\)",
        docs["access.md"],
        re.DOTALL,
    )


def test_every_method_needs_iam_but_the_webhook_and_calls_the_live_alias(deployed):
    body = deployed["Resources"]["GatewayApi"]["Properties"]["Body"]
    assert body["components"]["securitySchemes"]["AWS_IAM"]["x-amazon-apigateway-authtype"] == "awsSigv4"
    methods = [(path, method, operation) for path, ops in body["paths"].items() for method, operation in ops.items()]
    assert len(methods) == sum(len(spec.api_events) for spec in cfn.functions().values())
    for path, method, operation in methods:
        expected = [{"NONE": []}] if (path, method) == WEBHOOK else [{"AWS_IAM": []}]
        assert operation["security"] == expected, (path, method)
        assert "Aliaslive}" in operation["x-amazon-apigateway-integration"]["uri"]["Fn::Sub"]
        # API Gateway invokes as itself: with the caller's credentials ("arn:aws:iam::*:user/*", SAM's default for
        # IAM routes), every caller would need lambda:InvokeFunction too, and one of another account could not call
        assert "credentials" not in operation["x-amazon-apigateway-integration"], (path, method)
    mappings = of_type(deployed, "AWS::Lambda::EventSourceMapping").values()
    invoked = {mapping["Properties"]["FunctionName"]["Ref"] for mapping in mappings}
    assert invoked == {"ConnectFiWebhookProcessorFunctionAliaslive", "AuditArchiveFunctionAliaslive"}


def test_api_gateway_may_invoke_each_routes_live_alias_for_that_route_alone(deployed):
    permissions = of_type(deployed, "AWS::Lambda::Permission").values()
    granted = {
        (permission["Properties"]["FunctionName"]["Ref"], permission["Properties"]["SourceArn"]["Fn::Sub"][0])
        for permission in permissions
        if permission["Properties"]["Principal"] == "apigateway.amazonaws.com"
    }
    body = deployed["Resources"]["GatewayApi"]["Properties"]["Body"]
    for path, operations in body["paths"].items():
        for method, operation in operations.items():
            uri = operation["x-amazon-apigateway-integration"]["uri"]["Fn::Sub"]
            alias = re.search(r"functions/\$\{(\w+)\}/invocations", uri).group(1)
            route = re.sub(r"\{[^}]+\}", "*", path)
            stage = "arn:aws:execute-api:${AWS::Region}:${AWS::AccountId}:${__ApiId__}/${__Stage__}"
            assert (alias, f"{stage}/{method.upper()}{route}") in granted, (path, method, sorted(granted))
    assert len(granted) == sum(len(operations) for operations in body["paths"].values())  # and nothing else


def test_api_gateways_own_refusals_answer_the_error_envelope_with_the_callers_correlation_id(deployed):
    from kyc_gateway.errors import GatewayError

    body = deployed["Resources"]["GatewayApi"]["Properties"]["Body"]
    responses = body["x-amazon-apigateway-gateway-responses"]
    codes = {
        "MISSING_AUTHENTICATION_TOKEN": "not_authenticated",
        "INVALID_SIGNATURE": "not_authenticated",
        "ACCESS_DENIED": "forbidden",
        "THROTTLED": "throttled",
        "REQUEST_TOO_LARGE": "request_too_large",
        "INTEGRATION_TIMEOUT": "gateway_timeout",
        "DEFAULT_4XX": "request_refused",
        "DEFAULT_5XX": "gateway_error",
    }
    for kind, code in codes.items():
        assert code in responses[kind]["responseTemplates"]["application/json"], kind
    # A caller not authenticated (unsigned, a signature invalid or expired) is 401; one not allowed stays 403
    for kind in ("MISSING_AUTHENTICATION_TOKEN", "INVALID_SIGNATURE", "EXPIRED_TOKEN", "UNAUTHORIZED"):
        assert responses[kind]["statusCode"] == "401", kind
    assert "statusCode" not in responses["ACCESS_DENIED"]  # API Gateway's own 403
    for kind, response in responses.items():
        echo = {"gatewayresponse.header.X-Correlation-Id": "method.request.header.X-Correlation-Id"}
        assert response["responseParameters"] == echo, kind
        template = response["responseTemplates"]["application/json"]
        rendered = template.replace("$context.error.messageString", '"Forbidden"').replace("$context.requestId", "r-1")
        code = json.loads(rendered)["error"]["code"]
        assert json.loads(rendered) == GatewayError("Forbidden", code=code).envelope("r-1"), kind


def policy_statements(template: dict, role: dict) -> list[dict]:
    """Every statement a role grants: its inline policies and the template's managed policies it attaches."""
    properties = role["Properties"]
    statements = [
        statement for policy in properties.get("Policies", []) for statement in policy["PolicyDocument"]["Statement"]
    ]
    for arn in properties.get("ManagedPolicyArns", []):
        if isinstance(arn, dict) and "Ref" in arn:
            statements += template["Resources"][arn["Ref"]]["Properties"]["PolicyDocument"]["Statement"]
        else:
            name = arn if isinstance(arn, str) else arn["Fn::Sub"].replace("${AWS::Partition}", "aws")
            assert name in AWS_MANAGED, name
    return statements


def referenced(value) -> set[str]:
    """The template resources a policy's Resource names."""
    text = json.dumps(value)
    return {name for name in cfn.resources() if f'"{name}"' in text or f"${{{name}" in text or f"${{{name}." in text}


# What a role may do to a shared table's items: each names one item's key, which dynamodb:LeadingKeys then limits
# (a Scan names none, and ForAllValues holds for an empty set of keys).
ITEM_ACTIONS = {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}


def item_level(statement: dict) -> list[str]:
    """The key prefixes a statement on a shared table allows, once it is shown to allow item actions only and no
    other condition."""
    actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
    assert set(actions) <= ITEM_ACTIONS, actions
    ((operator, keys),) = statement["Condition"].items()
    ((key, prefixes),) = keys.items()
    assert (operator, key) == ("ForAllValues:StringLike", "dynamodb:LeadingKeys")
    return prefixes


def test_each_functions_role_reaches_only_its_own_resources(deployed):
    for logical_id, spec in cfn.functions().items():
        role = deployed["Resources"][f"{logical_id}Role"]
        variables = spec.properties["Environment"]["Variables"]
        own = {value["Ref"] for value in variables.values() if isinstance(value, dict) and "Ref" in value}
        own |= referenced(spec.properties.get("Events", {}))  # the queue it consumes
        entry = provider_of(spec)
        tags = {tag["Key"]: tag["Value"] for tag in role["Properties"].get("Tags", [])}
        for statement in policy_statements(deployed, role):
            assert statement["Resource"] != "*", (logical_id, statement)
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            names = referenced(statement["Resource"]) - {"DataKey"}
            assert names <= own | {"AWS::AccountId", "AWS::Region", "AWS::Partition"}, (logical_id, names)
            if "TokenTable" in names:
                assert entry is not None, logical_id
                assert item_level(statement) == [f"{entry.name}#*"], logical_id
            if "IdempotencyTable" in names:
                assert item_level(statement) == ["${aws:PrincipalTag/kyc-gateway:idempotency}#*"], logical_id
                handler = load_handler(spec)
                prefix = "webhooks.connectfi" if not hasattr(handler, "contract") else f"keys.{handler.route}"
                assert tags["kyc-gateway:idempotency"] == prefix, logical_id
            if any(action.startswith("events:") for action in actions):
                assert "event-bus/default" in json.dumps(statement["Resource"])
                # only the event the code announces (consumers of the default bus trust its source)
                announced = {"events:source": applications.EVENT_SOURCE, "events:detail-type": applications.EVENT_TYPE}
                assert statement.get("Condition") == {"StringEquals": announced}, logical_id


def test_each_functions_role_reaches_every_resource_its_variables_name(deployed):
    # the registry's variables are written by the generator and required by the deploy check; a variable whose
    # resource no policy of the function grants would pass the check and fail the first request
    for entry in FUNCTIONS:
        role = deployed["Resources"][f"{entry.logical_id}Role"]
        granted = set().union(*(referenced(statement["Resource"]) for statement in policy_statements(deployed, role)))
        named = {held for held in entry.variables().values() if held in deployed["Resources"]}
        assert named and named <= granted, (entry.logical_id, named - granted)


def test_the_data_key_lets_only_this_stacks_log_groups_use_it(deployed):
    statements = deployed["Resources"]["DataKey"]["Properties"]["KeyPolicy"]["Statement"]
    (logs,) = [s for s in statements if s["Sid"] == "CloudWatchLogsEncryptsThisStacksLogs"]
    arns = logs["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"]
    assert arns and all("kyc-gateway-${Environment}" in arn["Fn::Sub"] for arn in arns)
    assert not any(arn["Fn::Sub"].endswith("log-group:*") for arn in arns)


def test_provider_base_urls_are_https_or_ssm_parameters(deployed):
    for name, parameter in deployed["Parameters"].items():
        if name.endswith("BaseUrl") and name != "PublicBaseUrl":
            if parameter["Type"] == "String":
                assert parameter["AllowedPattern"].startswith("^https://"), name
            else:
                assert parameter["Type"] == "AWS::SSM::Parameter::Value<String>", name


def test_the_api_gateway_account_setting_is_made_by_one_stack_only(deployed):
    account = deployed["Resources"]["ApiGatewayAccount"]
    assert account["Condition"] == "ManagesApiGatewayAccount"
    assert deployed["Resources"]["ApiGatewayLoggingRole"]["Condition"] == "ManagesApiGatewayAccount"
    assert deployed["Parameters"]["ManageApiGatewayAccount"]["Default"] == "false"


def test_every_function_deploys_through_its_alias_rolled_back_by_its_new_versions_error_and_fault_alarms(deployed):
    groups = of_type(deployed, "AWS::CodeDeploy::DeploymentGroup")
    for logical_id in cfn.functions():
        alias = deployed["Resources"][f"{logical_id}Aliaslive"]
        assert alias["Type"] == "AWS::Lambda::Alias"
        group = groups[f"{logical_id}DeploymentGroup"]["Properties"]
        # what escapes a handler, and what it answers as its own fault, of the version being deployed only
        assert group["AlarmConfiguration"]["Alarms"] == [
            {"Name": {"Ref": f"{logical_id}NewVersionErrorsAlarm"}},
            {"Name": {"Ref": f"{logical_id}NewVersionFaultsAlarm"}},
        ]
        # each named for the version the alias is moved to: a new version's alarms are new ones, without the state
        # of the last version's (an alarm updated in place keeps it: its ALARM would stop a healthy deployment)
        for kind in ("NewVersionErrors", "NewVersionFaults"):
            name = deployed["Resources"][f"{logical_id}{kind}Alarm"]["Properties"]["AlarmName"]["Fn::Sub"]
            assert name == [
                f"kyc-gateway-${{Environment}}-{logical_id}{kind}-${{Version}}",
                {"Version": alias["Properties"]["FunctionVersion"]},
            ]
            # and each watches that version's series, not another's
            dimensions = deployed["Resources"][f"{logical_id}{kind}Alarm"]["Properties"]["Dimensions"]
            watched = {item["Name"]: item["Value"] for item in dimensions}
            assert (
                watched["ExecutedVersion" if kind == "NewVersionErrors" else "Version"]
                == alias["Properties"]["FunctionVersion"]
            )
        assert group["AutoRollbackConfiguration"]["Enabled"] is True
        # Canary in prod, all at once elsewhere (the condition is resolved at deploy time)
        condition, prod, other = group["DeploymentConfigName"]["Fn::If"]
        assert condition == "IsProd"
        assert prod["Fn::Sub"][1] == {"ConfigName": "Canary10Percent10Minutes"}
        assert other["Fn::Sub"][1] == {"ConfigName": "AllAtOnce"}


def test_every_function_has_error_and_throttle_alarms_that_notify_the_topic(deployed):
    alarms = of_type(deployed, "AWS::CloudWatch::Alarm")
    for logical_id in cfn.functions():
        for kind in ("Errors", "Throttles"):
            alarm = alarms[f"{logical_id}{kind}Alarm"]["Properties"]
            assert alarm["MetricName"] == kind and alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    # every alarm notifies, but those that only stop a deployment (one fault of the new version): the operators'
    # alarms on the same failures page them
    for name, alarm in alarms.items():
        assert alarm["Properties"].get("AlarmActions") == (None if name in rollback_only(deployed) else [TOPIC]), name


TOPIC = {"Ref": "AlarmTopic"}


def rollback_only(template: dict) -> set[str]:
    """The alarms that only roll deployments back: those the deployment groups watch."""
    return {
        alarm["Name"]["Ref"]
        for group in of_type(template, "AWS::CodeDeploy::DeploymentGroup").values()
        for alarm in group["Properties"]["AlarmConfiguration"]["Alarms"]
    }


NAME_PROPERTIES = re.compile(r"^(Name|[A-Za-z]+Name)$")
NOT_ACCOUNT_WIDE = {"AttributeName", "IndexName", "MetricName", "PolicyName", "StageName", "DeploymentConfigName"}


def test_every_name_the_stack_gives_a_resource_carries_its_environment(deployed):
    # Given dev and prod in one account, no account-wide name may be the same in both stacks
    resources = deployed["Resources"]
    for logical_id, resource in resources.items():
        if resource["Type"] == "AWS::Lambda::Alias":  # an alias name is per function
            continue
        if resource["Type"] == "AWS::ApiGateway::DomainName":  # the operator's own domain, one per stack by parameter
            continue
        for key, value in (resource.get("Properties") or {}).items():
            if not NAME_PROPERTIES.match(key) or key in NOT_ACCOUNT_WIDE:
                continue
            if isinstance(value, dict) and (value.get("Ref") in resources or "Fn::GetAtt" in value):
                continue  # another resource's name
            written = json.dumps(value)
            carries = ("${Environment}", '"Ref": "Environment"', f"kyc-gateway-{deployed['environment']}")
            assert any(part in written for part in carries), (logical_id, key, value)


def test_every_metric_the_gateway_counts_has_an_alarm_in_its_environments_namespace(deployed):
    # Given every count(...) the layer makes (its failure signals)
    layer = cfn.ROOT / "layers" / "gateway" / "kyc_gateway"
    counted = {name for path in layer.rglob("*.py") for name in re.findall(r'\bcount\("([A-Za-z]+)"', path.read_text())}
    counted -= {"Requests"}  # every request's count, by route and code: the dashboard's, not a failure signal
    assert {"ProviderFailures", "TokenFailures", "RecordFailures", "WebhooksNotQueued", "GatewayFaults"} <= counted
    # Then each is watched by an alarm on the environment's own namespace
    alarmed = {
        alarm["Properties"].get("MetricName")
        for alarm in of_type(deployed, "AWS::CloudWatch::Alarm").values()
        if alarm["Properties"].get("Namespace") == {"Fn::Sub": "KycGateway/${Environment}"}
    }
    assert counted <= alarmed, counted - alarmed


def test_the_reconciliation_schedule_calls_the_live_alias_once_per_run_without_retries(deployed):
    (schedule,) = of_type(deployed, "AWS::Scheduler::Schedule").values()
    assert schedule["Properties"]["Target"]["Arn"] == {"Ref": "ConnectFiReconcilerFunctionAliaslive"}
    assert schedule["Properties"]["Target"]["RetryPolicy"]["MaximumRetryAttempts"] == 0
    # The scheduler's invocation is asynchronous: Lambda would retry a failed run twice unless told not to
    (invoke_config,) = of_type(deployed, "AWS::Lambda::EventInvokeConfig").values()
    assert invoke_config["Properties"]["FunctionName"] == {"Ref": "ConnectFiReconcilerFunction"}
    assert (invoke_config["Properties"]["Qualifier"], invoke_config["Properties"]["MaximumRetryAttempts"]) == (
        "live",
        0,
    )


def test_every_provider_has_provider_and_token_failure_alarms_on_its_own_dimension(deployed):
    from kyc_gateway.registry import PROVIDERS

    watched = {
        (alarm["Properties"]["MetricName"], dimension["Value"])
        for alarm in of_type(deployed, "AWS::CloudWatch::Alarm").values()
        for dimension in alarm["Properties"].get("Dimensions", [])
        if dimension["Name"] == "Provider"
    }
    for entry in PROVIDERS:
        assert {("ProviderFailures", entry.name), ("TokenFailures", entry.name)} <= watched, entry.name


def test_a_scheduled_function_alarms_on_a_single_failed_run(deployed):
    # Given functions that run once per schedule period (so never in 2 of 3 consecutive minutes)
    alarms = of_type(deployed, "AWS::CloudWatch::Alarm")
    scheduled = [
        logical_id
        for logical_id, spec in cfn.functions().items()
        if any(event["Type"] in ("Schedule", "ScheduleV2") for event in (spec.properties.get("Events") or {}).values())
    ]
    assert scheduled
    for logical_id in scheduled:
        alarm = alarms[f"{logical_id}ErrorsAlarm"]["Properties"]
        assert alarm["EvaluationPeriods"] == alarm.get("DatapointsToAlarm", 1) == 1, logical_id
