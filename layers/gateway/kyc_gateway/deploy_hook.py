"""CodeDeploy's pre-traffic hook: every deployment of a function's `live` alias runs it before shifting any traffic.

It reads the deployment's AppSpec (the function and the version being deployed), invokes that version with the
deploy check (`kyc_gateway.deploy_check`) and reports `Succeeded` only when the version answers ready; anything else
(the version fails to import, its configuration is invalid, it cannot make an AWS call, it answers something else,
the deployment cannot be read) reports `Failed`, and CodeDeploy stops the deployment and leaves the alias where it
was. A version broken so is caught with no caller's request, whatever the route's traffic (a canary of 10% of no
traffic trips no alarm). When the status itself cannot be reported, the invocation fails and Lambda retries it;
CodeDeploy fails a deployment whose hook never reports.
"""

from __future__ import annotations

import json
from typing import Any

from kyc_gateway.deploy_check import EVENT_KEY

SUCCEEDED, FAILED = "Succeeded", "Failed"
INVOKE_READ_TIMEOUT_SECONDS = 180  # above the longest timeout of the gateway's functions (the reconciler's 120 s)
INVOKE_ATTEMPTS = 3  # botocore's standard retries: a throttled check (the function's reserved concurrency in use)


class UnreadableDeployment(Exception):
    """The deployment's AppSpec does not name one function version to check."""


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, str]:
    import boto3
    from botocore.config import Config

    retries = {"total_max_attempts": INVOKE_ATTEMPTS, "mode": "standard"}
    lambda_client = boto3.client("lambda", config=Config(read_timeout=INVOKE_READ_TIMEOUT_SECONDS, retries=retries))
    return {"status": check_deployment(event, boto3.client("codedeploy"), lambda_client)}


def check_deployment(event: dict[str, Any], codedeploy: Any, lambda_client: Any) -> str:
    """Check the version the deployment `event` names and report the outcome to CodeDeploy; the outcome."""
    from kyc_gateway.observability import logger

    deployment_id = event["DeploymentId"]
    status = FAILED
    try:
        name, version = target(codedeploy.get_deployment(deploymentId=deployment_id))
        status, reason = check_version(lambda_client, name, version, deployment_id)
        logger.info("deploy check", deployment=deployment_id, function=name, version=version, status=status, **reason)
    except Exception as error:  # noqa: BLE001 - whatever stops the check fails the deployment, never passes it
        logger.error("deploy check not run", deployment=deployment_id, error=type(error).__name__)
    codedeploy.put_lifecycle_event_hook_execution_status(
        deploymentId=deployment_id,
        lifecycleEventHookExecutionId=event["LifecycleEventHookExecutionId"],
        status=status,
    )
    return status


def target(deployment: dict[str, Any]) -> tuple[str, str]:
    """(function name, version) of the one function a Lambda deployment's AppSpec shifts its alias to. CloudFormation
    gives the AppSpec as `AppSpecContent`; a deployment made by hand may give it as a `String` revision."""
    revision = deployment["deploymentInfo"]["revision"]
    content = (revision.get("appSpecContent") or revision.get("string") or {}).get("content")
    try:
        (resource,) = json.loads(content)["Resources"]
        ((_, declared),) = resource.items()
        properties = declared["Properties"]
        name, version = properties["Name"], properties["TargetVersion"]
    except (TypeError, ValueError, KeyError, AttributeError):
        raise UnreadableDeployment("the AppSpec names no single function version") from None
    if isinstance(version, int) and not isinstance(version, bool):
        version = str(version)  # AWS's AppSpec examples quote versions; a number means the same version
    if not (isinstance(name, str) and name and isinstance(version, str) and version.isdigit()):
        raise UnreadableDeployment("the AppSpec's target is not a published version")
    return name, version


def check_version(lambda_client: Any, name: str, version: str, deployment_id: str) -> tuple[str, dict[str, Any]]:
    """Invoke version `version` of function `name` with the deploy check: (status, why, for the log)."""
    answer = lambda_client.invoke(
        FunctionName=name,
        Qualifier=version,
        Payload=json.dumps({EVENT_KEY: {"deploymentId": deployment_id}}).encode(),
    )
    payload = answer["Payload"].read()
    if "FunctionError" in answer:
        try:
            error = json.loads(payload).get("errorType")
        except (ValueError, AttributeError):
            error = None
        return FAILED, {"function_error": answer["FunctionError"], "error": error}
    try:
        ready = json.loads(payload).get("ready") is True
    except (ValueError, AttributeError):
        ready = False
    return (SUCCEEDED, {}) if ready else (FAILED, {"answer": "not ready"})
