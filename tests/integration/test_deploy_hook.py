"""Drill of the deploy check's hook: how CodeDeploy's pre-traffic hook is wired in the deployed template, reads its
deployment, waits out refusals and throttling, reports its status and logs what stopped a version. The version
checks themselves are test_deploy_check.py's; both run the hook as shipped (tests/support/deploy_drill.py)."""

from __future__ import annotations

import json
import re

import boto3
import pytest

from kyc_gateway.registry import FUNCTIONS
from project import template as cfn
from tests.integration.test_deployed_template import transformed
from tests.support.deploy_drill import (
    DEPLOYMENT_ID,
    HOOK,
    TARGET_VERSION,
    CodeDeploy,
    Lambda,
    appspec,
    deployment_of,
    environments_as_deployed,
    function_name,
    hook_lines,
    resolved,
    run_hook,
    versions,
    waits_taken_at_once,
)


@pytest.fixture
def environments(physical_ids) -> dict[str, dict[str, str]]:
    return environments_as_deployed(physical_ids)


@pytest.fixture
def waits(monkeypatch) -> list[float]:
    return waits_taken_at_once(monkeypatch)


@pytest.fixture(scope="module")
def deployed() -> dict:
    return transformed("dev")


# The wiring, as deployed


def test_every_functions_deployment_runs_the_hook_before_any_traffic_and_codedeploy_may_invoke_it(deployed):
    resources = deployed["Resources"]
    hook = resources[HOOK]
    assert hook["Type"] == "AWS::Lambda::Function"
    for entry in FUNCTIONS:
        alias = resources[f"{entry.logical_id}Aliaslive"]
        update = alias["UpdatePolicy"]["CodeDeployLambdaAliasUpdate"]
        assert update["BeforeAllowTrafficHook"] == {"Ref": HOOK}, entry.logical_id
    for environment in ("dev", "prod"):
        name = resolved(hook["Properties"]["FunctionName"], environment)
        assert name.startswith("CodeDeployHook_") and len(name) <= 64


def test_the_hook_may_invoke_the_gateways_published_versions_and_answer_its_deployments_only(deployed):
    resources = deployed["Resources"]
    role = resources[resources[HOOK]["Properties"]["Role"]["Fn::GetAtt"][0]]["Properties"]
    statements = [statement for policy in role["Policies"] for statement in policy["PolicyDocument"]["Statement"]]
    by_action = {json.dumps(statement["Action"]): statement for statement in statements}
    invoke_statement = by_action['"lambda:InvokeFunction"']
    assert sorted(item["Fn::Sub"] for item in invoke_statement["Resource"]) == sorted(
        f"${{{entry.logical_id}.Arn}}:*" for entry in FUNCTIONS
    )
    deployments = by_action['["codedeploy:GetDeployment", "codedeploy:PutLifecycleEventHookExecutionStatus"]']
    assert deployments["Resource"]["Fn::Sub"].endswith(":deploymentgroup:${ServerlessDeploymentApplication}/*")
    revisions = by_action['"codedeploy:GetApplicationRevision"']
    assert revisions["Resource"]["Fn::Sub"].endswith(":application:${ServerlessDeploymentApplication}")
    assert all(statement["Effect"] == "Allow" for statement in statements)
    # and those are exactly the AWS operations the hook's code calls
    granted = {
        a
        for statement in statements
        for a in (statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]])
    }
    assert granted == operations_the_hook_calls()


def operations_the_hook_calls() -> set[str]:
    """`service:Operation` for each client call in kyc_gateway/deploy_hook.py (`codedeploy.get_deployment(`)."""
    from botocore import xform_name
    from botocore.session import get_session

    source = (cfn.ROOT / "layers" / "gateway" / "kyc_gateway" / "deploy_hook.py").read_text()
    clients = {"codedeploy": "codedeploy", "lambda_client": "lambda"}
    found = set()
    for variable, service in clients.items():
        names = {xform_name(name): name for name in get_session().get_service_model(service).operation_names}
        for method in re.findall(rf"\b{variable}\.(\w+)\(", source):
            found.add(IAM_ACTION.get(f"{service}:{names[method]}", f"{service}:{names[method]}"))
    return found


IAM_ACTION = {"lambda:Invoke": "lambda:InvokeFunction"}  # where IAM names an operation otherwise than its API


def test_the_hook_outlasts_the_longest_check_it_waits_for(deployed):
    from kyc_gateway.deploy_hook import INVOKE_READ_TIMEOUT_SECONDS, PATIENT_DELAYS_SECONDS

    functions = [
        resource["Properties"]
        for name, resource in deployed["Resources"].items()
        if resource["Type"] == "AWS::Lambda::Function" and name != HOOK
    ]
    longest = max(function["Timeout"] for function in functions)
    assert longest < INVOKE_READ_TIMEOUT_SECONDS
    patience = 4 * sum(PATIENT_DELAYS_SECONDS)  # its four calls each refused or throttled to the last try
    waits = INVOKE_READ_TIMEOUT_SECONDS + patience
    assert waits < deployed["Resources"][HOOK]["Properties"]["Timeout"] <= 900


@pytest.mark.parametrize(
    "revision",
    [
        {"revisionType": "AppSpecContent", "appSpecContent": {"content": "not json"}},
        {"revisionType": "S3", "s3Location": {"bucket": "b", "key": "k"}},  # and no application revision kept
        {"revisionType": "AppSpecContent", "appSpecContent": {"content": appspec("some-function", "$LATEST")}},
        {"revisionType": "AppSpecContent", "appSpecContent": {"content": json.dumps({"Resources": []})}},
        None,  # GetDeployment refused
    ],
    ids=["not-json", "s3-revision", "latest-target", "no-resource", "get-deployment-refused"],
)
def test_a_deployment_the_hook_cannot_read_fails_without_invoking_anything(revision, environments, monkeypatch, waits):
    codedeploy, lambda_ = CodeDeploy(revision), Lambda(versions(), environments, monkeypatch)

    assert run_hook(codedeploy, lambda_) == "Failed"
    assert lambda_.invoked == []
    assert [report["status"] for report in codedeploy.reported] == ["Failed"]


@pytest.mark.parametrize("kind", ["AppSpecContent", "String"])
def test_an_appspec_that_get_deployment_gives_whole_is_read_from_it(kind, gateway, environments, monkeypatch):
    # Given a deployment whose GetDeployment carries the AppSpec's content (a deployment created with it inline)
    field = {"AppSpecContent": "appSpecContent", "String": "string"}[kind]
    content = appspec(function_name("CladfyKraPinFunction"))
    codedeploy = CodeDeploy({"revisionType": kind, field: {"content": content, "sha256": "0" * 64}})
    lambda_ = Lambda(versions(), environments, monkeypatch)

    # Then the hook reads it there (the application's revisions are not asked: none is kept here)
    assert run_hook(codedeploy, lambda_) == "Succeeded"


def test_a_target_version_written_as_a_number_is_the_same_version(gateway, environments, monkeypatch):
    properties = {"Name": function_name("CladfyKraPinFunction"), "Alias": "live", "TargetVersion": 7}
    content = json.dumps({"version": 0.0, "Resources": [{"CladfyKraPinFunction": {"Properties": properties}}]})
    codedeploy = CodeDeploy(
        {"revisionType": "String"}, stored={"revisionType": "String", "string": {"content": content}}
    )
    lambda_ = Lambda(versions(), environments, monkeypatch)

    assert run_hook(codedeploy, lambda_) == "Succeeded"
    assert [qualifier for _, qualifier, _ in lambda_.invoked] == ["7"]


@pytest.mark.parametrize(
    "refused_with",
    [("AccessDeniedException", 403), ("TooManyRequestsException", 429)],
    ids=["role-still-spreading", "reserved-concurrency-in-use"],
)
def test_an_invoke_refused_or_throttled_for_a_while_is_tried_again(
    refused_with, gateway, environments, monkeypatch, waits
):
    # Given Lambda refuses the first two invokes: IAM has not yet applied the hook's new role (the deploy that made
    # it runs the hook at once), or the function's reserved concurrency is in use
    from kyc_gateway.deploy_hook import PATIENT_DELAYS_SECONDS

    codedeploy, lambda_ = deployment_of("CladfyKraPinFunction"), Lambda(versions(), environments, monkeypatch)
    lambda_.refusals, lambda_.refused_with = 2, refused_with

    # When CodeDeploy runs the hook, then it waits, tries again, and the healthy version passes
    assert run_hook(codedeploy, lambda_) == "Succeeded"
    assert waits == list(PATIENT_DELAYS_SECONDS[:2])


def test_codedeploy_throttling_the_hook_for_a_while_is_waited_out(gateway, environments, monkeypatch, waits):
    # Given CodeDeploy throttles the hook's first two calls (a stack update runs one hook per function at once)
    from kyc_gateway.deploy_hook import PATIENT_DELAYS_SECONDS

    codedeploy, lambda_ = deployment_of("CladfyKraPinFunction"), Lambda(versions(), environments, monkeypatch)
    codedeploy.throttles = 2

    # When CodeDeploy runs the hook, then it waits, tries again, and the healthy version passes
    assert run_hook(codedeploy, lambda_) == "Succeeded"
    assert waits == list(PATIENT_DELAYS_SECONDS[:2])
    assert [report["status"] for report in codedeploy.reported] == ["Succeeded"]


def test_an_invoke_refused_for_good_fails_the_deployment_after_the_last_try(gateway, environments, monkeypatch, waits):
    from kyc_gateway.deploy_hook import PATIENT_DELAYS_SECONDS

    codedeploy, lambda_ = deployment_of("CladfyKraPinFunction"), Lambda(versions(), environments, monkeypatch)
    lambda_.refusals = len(PATIENT_DELAYS_SECONDS) + 1

    assert run_hook(codedeploy, lambda_) == "Failed"
    assert waits == list(PATIENT_DELAYS_SECONDS) and lambda_.invoked == []
    assert [report["status"] for report in codedeploy.reported] == ["Failed"]


def test_a_second_delivery_of_a_reported_hook_event_ends_quietly(gateway, environments, monkeypatch):
    # Given CodeDeploy already has this hook execution's status (Lambda delivered the event twice)
    made = deployment_of("CladfyKraPinFunction")
    codedeploy = CodeDeploy(made.revision, stored=made.stored, reported_before=True)
    lambda_ = Lambda(versions(), environments, monkeypatch)

    # When the hook runs again, then it does not fail its invocation
    assert run_hook(codedeploy, lambda_) == "Succeeded"
    assert codedeploy.reported == []


def test_when_the_status_cannot_be_reported_the_hooks_invocation_fails(gateway, environments, monkeypatch, waits):
    from botocore.exceptions import ClientError

    from kyc_gateway.deploy_hook import PATIENT_DELAYS_SECONDS

    made = deployment_of("CladfyKraPinFunction")
    codedeploy = CodeDeploy(made.revision, stored=made.stored, refuses_status=True)
    lambda_ = Lambda(versions(), environments, monkeypatch)

    with pytest.raises(ClientError):
        run_hook(codedeploy, lambda_)
    assert waits == list(PATIENT_DELAYS_SECONDS)  # refused for want of a permission: tried to the last


def test_the_hooks_clients_wait_for_the_check_and_leave_retrying_to_it():
    from kyc_gateway import deploy_hook

    session = boto3.session.Session(aws_access_key_id="drill", aws_secret_access_key="drill", region_name="us-east-1")
    for client in deploy_hook.clients(session):
        assert client.meta.config.read_timeout == deploy_hook.INVOKE_READ_TIMEOUT_SECONDS
        assert client.meta.config.retries["total_max_attempts"] == 1  # `patiently` tries again, within the timeout


def test_the_hooks_log_says_which_version_failed_and_why(gateway, environments, monkeypatch, capsys):
    # Given a version whose configuration is invalid
    environments["CladfyKraPinFunction"]["PROVIDER_READ_TIMEOUT_SECONDS"] = "90"
    codedeploy, lambda_ = deployment_of("CladfyKraPinFunction"), Lambda(versions(), environments, monkeypatch)
    capsys.readouterr()

    run_hook(codedeploy, lambda_)

    (line,) = hook_lines(capsys.readouterr().out, "deploy check")
    assert (line["deployment"], line["function"], line["version"]) == (
        DEPLOYMENT_ID,
        function_name("CladfyKraPinFunction"),
        TARGET_VERSION,
    )
    assert (line["level"], line["status"], line["function_error"]) == ("ERROR", "Failed", "Unhandled")
    assert line["error"] == "ConfigurationError"


def test_the_hooks_log_names_what_stopped_it_and_a_second_delivery(environments, monkeypatch, capsys, waits):
    codedeploy = CodeDeploy(None, reported_before=True)  # GetDeployment refused; the status already reported
    capsys.readouterr()

    run_hook(codedeploy, Lambda(versions(), environments, monkeypatch))

    written = capsys.readouterr().out
    (line,) = hook_lines(written, "deploy check not run")
    assert (line["deployment"], line["error"], line["code"]) == (DEPLOYMENT_ID, "ClientError", "AccessDeniedException")
    (reported,) = hook_lines(written, "deploy check already reported")
    assert reported["deployment"] == DEPLOYMENT_ID


@pytest.mark.parametrize(
    ("properties", "expected"),
    [
        ({"Name": "kyc-gateway-dev-F", "TargetVersion": "12"}, ("kyc-gateway-dev-F", "12")),
        ({"Name": "kyc-gateway-dev-F", "TargetVersion": 12}, ("kyc-gateway-dev-F", "12")),
        ({"Name": "kyc-gateway-dev-F", "TargetVersion": True}, "not a published version"),
        ({"Name": "kyc-gateway-dev-F", "TargetVersion": "$LATEST"}, "not a published version"),
        ({"Name": "kyc-gateway-dev-F", "TargetVersion": "1.5"}, "not a published version"),
        ({"Name": "kyc-gateway-dev-F", "TargetVersion": ""}, "not a published version"),
        ({"Name": "", "TargetVersion": "12"}, "not a published version"),
        ({"Name": 12, "TargetVersion": "12"}, "not a published version"),
        ({"Name": "kyc-gateway-dev-F"}, "no single function version"),
        ({"TargetVersion": "12"}, "no single function version"),
    ],
)
def test_the_version_checked_is_the_one_published_version_the_appspec_shifts_to(properties, expected):
    from kyc_gateway.deploy_hook import UnreadableDeployment, target

    content = json.dumps(
        {"version": 0.0, "Resources": [{"F": {"Type": "AWS::Lambda::Function", "Properties": properties}}]}
    )
    if isinstance(expected, tuple):
        assert target(content) == expected
    else:
        with pytest.raises(UnreadableDeployment, match=rf"^the AppSpec('s target is| names) {expected}$"):
            target(content)


@pytest.mark.parametrize(
    "content",
    [
        None,
        "",
        "not json",
        "[]",
        json.dumps({"Resources": {"F": {}}}),
        json.dumps({"Resources": [{"F": {"Properties": {}}}, {"G": {"Properties": {}}}]}),
        json.dumps({"Resources": [{"F": {"Properties": {"Name": "f", "TargetVersion": "1"}}, "G": {}}]}),
        json.dumps({"Resources": [{"F": {"Type": "AWS::Lambda::Function"}}]}),
        json.dumps({"Resources": [{"F": "text"}]}),
    ],
    ids=[
        "none",
        "empty",
        "not-json",
        "list",
        "resources-not-list",
        "two-resources",
        "two-names",
        "no-properties",
        "text",
    ],
)
def test_an_appspec_naming_no_single_function_version_is_unreadable(content):
    from kyc_gateway.deploy_hook import UnreadableDeployment, target

    with pytest.raises(UnreadableDeployment, match=r"^the AppSpec names no single function version$"):
        target(content)


def test_the_hooks_log_names_an_unreadable_deployment(environments, monkeypatch, capsys):
    codedeploy = CodeDeploy({"revisionType": "AppSpecContent", "appSpecContent": {"content": "not json"}})
    capsys.readouterr()

    assert run_hook(codedeploy, Lambda(versions(), environments, monkeypatch)) == "Failed"
    (line,) = hook_lines(capsys.readouterr().out, "deploy check not run")
    assert (line["level"], line["deployment"], line["error"], line.get("code")) == (
        "ERROR",
        DEPLOYMENT_ID,
        "UnreadableDeployment",
        None,
    )
