"""Drill of the deploy check: CodeDeploy's pre-traffic hook must stop a deployment whose new version cannot serve,
before any traffic reaches it, whatever the route's traffic.

The wiring is read from the transformed (deployed) template: the hook each function's alias update runs, its name
(which CodeDeploy's role must be allowed to invoke), its role. The hook itself runs as shipped
(kyc_gateway/deploy_hook.py, through functions/codedeploy_hook/app.py's handler) with real botocore clients of
CodeDeploy and Lambda whose requests are answered in-process: CodeDeploy's by a deployment whose AppSpec is written
as CloudFormation writes it, Lambda's Invoke by running the version's handler from the template, with its own
environment only, as Lambda would.
"""

from __future__ import annotations

import io
import json
import re
import sys
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import parse_qs, unquote, urlsplit

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from moto.core.models import botocore_stubber

from kyc_gateway.registry import BY_LOGICAL_ID, FUNCTIONS, PROVIDERS
from local.functions import LambdaContext, cold_start, invoke, load_handler
from project import template as cfn
from tests.integration.test_deployed_template import transformed
from tests.support import emf

HOOK = "DeployCheckHookFunction"
DEPLOYMENT_ID = "d-DRILL0001"
HOOK_EXECUTION_ID = "hook-execution-0001"
APPLICATION = "kyc-gateway-dev-ServerlessDeploymentApplication-AbCdEf123456"
TARGET_VERSION = "7"
LAMBDAS_SESSION = boto3.session.Session


@pytest.fixture(scope="module")
def deployed() -> dict:
    return transformed("dev")


def resolved(value: Any, environment: str) -> Any:
    return cfn.resolve(value, cfn.parameter_values({"Environment": environment}))


class _Body(io.BytesIO):
    def stream(self, **_: Any) -> Any:
        yield self.getvalue()


def answering(answer) -> Any:
    """A botocore before-send handler answering each request in-process: `answer(request)` -> (status, headers,
    body)."""

    def send(request: Any, **_: Any) -> AWSResponse:
        status, headers, body = answer(request)
        return AWSResponse(request.url, status, headers, _Body(body))

    return send


def appspec(name: str, target: str = TARGET_VERSION) -> str:
    """A Lambda deployment's AppSpec as CloudFormation writes it for an alias update."""
    properties = {"Name": name, "Alias": "live", "CurrentVersion": "6", "TargetVersion": target}
    return json.dumps(
        {"version": 0.0, "Resources": [{name: {"Type": "AWS::Lambda::Function", "Properties": properties}}]}
    )


class CodeDeploy:
    """CodeDeploy's side of one deployment: its revision as GetDeployment gives it, the revision its application
    keeps (GetApplicationRevision), and the status the hook reported."""

    def __init__(
        self,
        revision: dict[str, Any] | None = None,
        *,
        stored: dict[str, Any] | None = None,
        refuses_status: bool = False,
        reported_before: bool = False,
    ) -> None:
        self.revision, self.stored = revision, stored
        self.refuses_status, self.reported_before = refuses_status, reported_before
        self.reported: list[dict[str, Any]] = []
        self.throttles = 0  # how many requests to throttle first, as CodeDeploy does under a stack's many hooks

    def answer(self, request: Any) -> tuple[int, dict[str, str], bytes]:
        operation = request.headers["X-Amz-Target"].decode().split(".")[-1]
        sent = json.loads(request.body)
        if self.throttles:
            self.throttles -= 1
            return refusal("ThrottlingException")
        if operation == "GetDeployment" and self.revision is not None:
            assert sent == {"deploymentId": DEPLOYMENT_ID}
            info = {
                "applicationName": APPLICATION,
                "deploymentId": DEPLOYMENT_ID,
                "computePlatform": "Lambda",
                "revision": self.revision,
            }
            return 200, {}, json.dumps({"deploymentInfo": info}).encode()
        if operation == "GetApplicationRevision" and self.stored is not None:
            assert sent == {"applicationName": APPLICATION, "revision": self.revision}
            return 200, {}, json.dumps({"applicationName": APPLICATION, "revision": self.stored}).encode()
        if operation == "PutLifecycleEventHookExecutionStatus" and self.reported_before:
            return refusal("LifecycleEventAlreadyCompletedException")
        if operation == "PutLifecycleEventHookExecutionStatus" and not self.refuses_status:
            self.reported.append(sent)
            return 200, {}, json.dumps({"lifecycleEventHookExecutionId": HOOK_EXECUTION_ID}).encode()
        if operation == "GetApplicationRevision":
            return refusal("ApplicationRevisionDoesNotExistException")
        return refusal("AccessDeniedException")


def refusal(code: str) -> tuple[int, dict[str, str], bytes]:
    return 400, {"x-amzn-ErrorType": code}, json.dumps({"__type": code, "message": code}).encode()


class Lambda:
    """Lambda's Invoke of a published version: runs the version's handler in-process with its own environment."""

    def __init__(self, versions: dict[str, cfn.FunctionSpec], environments: dict[str, dict[str, str]], monkeypatch):
        self.versions, self.environments, self.monkeypatch = versions, environments, monkeypatch
        self.invoked: list[tuple[str, str, Any]] = []
        self.failures: list[dict[str, str]] = []  # what each invoke that failed answered: its error's type, message
        self.refusals = 0  # how many invokes to refuse first, as IAM does while a new grant spreads
        self.refused_with = ("AccessDeniedException", 403)

    def answer(self, request: Any) -> tuple[int, dict[str, str], bytes]:
        if self.refusals:
            self.refusals -= 1
            code, status = self.refused_with
            return status, {"x-amzn-ErrorType": code}, json.dumps({"Type": "User", "message": code}).encode()
        url = urlsplit(request.url)
        name = unquote(url.path.split("/functions/")[1].split("/")[0])
        (qualifier,) = parse_qs(url.query)["Qualifier"]
        event = json.loads(request.body)
        self.invoked.append((name, qualifier, event))
        spec = self.versions[name]
        become(spec.logical_id, self.environments, self.monkeypatch)
        try:
            with mock.patch.object(boto3.session, "Session", LAMBDAS_SESSION):  # the version's own, not the hook's
                result = invoke(spec, event)
        except Exception as error:  # noqa: BLE001 - what escapes the handler is Lambda's function error
            failure = {"errorType": type(error).__name__, "errorMessage": str(error)}
            self.failures.append(failure)
            return 200, {"X-Amz-Function-Error": "Unhandled"}, json.dumps(failure).encode()
        return 200, {}, json.dumps(result).encode()


@pytest.fixture
def environments(physical_ids) -> dict[str, dict[str, str]]:
    """Each function's environment as deployed (dev), its resources the emulator's (no provider is called)."""
    parameters = {"Environment": "dev"} | {entry.base_url_parameter: "https://provider.test" for entry in PROVIDERS}
    return {
        logical_id: cfn.function_environment(logical_id, physical_ids, parameters) for logical_id in cfn.functions()
    }


def become(logical_id: str, environments: dict[str, dict[str, str]], monkeypatch) -> None:
    """This process as a new instance of `logical_id`: its environment, and no other function's."""
    given = [(spec.properties.get("Environment") or {}).get("Variables") or {} for spec in cfn.functions().values()]
    for variable in {variable for variables in [*given, *environments.values()] for variable in variables}:
        monkeypatch.delenv(variable, raising=False)
    for variable, value in environments[logical_id].items():
        monkeypatch.setenv(variable, value)
    cold_start()


def function_name(logical_id: str) -> str:
    return f"kyc-gateway-dev-{logical_id}-AbCdEf123456"  # as CloudFormation names a function with no FunctionName


def run_hook(codedeploy: CodeDeploy, lambda_: Lambda) -> str:
    """The hook as CodeDeploy invokes it: its shipped handler (functions/codedeploy_hook/app.py), whose boto3
    session's CodeDeploy and Lambda clients are answered in-process. The AWS emulator is off meanwhile, so that a
    request the check sent to AWS would not be answered: the check must send none."""
    hook = load_handler(cfn.FunctionSpec(HOOK, cfn.ROOT / "functions" / "codedeploy_hook", "app", "lambda_handler", {}))
    assert hook.__module__ == "kyc_gateway.deploy_hook"

    class AnsweredSession(boto3.session.Session):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.events.register_first("before-send.codedeploy", answering(codedeploy.answer))
            self.events.register_first("before-send.lambda", answering(lambda_.answer))

    event = {"DeploymentId": DEPLOYMENT_ID, "LifecycleEventHookExecutionId": HOOK_EXECUTION_ID}
    emulating, botocore_stubber.enabled = botocore_stubber.enabled, False
    try:
        with mock.patch.object(boto3.session, "Session", AnsweredSession):
            answer = hook(event, LambdaContext(function_name="CodeDeployHook_kyc-gateway-dev-deploy-check"))
    finally:
        botocore_stubber.enabled = emulating
    assert set(answer) == {"status"}
    return answer["status"]


def deployment_of(logical_id: str) -> CodeDeploy:
    """A deployment of the function's new version as CloudFormation makes one: GetDeployment gives the revision's
    digest only, and its application keeps the AppSpec as a String revision."""
    digest = {"revisionType": "String", "string": {"sha256": "0" * 64}}
    stored = {"revisionType": "String", "string": {"content": appspec(function_name(logical_id)), "sha256": "0" * 64}}
    return CodeDeploy(digest, stored=stored)


def versions(**overrides: cfn.FunctionSpec) -> dict[str, cfn.FunctionSpec]:
    specs = cfn.functions() | overrides
    return {function_name(logical_id): spec for logical_id, spec in specs.items()}


# The wiring, as deployed


def test_every_functions_deployment_runs_the_hook_before_any_traffic_and_codedeploy_may_invoke_it(deployed):
    resources = deployed["Resources"]
    hook = resources[HOOK]
    assert hook["Type"] == "AWS::Lambda::Function"
    for entry in FUNCTIONS:
        alias = resources[f"{entry.logical_id}Aliaslive"]
        update = alias["UpdatePolicy"]["CodeDeployLambdaAliasUpdate"]
        assert update["BeforeAllowTrafficHook"] == {"Ref": HOOK}, entry.logical_id
    # CodeDeploy runs it with the role SAM gives it, whose AWS managed policy may invoke CodeDeployHook_* only
    role = resources["CodeDeployServiceRole"]["Properties"]
    assert role["ManagedPolicyArns"] == ["arn:aws:iam::aws:policy/service-role/AWSCodeDeployRoleForLambda"]
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


# The drill


@pytest.mark.parametrize("logical_id", sorted(cfn.functions()))
def test_a_healthy_version_passes_and_the_check_reaches_no_provider_and_counts_no_request(
    logical_id, gateway, environments, monkeypatch, capsys
):
    # Given a deployment of the function's new version, healthy, with its own environment as deployed
    codedeploy, lambda_ = deployment_of(logical_id), Lambda(versions(), environments, monkeypatch)
    capsys.readouterr()

    # When CodeDeploy runs the hook
    status = run_hook(codedeploy, lambda_)

    # Then the hook invoked that version (not the alias) with the check, and reported it ready
    ((name, qualifier, event),) = lambda_.invoked
    assert (name, qualifier) == (function_name(logical_id), TARGET_VERSION)
    assert event == {"kycGatewayDeployCheck": {"deploymentId": DEPLOYMENT_ID}}
    assert status == "Succeeded"
    assert codedeploy.reported == [
        {"deploymentId": DEPLOYMENT_ID, "lifecycleEventHookExecutionId": HOOK_EXECUTION_ID, "status": "Succeeded"}
    ]
    # And the check called no provider and counted nothing a dashboard or an alarm reads
    written = capsys.readouterr().out
    assert gateway.provider.requests() == []
    assert [metric.name for metric in emf.metrics(written)] == []
    # And the version's log says what it loaded, the hook's which version passed
    (loaded,) = hook_lines(written, "deploy check passed")
    assert (loaded["level"], loaded["route"], loaded["unrehearsed"]) == ("INFO", BY_LOGICAL_ID[logical_id].route, [])
    (checked,) = hook_lines(written, "deploy check")
    assert {key: checked.get(key) for key in ("level", "deployment", "function", "version", "status")} == {
        "level": "INFO",
        "deployment": DEPLOYMENT_ID,
        "function": function_name(logical_id),
        "version": TARGET_VERSION,
        "status": "Succeeded",
    }
    assert not {"function_error", "error", "answer"} & set(checked)


@pytest.mark.parametrize("logical_id", sorted(cfn.functions()))
def test_a_version_with_an_invalid_configuration_is_stopped_before_any_traffic(
    logical_id, gateway, environments, monkeypatch
):
    # Given the new version is deployed with a configuration it cannot run with (a value out of its range)
    environments[logical_id]["PROVIDER_READ_TIMEOUT_SECONDS"] = "90"
    codedeploy, lambda_ = deployment_of(logical_id), Lambda(versions(), environments, monkeypatch)

    # When CodeDeploy runs the hook, then it reports the deployment failed: CodeDeploy keeps the alias where it was
    assert run_hook(codedeploy, lambda_) == "Failed"
    assert [report["status"] for report in codedeploy.reported] == ["Failed"]


@pytest.mark.parametrize(
    "entry", [entry for entry in FUNCTIONS if entry.variables()], ids=lambda entry: entry.logical_id
)
def test_a_version_missing_part_of_the_configuration_its_kind_needs_is_stopped(
    entry, gateway, environments, monkeypatch
):
    # Given the variables the registry says the template gives every function of its kind, as deployed
    deployed = environments[entry.logical_id]
    assert set(entry.variables()) <= set(deployed)
    for variable in entry.variables():
        # and a new version deployed without one of them
        environment = {name: value for name, value in deployed.items() if name != variable}
        codedeploy = deployment_of(entry.logical_id)
        lambda_ = Lambda(versions(), environments | {entry.logical_id: environment}, monkeypatch)

        # When CodeDeploy runs the hook, then the deployment fails, and the version's answer names what it lacks
        # (its settings refuse some variables' absence before the check looks for them)
        assert run_hook(codedeploy, lambda_) == "Failed", variable
        ((error, message),) = [(failure["errorType"], failure["errorMessage"]) for failure in lambda_.failures]
        if error == "NotReady":
            assert message == f"not configured: {variable}"
        else:
            assert (error, variable in message) == ("ConfigurationError", True)


def test_a_version_lacking_several_variables_names_each(gateway, environments, monkeypatch):
    environment = {
        name: value
        for name, value in environments["CladfyKraPinFunction"].items()
        if name not in ("AUDIT_TABLE_NAME", "AUDIT_RETENTION_DAYS")
    }
    codedeploy = deployment_of("CladfyKraPinFunction")
    lambda_ = Lambda(versions(), environments | {"CladfyKraPinFunction": environment}, monkeypatch)

    assert run_hook(codedeploy, lambda_) == "Failed"
    assert lambda_.failures == [
        {"errorType": "NotReady", "errorMessage": "not configured: AUDIT_TABLE_NAME, AUDIT_RETENTION_DAYS"}
    ]


def test_the_check_names_every_variable_a_version_lacks(environments):
    from kyc_gateway import deploy_check

    entry = BY_LOGICAL_ID["SignzyRepushFunction"]
    environment = environments[entry.logical_id] | {"IDEMPOTENCY_TABLE_NAME": ""}
    del environment["SIGNZY_SECRET_ID"]

    assert deploy_check.unset(entry, environments[entry.logical_id]) == []
    assert deploy_check.unset(entry, environment) == ["SIGNZY_SECRET_ID", "IDEMPOTENCY_TABLE_NAME"]


def test_a_version_that_cannot_make_an_aws_call_it_needs_is_stopped(gateway, environments, monkeypatch):
    # Given a version whose clients cannot make AWS calls its configuration names (reading a secret, its audit trail)
    from kyc_gateway import snapstart

    rehearse = snapstart.rehearse
    monkeypatch.setattr(
        snapstart,
        "rehearse",
        lambda client, rehearsal: (
            rehearsal.operation not in ("GetSecretValue", "Query") and rehearse(client, rehearsal)
        ),
    )
    codedeploy, lambda_ = deployment_of("CladfyKraPinFunction"), Lambda(versions(), environments, monkeypatch)

    # When CodeDeploy runs the hook, then the deployment fails, and the version names the calls
    assert run_hook(codedeploy, lambda_) == "Failed"
    assert lambda_.failures == [
        {
            "errorType": "NotReady",
            "errorMessage": "AWS operations that failed before sending: dynamodb.Query, secretsmanager.GetSecretValue",
        }
    ]


def test_a_version_that_fails_to_import_is_stopped(gateway, environments, monkeypatch, tmp_path: Path):
    # Given a version whose code imports a module its layer does not ship
    (tmp_path / "app.py").write_text("from kyc_gateway import not_shipped\n\nlambda_handler = not_shipped.handler\n")
    broken = cfn.FunctionSpec("CladfyKraPinFunctionBroken", tmp_path, "app", "lambda_handler", {})
    environments["CladfyKraPinFunctionBroken"] = environments["CladfyKraPinFunction"]
    codedeploy = deployment_of("CladfyKraPinFunction")
    lambda_ = Lambda(versions(CladfyKraPinFunction=broken), environments, monkeypatch)
    monkeypatch.delitem(sys.modules, "lambda_function_CladfyKraPinFunctionBroken", raising=False)

    # When CodeDeploy runs the hook, then the deployment fails
    assert run_hook(codedeploy, lambda_) == "Failed"
    assert [report["status"] for report in codedeploy.reported] == ["Failed"]


@pytest.mark.parametrize(
    "answer",
    ["{'statusCode': 200}", "'ready'", "{'ready': 'true'}", "{'ready': 1}", "[True]"],
    ids=["request", "text", "not-true", "one", "list"],
)
def test_a_version_answering_anything_but_ready_is_stopped(
    answer, gateway, environments, monkeypatch, tmp_path: Path, capsys
):
    # Given a version whose handler answers the check with something else (a wrapper that does not know it)
    (tmp_path / "app.py").write_text(f"def lambda_handler(event, context):\n    return {answer}\n")
    monkeypatch.delitem(sys.modules, "lambda_function_CladfyKraPinFunctionPlain", raising=False)
    plain = cfn.FunctionSpec("CladfyKraPinFunctionPlain", tmp_path, "app", "lambda_handler", {})
    environments["CladfyKraPinFunctionPlain"] = environments["CladfyKraPinFunction"]
    codedeploy = deployment_of("CladfyKraPinFunction")
    lambda_ = Lambda(versions(CladfyKraPinFunction=plain), environments, monkeypatch)
    capsys.readouterr()

    assert run_hook(codedeploy, lambda_) == "Failed"
    (line,) = hook_lines(capsys.readouterr().out, "deploy check")
    assert (line["level"], line["status"], line["answer"]) == ("ERROR", "Failed", "not ready")


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


@pytest.fixture
def waits(monkeypatch) -> list[float]:
    """The hook's waits between tries of a refused call, taken at once."""
    from kyc_gateway import deploy_hook

    taken: list[float] = []
    monkeypatch.setattr(deploy_hook, "_sleep", taken.append)
    return taken


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


@pytest.mark.parametrize(
    "event",
    [
        json.loads((cfn.ROOT / "events" / "CladfyKraPinFunction.json").read_text()),
        json.loads((cfn.ROOT / "events" / "ConnectFiWebhookProcessorFunction.json").read_text()),
        json.loads((cfn.ROOT / "events" / "ConnectFiReconcilerFunction.json").read_text()),
        [{"kycGatewayDeployCheck": {}}],
        "kycGatewayDeployCheck",
    ],
    ids=["api-request", "sqs-batch", "schedule", "list", "text"],
)
def test_no_event_a_caller_queue_or_schedule_sends_is_taken_for_the_check(event):
    from kyc_gateway import deploy_check

    assert not deploy_check.requested(event)
    assert deploy_check.requested({"kycGatewayDeployCheck": {}})


def test_the_hooks_clients_wait_for_the_check_and_leave_retrying_to_it():
    from kyc_gateway import deploy_hook

    session = boto3.session.Session(aws_access_key_id="drill", aws_secret_access_key="drill", region_name="us-east-1")
    for client in deploy_hook.clients(session):
        assert client.meta.config.read_timeout == deploy_hook.INVOKE_READ_TIMEOUT_SECONDS
        assert client.meta.config.retries["total_max_attempts"] == 1  # `patiently` tries again, within the timeout


def hook_lines(written: str, message: str) -> list[dict]:
    lines = [json.loads(line) for line in written.splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("message") == message]


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


@pytest.mark.parametrize("body", [b"Runtime exited with error: signal: killed", b'["not an object"]'])
def test_a_version_failing_without_an_error_object_is_stopped(body, environments, monkeypatch, capsys):
    # Given a version whose runtime fails the invoke without the usual error object (killed, out of memory...)
    class Crashing(Lambda):
        def answer(self, request: Any) -> tuple[int, dict[str, str], bytes]:
            return 200, {"X-Amz-Function-Error": "Unhandled"}, body

    codedeploy = deployment_of("CladfyKraPinFunction")
    capsys.readouterr()

    # When CodeDeploy runs the hook, then the deployment fails, and the hook's log says the version failed
    assert run_hook(codedeploy, Crashing(versions(), environments, monkeypatch)) == "Failed"
    (line,) = hook_lines(capsys.readouterr().out, "deploy check")
    assert (line["status"], line["function_error"], line.get("error")) == ("Failed", "Unhandled", None)


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
