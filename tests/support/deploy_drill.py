"""The deploy check's drill: CodeDeploy's and Lambda's sides of a deployment, answered in-process, and the hook run
as CodeDeploy invokes it (tests/integration/test_deploy_check.py, test_deploy_hook.py)."""

from __future__ import annotations

import io
import json
from typing import Any
from unittest import mock
from urllib.parse import parse_qs, unquote, urlsplit

import boto3
from botocore.awsrequest import AWSResponse
from moto.core.models import botocore_stubber

from generators.template import is_scheduled
from kyc_gateway import deploy_check
from kyc_gateway.registry import PROVIDERS
from local.functions import LambdaContext, cold_start, invoke, load_handler
from project import template as cfn

HOOK = "DeployCheckHookFunction"
DEPLOYMENT_ID = "d-DRILL0001"
HOOK_EXECUTION_ID = "hook-execution-0001"
APPLICATION = "kyc-gateway-dev-ServerlessDeploymentApplication-AbCdEf123456"
TARGET_VERSION = "7"
LAMBDAS_SESSION = boto3.session.Session


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
        self.answers: list[Any] = []  # what each invoke that succeeded answered
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
        emulating = botocore_stubber.enabled
        if scheduled(spec):  # its check loads as every check does (sending nothing), then runs its job on AWS
            self.monkeypatch.setattr(deploy_check, "answer", _then_emulated(deploy_check.answer))
        try:
            with mock.patch.object(boto3.session, "Session", LAMBDAS_SESSION):  # the version's own, not the hook's
                result = invoke(spec, event)
        except Exception as error:  # noqa: BLE001 - what escapes the handler is Lambda's function error
            failure = {"errorType": type(error).__name__, "errorMessage": str(error)}
            self.failures.append(failure)
            return 200, {"X-Amz-Function-Error": "Unhandled"}, json.dumps(failure).encode()
        finally:
            botocore_stubber.enabled = emulating
        self.answers.append(result)
        return 200, {}, json.dumps(result).encode()


def _then_emulated(answer: Any) -> Any:
    def answered(handler: Any) -> Any:
        ready = answer(handler)
        botocore_stubber.enabled = True
        return ready

    return answered


def scheduled(spec: cfn.FunctionSpec) -> bool:
    """A function its schedule invokes: its deploy check also runs its job once (kyc_gateway.scheduled)."""
    return is_scheduled(spec.properties)


def environments_as_deployed(physical_ids) -> dict[str, dict[str, str]]:
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
    request the check sent to AWS would not be answered: the check must send none (but a scheduled version's, which
    then runs its job)."""
    hook = load_handler(cfn.FunctionSpec(HOOK, cfn.ROOT / "functions" / "codedeploy_hook", "app", "lambda_handler", {}))
    assert hook.__module__ == "kyc_gateway.deploy_hook"

    class AnsweredSession(boto3.session.Session):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.events.register_first("before-send.codedeploy", answering(codedeploy.answer))
            self.events.register_first("before-send.lambda", answering(lambda_.answer))

    event = json.loads((cfn.ROOT / "events" / f"{HOOK}.json").read_text())  # the sample event, as CodeDeploy sends
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


def waits_taken_at_once(monkeypatch) -> list[float]:
    """The hook's waits between tries of a refused call, taken at once."""
    from kyc_gateway import deploy_hook

    taken: list[float] = []
    monkeypatch.setattr(deploy_hook, "_sleep", taken.append)
    return taken


def hook_lines(written: str, message: str) -> list[dict]:
    lines = [json.loads(line) for line in written.splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("message") == message]
