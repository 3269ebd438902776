"""`sam local invoke -e events/<x>.json --env-vars events/env.json <Function>` on a machine with Docker: the
environment SAM CLI itself resolves for each function (aws-sam-cli's own code, from its venv) points every AWS
client at the local stack's emulator and every provider at its sandbox, and leaves nothing unresolved."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from generators import sam_local_env
from project import template as cfn

SAM_PYTHON = cfn.ROOT / ".venv-sam" / "bin" / "python"
RESOLVE = cfn.ROOT / "tests" / "support" / "sam" / "resolved_environment.py"


@pytest.fixture(scope="module")
def resolved() -> dict[str, dict[str, str]]:
    if not SAM_PYTHON.exists():
        pytest.fail("aws-sam-cli's venv is missing: run `make venv` (make test builds it first)")
    # As docs/local-stack.md runs it: with fake credentials in the shell, whatever the developer's profile holds
    shell = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    shell |= {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_DEFAULT_REGION": "us-east-1"}
    result = subprocess.run(  # noqa: S603 - our own helper in aws-sam-cli's venv
        [str(SAM_PYTHON), str(RESOLVE), str(cfn.TEMPLATE), str(sam_local_env.DOCUMENT)],
        capture_output=True,
        text=True,
        check=True,
        env=shell,
        cwd=cfn.ROOT,
        timeout=120,
    )
    return json.loads(result.stdout)


def test_every_function_gets_the_emulator_fake_credentials_and_its_local_values(resolved):
    # SAM CLI also sees CodeDeploy's pre-traffic hook, which serves deployments only: nothing of it runs locally
    assert set(resolved) == set(cfn.functions()) | {"DeployCheckHookFunction"}
    expected = json.loads(sam_local_env.DOCUMENT.read_text())
    for logical_id in cfn.functions():
        environment = resolved[logical_id]
        assert environment["AWS_ENDPOINT_URL"] == sam_local_env.AWS, logical_id
        assert (environment["AWS_ACCESS_KEY_ID"], environment["AWS_SECRET_ACCESS_KEY"]) == ("local", "local")
        for name, value in expected[logical_id].items():
            assert environment[name] == value, (logical_id, name)


def test_no_declared_variable_is_left_unresolved(resolved):
    parameters = cfn.load()["Parameters"]
    for logical_id, spec in cfn.functions().items():
        declared = {**cfn.load()["Globals"]["Function"]["Environment"]["Variables"]}
        declared |= spec.properties["Environment"]["Variables"]
        for name, value in declared.items():
            # SAM gives "" to what it cannot resolve; only a parameter empty by default may be empty on purpose
            empty_on_purpose = isinstance(value, dict) and parameters.get(value.get("Ref"), {}).get("Default") == ""
            assert resolved[logical_id][name] or empty_on_purpose, (logical_id, name)


def test_the_values_reach_the_running_stacks_services():
    document = json.loads(sam_local_env.DOCUMENT.read_text())
    identification = document["ConnectFiIdentificationFunction"]
    assert identification["CONNECTFI_BASE_URL"] == "http://host.docker.internal:4010/connectfi"
    assert identification["PUBLIC_BASE_URL"] == "http://host.docker.internal:3000"
    assert identification["ENVIRONMENT"] == "local"  # plain http is refused in any other environment
    webhook = document["ConnectFiWebhookFunction"]
    assert webhook["WEBHOOK_QUEUE_URL"].startswith("http://host.docker.internal:4566/")
    assert webhook["CONNECTFI_WEBHOOK_SECRET_ID"] == "kyc-gateway/local/connectfi-webhook"
