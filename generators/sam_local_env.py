"""`events/env.json` for `sam local invoke --env-vars events/env.json` on a machine with Docker, generated from the
template: every function's variables, pointed at a running `make run` on the host (the container reaches it as
host.docker.internal). `python -m generators.sam_local_env` rewrites the file; a test fails when it is stale.

SAM overrides only the variables the template declares, which is why the template declares AWS_ENDPOINT_URL (empty
when deployed). The file holds no credentials: SAM passes the shell's to the container (run it with fake ones, see
docs/local-stack.md); with AWS_ENDPOINT_URL pointing at the emulator, no call can reach a real account.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from kyc_gateway.registry import PROVIDERS
from local.sandbox import ProviderSandbox
from project import template as cfn

DOCUMENT = cfn.ROOT / "events" / "env.json"
HOST = "host.docker.internal"
API, AWS, SANDBOX = f"http://{HOST}:3000", f"http://{HOST}:4566", f"http://{HOST}:4010"
ACCOUNT = "123456789012"


def parameters() -> dict[str, str]:
    """The template parameters of the local stack, as the container sees its services."""
    prefixes = ProviderSandbox.prefixes()
    urls = {entry.base_url_parameter: SANDBOX + prefixes[entry.name] for entry in PROVIDERS}
    return {"Environment": "local", **urls, "PublicBaseUrl": API}


def physical_ids(values: dict[str, str]) -> dict[str, str]:
    """What `!Ref` gives for the template's tables, secrets, queues and buckets in the local stack (secrets by name:
    Secrets Manager takes a name where an ARN goes)."""
    names = {
        "AWS::DynamoDB::Table": "TableName",
        "AWS::SecretsManager::Secret": "Name",
        "AWS::SQS::Queue": "QueueName",
        "AWS::S3::Bucket": "BucketName",
    }
    ids = {}
    for logical_id, resource in cfn.resources().items():
        if resource["Type"] in names:
            name = cfn.resolve(resource["Properties"][names[resource["Type"]]], values)
            ids[logical_id] = f"{AWS}/{ACCOUNT}/{name}" if resource["Type"] == "AWS::SQS::Queue" else name
    return ids


def document() -> dict[str, Any]:
    values = cfn.parameter_values(parameters())
    ids = physical_ids(values)
    functions = {}
    for logical_id in cfn.functions():
        environment = cfn.function_environment(logical_id, ids, parameters())
        environment.pop("AWS_ENDPOINT_URL", None)  # the same for all: in Parameters
        functions[logical_id] = environment
    return {"Parameters": {"AWS_ENDPOINT_URL": AWS}, **functions}


def render() -> str:
    return json.dumps(document(), indent=2) + "\n"


def main() -> int:
    DOCUMENT.write_text(render())
    print(f"wrote {DOCUMENT.relative_to(cfn.ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
