"""CodeDeploy's pre-traffic hook: every deployment of a function's `live` alias runs it before shifting any traffic.

It reads the deployment's AppSpec (the function and the version being deployed), invokes that version with the
deploy check (`kyc_gateway.deploy_check`) and reports `Succeeded` only when the version answers ready; anything else
(the version fails to import, its configuration is invalid, it cannot make an AWS call, it answers something else,
the deployment cannot be read) reports `Failed`, and CodeDeploy stops the deployment and leaves the alias where it
was. A version broken so is caught with no caller's request, whatever the route's traffic (a canary of 10% of no
traffic trips no alarm).

A call AWS refuses for want of a permission, or throttles, is tried again for about two and a half minutes first: the
deploy that creates or changes the hook's role runs the hook moments later (IAM applies a role's change eventually,
not at once), and a function whose reserved concurrency is in use throttles the check. When the status itself cannot
be reported, the invocation fails, and CodeDeploy fails a deployment whose hook never reports (after an hour).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, TypeVar

from kyc_gateway.deploy_check import EVENT_KEY

SUCCEEDED, FAILED = "Succeeded", "Failed"
INVOKE_READ_TIMEOUT_SECONDS = 180  # above the longest timeout of the gateway's functions (the reconciler's 120 s)
PATIENT_DELAYS_SECONDS = (2, 4, 8, 16, 30, 30, 30, 30)  # before each new try of a call refused or throttled
# Lambda's and CodeDeploy's codes for a permission not (yet) granted, Lambda's throttle, CodeDeploy's throttle
_TRIED_AGAIN = frozenset({"AccessDeniedException", "TooManyRequestsException", "ThrottlingException"})
_ALREADY_REPORTED = "LifecycleEventAlreadyCompletedException"  # a second delivery of the same hook event
_sleep = time.sleep
ResultT = TypeVar("ResultT")


class UnreadableDeployment(Exception):
    """The deployment's AppSpec does not name one function version to check."""


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, str]:
    import boto3

    return {"status": check_deployment(event, *clients(boto3.session.Session()))}


def clients(session: Any) -> tuple[Any, Any]:
    """The hook's CodeDeploy and Lambda clients. One attempt per call: `patiently` tries a refused or throttled one
    again, within the hook's own timeout."""
    from botocore.config import Config

    once = Config(read_timeout=INVOKE_READ_TIMEOUT_SECONDS, retries={"total_max_attempts": 1, "mode": "standard"})
    return session.client("codedeploy", config=once), session.client("lambda", config=once)


def check_deployment(event: dict[str, Any], codedeploy: Any, lambda_client: Any) -> str:
    """Check the version the deployment `event` names and report the outcome to CodeDeploy; the outcome."""
    from botocore.exceptions import ClientError

    from kyc_gateway.observability import logger

    deployment_id = event["DeploymentId"]
    status = FAILED
    try:
        name, version = target(appspec(codedeploy, deployment_id))
        status, reason = check_version(lambda_client, name, version, deployment_id)
        log = logger.info if status == SUCCEEDED else logger.error  # a version stopped is an operator's business
        log("deploy check", deployment=deployment_id, function=name, version=version, status=status, **reason)
    except Exception as error:  # noqa: BLE001 - whatever stops the check fails the deployment, never passes it
        logger.error("deploy check not run", deployment=deployment_id, error=type(error).__name__, code=_code(error))
    try:
        patiently(
            lambda: codedeploy.put_lifecycle_event_hook_execution_status(
                deploymentId=deployment_id,
                lifecycleEventHookExecutionId=event["LifecycleEventHookExecutionId"],
                status=status,
            )
        )
    except ClientError as error:
        if _code(error) != _ALREADY_REPORTED:
            raise
        logger.info("deploy check already reported", deployment=deployment_id)
    return status


def appspec(codedeploy: Any, deployment_id: str) -> str | None:
    """The deployment's AppSpec: in its revision when GetDeployment gives the content, else from its application's
    revision (GetApplicationRevision), where CloudFormation's deployments keep it."""
    info = patiently(lambda: codedeploy.get_deployment(deploymentId=deployment_id))["deploymentInfo"]
    if content := _content(info["revision"]):
        return content
    answer = patiently(
        lambda: codedeploy.get_application_revision(applicationName=info["applicationName"], revision=info["revision"])
    )
    return _content(answer["revision"])


def _content(revision: dict[str, Any]) -> str | None:
    return (revision.get("appSpecContent") or revision.get("string") or {}).get("content")


def target(content: str | None) -> tuple[str, str]:
    """(function name, version) of the one function a Lambda deployment's AppSpec shifts its alias to."""
    try:
        (resource,) = json.loads(content)["Resources"]
        ((_, declared),) = resource.items()
        properties = declared["Properties"]
        name, version = properties["Name"], properties["TargetVersion"]
    except (TypeError, ValueError, KeyError, AttributeError):
        raise UnreadableDeployment("the AppSpec names no single function version") from None
    if isinstance(version, int):
        version = str(version)  # AWS's AppSpec examples quote versions; a number means the same ("True" is refused)
    if not (isinstance(name, str) and name and isinstance(version, str) and version.isdigit()):
        raise UnreadableDeployment("the AppSpec's target is not a published version")
    return name, version


def check_version(lambda_client: Any, name: str, version: str, deployment_id: str) -> tuple[str, dict[str, Any]]:
    """Invoke version `version` of function `name` with the deploy check: (status, why, for the log)."""
    payload = json.dumps({EVENT_KEY: {"deploymentId": deployment_id}}).encode()
    answer = patiently(lambda: lambda_client.invoke(FunctionName=name, Qualifier=version, Payload=payload))
    body = answer["Payload"].read()
    if "FunctionError" in answer:
        try:
            error = json.loads(body).get("errorType")
        except (ValueError, AttributeError):
            error = None
        return FAILED, {"function_error": answer["FunctionError"], "error": error}
    try:
        ready = json.loads(body).get("ready") is True
    except (ValueError, AttributeError):
        ready = False
    return (SUCCEEDED, {}) if ready else (FAILED, {"answer": "not ready"})


def patiently(call: Callable[[], ResultT]) -> ResultT:
    """`call()`, tried again after each of PATIENT_DELAYS_SECONDS while AWS refuses it for want of a permission or
    throttles it."""
    from botocore.exceptions import ClientError

    for delay in PATIENT_DELAYS_SECONDS:
        try:
            return call()
        except ClientError as error:
            if _code(error) not in _TRIED_AGAIN:
                raise
        _sleep(delay)
    return call()


def _code(error: Exception) -> str | None:
    """AWS's error code of a refused call (botocore's ClientError), if it is one."""
    response = getattr(error, "response", None)
    return (response.get("Error") or {}).get("Code") if isinstance(response, dict) else None
