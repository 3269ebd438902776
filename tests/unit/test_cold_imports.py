"""What a cold instance loads before its first request: neither boto3 (a refused request never pays for it) nor
Powertools (loaded only for an Idempotency-Key) nor the answers' schemas (documentation, for openapi.json), for every
function of the template."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from project import LAYER_DIR
from project import template as cfn

PROBE = """
import importlib, json, sys
sys.path[:0] = [sys.argv[1], sys.argv[2]]
getattr(importlib.import_module(sys.argv[3]), sys.argv[4])
print(json.dumps(sorted(sys.modules)))
"""


@pytest.mark.parametrize("logical_id", sorted(cfn.functions()))
def test_importing_a_handler_loads_neither_boto3_nor_powertools_nor_the_answer_schemas(logical_id):
    spec = cfn.functions()[logical_id]
    loaded = subprocess.run(  # noqa: S603 - this interpreter, fixed arguments
        [sys.executable, "-c", PROBE, str(spec.code_dir), str(LAYER_DIR), spec.module, spec.attribute],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "", "ENVIRONMENT": "local"},
    ).stdout
    modules = json.loads(loaded)
    assert not {"boto3", "botocore", "aws_lambda_powertools"} & {name.split(".")[0] for name in modules}
    assert "kyc_gateway" in modules  # the probe saw the layer load
    assert not [name for name in modules if name.startswith("kyc_gateway.answers")]
