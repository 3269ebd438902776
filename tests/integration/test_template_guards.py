"""Guards of the deployed template that no drill makes fail by itself, read from the CloudFormation AWS deploys: who
a caller list may name, how many webhooks one invocation takes, the audit archive bucket kept private, log lines kept
for the retention asked, every allowed action named, a day between the queue age alarm and a webhook expiring, only
this account's alarms on the alarm topic, the webhook's web ACL blocking, callbacks over https only, the deploy hook
invoking only what it checks, the webhook backlog leaving the account's concurrency to callers, and a webhook token the
route takes and a URL path carries."""

from __future__ import annotations

import fnmatch
import re

import pytest

from tests.integration import test_deployed_template
from tests.integration.test_codedeploy_role import listed
from tests.integration.test_deployed_template import of_type, policy_statements
from tests.integration.test_template_safety_nets import actions_of

deployed = test_deployed_template.deployed  # the template as deployed, for dev and for prod (a fixture)

# SQS's ChangeMessageVisibilityBatch takes at most this many entries: the webhook processor hands back the records
# a batch has no time for in one such call (kyc_gateway.providers.connectfi.webhooks.hand_back)
ONE_HAND_BACK_CALL = 10


@pytest.mark.parametrize(
    "principal",
    [
        "*",
        "arn:aws:iam::*:root",
        "arn:aws:iam::123456789012:role/*",
        "arn:aws:iam::123456789012:*",
        "arn:aws:iam::123456789012:root",  # an account's root principal: name the account id instead
        "12345678901*",
        "arn:aws:sts::123456789012:assumed-role/caller/session",  # a session, not a role
        "123456789012\n",
    ],
)
def test_a_caller_list_naming_everyone_or_a_wildcard_is_refused_before_the_resource_policy_admits_it(
    deployed, principal
):
    # Given the CallerPrincipals parameter as deployed: each of its members becomes a principal the API's resource
    # policy admits, and "*" there would admit every AWS identity to every signed route, the audit search included
    pattern = deployed["Parameters"]["CallerPrincipals"]["AllowedPattern"]

    # Then CloudFormation refuses such a member before anything is deployed
    assert not re.fullmatch(pattern.removeprefix("^").removesuffix("$"), principal)


@pytest.mark.parametrize(
    "principal", ["", "123456789012", "arn:aws:iam::123456789012:role/onboarding", "arn:aws:iam::123456789012:user/ci"]
)
def test_a_caller_list_of_accounts_roles_or_users_is_taken(deployed, principal):
    pattern = deployed["Parameters"]["CallerPrincipals"]["AllowedPattern"]

    assert re.fullmatch(pattern.removeprefix("^").removesuffix("$"), principal)


def webhook_queue_mapping(template: dict) -> dict:
    """The properties of the webhook processor's event source mapping on the webhook queue."""
    (mapping,) = [
        resource["Properties"]
        for resource in of_type(template, "AWS::Lambda::EventSourceMapping").values()
        if resource["Properties"]["EventSourceArn"] == {"Fn::GetAtt": ["WebhookQueue", "Arn"]}
    ]
    return mapping


def test_a_webhook_batch_is_never_more_than_one_hand_back_call_takes(deployed):
    # Given the webhook processor's event source mapping on the webhook queue
    mapping = webhook_queue_mapping(deployed)

    # Then a batch fits the one call that hands back its untried records (more would spend receives on records
    # never tried, dead-lettering them), and its failures are reported record by record
    assert 1 <= mapping["BatchSize"] <= ONE_HAND_BACK_CALL
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_every_bucket_is_kept_private_and_refuses_acls(deployed):
    # Given every bucket of the deployed template (the audit archive), found by type
    buckets = of_type(deployed, "AWS::S3::Bucket")
    assert buckets

    # Then none can be made public, by ACL or policy, and ACLs are off: the bucket owner owns every object
    for name, bucket in buckets.items():
        properties = bucket["Properties"]
        assert properties["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }, name
        assert properties["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}, name


def test_every_log_group_keeps_its_lines_for_the_operators_retention(deployed):
    # Given every log group of the deployed template (one per function, the API's access log), found by type
    groups = of_type(deployed, "AWS::Logs::LogGroup")

    # Then each keeps its lines as long as LogRetentionDays says: never forever, never a day a hand-edit chose
    assert groups and {name: g["Properties"]["RetentionInDays"] for name, g in groups.items()} == {
        name: {"Ref": "LogRetentionDays"} for name in groups
    }


def allowed_actions(template: dict) -> list[tuple[str, str]]:
    """(resource, action) of every Allow statement of the template's roles and policies."""
    found = []
    for name, resource in template["Resources"].items():
        if resource["Type"] not in ("AWS::IAM::Role", "AWS::IAM::ManagedPolicy", "AWS::IAM::Policy"):
            continue
        properties = resource["Properties"]
        documents = [policy["PolicyDocument"] for policy in properties.get("Policies", [])]
        documents += [properties["PolicyDocument"]] if "PolicyDocument" in properties else []
        for statement in (statement for document in documents for statement in document["Statement"]):
            if statement.get("Effect") == "Allow":
                found += [(name, action) for action in actions_of(statement)]
    return found


def test_no_role_or_policy_of_the_stack_allows_every_action_of_a_service(deployed):
    # Given every action the stack's own roles and policies allow
    actions = allowed_actions(deployed)
    assert actions

    # Then each is named: no "*" and no "service:*" (the public webhook receiver with sqs:*, say, could purge the
    # queue; least privilege is per action)
    assert [(name, action) for name, action in actions if action == "*" or action.endswith(":*")] == []


def test_the_webhook_queue_keeps_a_message_a_day_past_the_alarm_on_its_age(deployed):
    # Given the webhook queue, and the alarm on the age of its oldest message
    queue = deployed["Resources"]["WebhookQueue"]["Properties"]
    (alarm,) = [
        resource["Properties"]
        for resource in of_type(deployed, "AWS::CloudWatch::Alarm").values()
        if resource["Properties"].get("MetricName") == "ApproximateAgeOfOldestMessage"
        and resource["Properties"]["Dimensions"][0]["Value"] == {"Fn::GetAtt": ["WebhookQueue", "QueueName"]}
    ]

    # Then after the page, the operator has a day at least before a webhook expires unprocessed (SQS drops a message
    # past its retention without dead-lettering it)
    assert int(queue["MessageRetentionPeriod"]) >= alarm["Threshold"] + alarm["Period"] + 24 * 3600


def service_statements(template: dict, service: str) -> list[tuple[str, dict]]:
    """(resource, statement) of every key policy and topic policy statement granting `service`."""
    found = []
    for name, resource in template["Resources"].items():
        if resource["Type"] not in ("AWS::KMS::Key", "AWS::SNS::TopicPolicy"):
            continue
        document = resource["Properties"].get("KeyPolicy") or resource["Properties"]["PolicyDocument"]
        found += [
            (name, statement)
            for statement in document["Statement"]
            if isinstance(statement.get("Principal"), dict) and statement["Principal"].get("Service") == service
        ]
    return found


def test_only_this_accounts_alarms_may_publish_to_the_alarm_topic_and_use_its_key(deployed):
    # Given the statements that let CloudWatch publish alarms to the encrypted alarm topic (its policy, the key's)
    statements = service_statements(deployed, "cloudwatch.amazonaws.com")
    assert {name for name, _ in statements} == {"DataKey", "AlarmTopicPolicy"}

    # Then each holds for this account's alarms alone: another account's could otherwise page this team
    for name, statement in statements:
        assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}, name


def test_the_webhook_web_acl_blocks_known_bad_inputs_not_only_counts_them():
    # Given the web ACL in front of the webhook route (made with a rate limit per source address)
    template = test_deployed_template.transformed("prod", WebhookRateLimitPerIp="100")
    rules = {rule["Name"]: rule for rule in template["Resources"]["WebhookWebAcl"]["Properties"]["Rules"]}

    # Then AWS's known-bad-inputs rules act as they say (block), and the rate limit blocks with a 429
    managed = rules["webhook-known-bad-inputs"]
    assert managed["OverrideAction"] == {"None": {}}
    assert managed["Statement"]["ManagedRuleGroupStatement"]["Name"] == "AWSManagedRulesKnownBadInputsRuleSet"
    assert rules["webhook-requests-per-source"]["Action"]["Block"]["CustomResponse"]["ResponseCode"] == 429


@pytest.mark.parametrize(
    ("url", "taken"),
    [
        ("", True),  # the API's own execute-api URL
        ("https://kyc.example.com", True),
        ("https://hooks.example.org/kyc", True),
        ("http://kyc.example.com", False),  # connectFi's callbacks carry customer data: never plain http
        ("https://kyc.example.com/", False),  # the gateway appends its paths: "//connectfi/..." is another route
        ("https://kyc.example.com/a b", False),
        ("https://", False),
    ],
)
def test_a_public_base_url_is_https_without_a_trailing_slash_before_anything_is_deployed(deployed, url, taken):
    # Given the PublicBaseUrl parameter as deployed, which connectFi's callback URLs start with
    pattern = deployed["Parameters"]["PublicBaseUrl"]["AllowedPattern"]

    # Then CloudFormation takes only what the gateway can send customer data to
    assert bool(re.fullmatch(pattern.removeprefix("^").removesuffix("$"), url)) is taken


def test_the_deploy_hook_may_invoke_the_published_versions_of_the_functions_it_checks_and_nothing_else(deployed):
    # Given the functions whose live alias CodeDeploy moves (so whose new version the deploy check hook invokes)
    checked = {
        resource["Properties"]["FunctionName"]["Ref"]
        for resource in of_type(deployed, "AWS::Lambda::Alias").values()
        if "CodeDeployLambdaAliasUpdate" in resource.get("UpdatePolicy", {})
    }
    assert len(checked) >= 10

    # When every statement the hook's role grants (inline and the template's managed policies) is read for what
    # may invoke a function: any action pattern that matches lambda:InvokeFunction (lambda:Invoke*, lambda:*...)
    statements = policy_statements(deployed, deployed["Resources"]["DeployCheckHookRole"])
    assert all("NotAction" not in statement and "NotResource" not in statement for statement in statements)
    invoking = [
        statement
        for statement in statements
        if statement["Effect"] == "Allow"
        and any(fnmatch.fnmatchcase("lambda:InvokeFunction", action) for action in actions_of(statement))
    ]
    invoked = [resource for statement in invoking for resource in listed(statement["Resource"])]

    # Then it is exactly the published versions of those functions: no other function of the account (a hook
    # holding invoke on "*" could run any of them with a forged event), and never their unpublished $LATEST
    assert sorted(invoked, key=str) == sorted(({"Fn::Sub": f"${{{name}.Arn}}:*"} for name in checked), key=str)


def test_the_webhook_processors_default_concurrency_leaves_the_account_to_the_callers(deployed):
    from kyc_gateway.settings import Settings

    # Given the webhook queue's event source (its most instances at once, a parameter) and the stage's throttle
    mapping = webhook_queue_mapping(deployed)
    parameter = deployed["Parameters"][mapping["ScalingConfig"]["MaximumConcurrency"]["Ref"]]
    (stage,) = of_type(deployed, "AWS::ApiGateway::Stage").values()
    (stage_limit,) = [s for s in stage["Properties"]["MethodSettings"] if s["ResourcePath"] == "/*"]
    budget = Settings.model_fields["provider_budget_seconds"].default

    # Then when connectFi hangs, a backlog of webhooks holds at most that many instances by default: with the
    # callers' routes hanging at the stage's full rate too, both fit the account's concurrency (a queue drained at
    # Lambda's own scale would take the instances callers need)
    held_by_callers = stage_limit["ThrottlingRateLimit"] * budget
    assert held_by_callers + parameter["Default"] < test_deployed_template.ACCOUNT_CONCURRENCY
    assert parameter["Default"] <= 10 * mapping["BatchSize"]  # a hundred webhooks in flight at once, at most


def test_the_webhook_token_is_long_enough_for_the_route_and_safe_in_a_url_path(deployed):
    from kyc_gateway.providers.connectfi.common import WEBHOOK_TOKEN_MIN_LENGTH

    # Given the webhook secret as Secrets Manager generates it at the stack's creation
    generated = deployed["Resources"]["ConnectFiWebhookSecret"]["Properties"]["GenerateSecretString"]

    # Then the token is one the route takes (shorter ones are refused without reading the secret, so every delivery
    # would get 401), and letters and digits only: "/", "?", "#" or "%" in it would send connectFi's callbacks to
    # another path, or cut the token short
    assert generated["GenerateStringKey"] == "token"
    assert generated["PasswordLength"] >= WEBHOOK_TOKEN_MIN_LENGTH
    assert generated.get("ExcludePunctuation") is True and not generated.get("IncludeSpace", False)
