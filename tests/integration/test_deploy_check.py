"""Drill of the deploy check: CodeDeploy's pre-traffic hook must stop a deployment whose new version cannot serve,
before any traffic reaches it, whatever the route's traffic. (The hook's wiring in the deployed template, its reading
of a deployment, its retries and its logs: test_deploy_hook.py.)

The hook runs as shipped (kyc_gateway/deploy_hook.py, through functions/codedeploy_hook/app.py's handler) with real
botocore clients of CodeDeploy and Lambda whose requests are answered in-process: CodeDeploy's by a deployment whose
AppSpec is written as CloudFormation writes it, Lambda's Invoke by running the version's handler from the template,
with its own environment only, as Lambda would.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from kyc_gateway.registry import BY_LOGICAL_ID, FUNCTIONS
from project import template as cfn
from tests.integration.test_rollback_drill import store_application
from tests.support import emf
from tests.support.deploy_drill import (
    DEPLOYMENT_ID,
    HOOK_EXECUTION_ID,
    TARGET_VERSION,
    Lambda,
    deployment_of,
    environments_as_deployed,
    function_name,
    hook_lines,
    run_hook,
    scheduled,
    versions,
)


@pytest.fixture
def environments(physical_ids) -> dict[str, dict[str, str]]:
    return environments_as_deployed(physical_ids)


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
    # And the check called no provider and counted nothing a dashboard or an alarm reads (but a scheduled version's
    # check, which then runs its job once: with nothing due, one run counted, no provider call)
    written = capsys.readouterr().out
    assert gateway.provider.requests() == []
    ran = ["Requests"] if scheduled(cfn.functions()[logical_id]) else []
    assert [metric.name for metric in emf.metrics(written)] == ran
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


SCHEDULED = sorted(logical_id for logical_id, spec in cfn.functions().items() if scheduled(spec))


def test_the_reconciler_is_the_scheduled_function_whose_check_runs_its_job():
    assert SCHEDULED == ["ConnectFiReconcilerFunction"]


@pytest.mark.parametrize("logical_id", SCHEDULED)
def test_a_scheduled_version_whose_run_fails_by_the_gateways_fault_is_stopped_before_any_traffic(
    logical_id, gateway, environments, monkeypatch, aws
):
    """A run every 15 minutes may never reach a canary's 10 %: no alarm could stop such a version in time."""
    from kyc_gateway.providers.connectfi import applications

    # Given a new version whose run raises (a bug in its success path), with an application due
    store_application(aws)

    def broken(*_: Any, **__: Any) -> Any:
        raise TypeError("a bug in the new version")

    monkeypatch.setattr(applications, "due", broken)
    codedeploy, lambda_ = deployment_of(logical_id), Lambda(versions(), environments, monkeypatch)

    # When CodeDeploy runs the hook, then the version's check ran the job, and the deployment failed before traffic
    assert run_hook(codedeploy, lambda_) == "Failed"
    assert lambda_.failures == [{"errorType": "TypeError", "errorMessage": "a bug in the new version"}]


@pytest.mark.parametrize("logical_id", SCHEDULED)
def test_a_scheduled_versions_check_runs_its_job_once_and_a_provider_outage_does_not_stop_the_deploy(
    logical_id, gateway, environments, monkeypatch, aws, capsys
):
    # Given a healthy new version, an application due for a check, and connectFi out of reach (its host as deployed
    # answers nothing here)
    store_application(aws)
    codedeploy, lambda_ = deployment_of(logical_id), Lambda(versions(), environments, monkeypatch)
    capsys.readouterr()

    # When CodeDeploy runs the hook
    status = run_hook(codedeploy, lambda_)

    # Then the job ran once and checked the application, which failed by connectFi's fault: the deploy goes on
    assert status == "Succeeded"
    (run,) = hook_lines(capsys.readouterr().out, "scheduled run")
    assert (run["route"], run["checked"], run["failed"]) == (BY_LOGICAL_ID[logical_id].route, 1, 1)
    assert gateway.provider.requests() == []
    # And the check's answer says what the run did, beside what the version loaded
    ((answer),) = lambda_.answers
    assert (answer["ready"], answer["route"], answer["run"]) == (
        True,
        BY_LOGICAL_ID[logical_id].route,
        {"checked": 1, "changed": 0, "failed": 1, "retired": 0},
    )
