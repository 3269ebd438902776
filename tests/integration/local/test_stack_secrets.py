"""`<NAME>_SECRET_JSON` replaces a section of the local secrets file (a real provider sandbox's credentials kept out
of files): one the stack cannot use stops the start with one line naming the variable, never printing its value."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from local.stack import SecretUnusable, local_secrets
from project import template as cfn

SECRETS_FILE = cfn.ROOT / "local" / "secrets.local.json"
CDP = {"clientId": "c", "clientSecret": "s3cr3t-value", "username": "u", "password": "p", "scope": "x"}


def test_a_supplied_secret_replaces_its_section():
    secrets = local_secrets(SECRETS_FILE, {"CDP_SECRET_JSON": json.dumps(CDP)})

    assert secrets["cdp"] == CDP
    assert secrets["cladfy"]["clientId"] == "local-cladfy-client"


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ('{"clientId": "c", "clientSecret": "s3cr3t-value",', "CDP_SECRET_JSON is not JSON (Expecting"),
        ('["s3cr3t-value"]', "CDP_SECRET_JSON is not a JSON object"),
        (json.dumps({"clientSecret": "s3cr3t-value"}), "CDP_SECRET_JSON lacks"),
    ],
    ids=["cut short", "a list", "fields missing"],
)
def test_a_supplied_secret_the_stack_cannot_use_is_refused_naming_the_variable_not_the_value(value, says):
    with pytest.raises(SecretUnusable) as refused:
        local_secrets(SECRETS_FILE, {"CDP_SECRET_JSON": value})

    assert says in str(refused.value) and "s3cr3t-value" not in str(refused.value)


def test_the_missing_fields_are_named():
    with pytest.raises(SecretUnusable, match=r"CDP_SECRET_JSON lacks clientId, password, scope, username \("):
        local_secrets(SECRETS_FILE, {"CDP_SECRET_JSON": json.dumps({"clientSecret": "s"})})


def test_make_run_with_a_malformed_secret_stops_with_one_line_naming_the_variable(tmp_path):
    # When `make run` starts with a provider's secret cut short
    result = subprocess.run(
        [sys.executable, "-m", "local.stack"],
        cwd=cfn.ROOT,
        env={
            **os.environ,
            "CDP_SECRET_JSON": '{"clientId": "...",',
            "LOCAL_STACK_STATE": str(tmp_path / "stack.json"),
            **dict.fromkeys(("API_PORT", "AWS_EMULATOR_PORT", "SANDBOX_PORT"), "0"),
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    # Then it stops at once, with one line naming the variable, and leaves no state file
    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith("local stack could not start: CDP_SECRET_JSON is not JSON (")
    assert not (tmp_path / "stack.json").exists()
