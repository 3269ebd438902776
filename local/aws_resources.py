"""Creates the template's AWS resources in an emulator (moto), so local runs and tests use what is deployed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from local import template as cfn

LOCAL_SECRETS = Path(__file__).with_name("secrets.local.json")
REGION = "us-east-1"
ACCOUNT = "123456789012"


def load_local_secrets(path: Path = LOCAL_SECRETS) -> dict[str, dict[str, Any]]:
    """The committed fake credentials (or a developer's own file with real sandbox credentials)."""
    return {name: value for name, value in json.loads(path.read_text()).items() if not name.startswith("_")}


def secret_provider_name(logical_id: str) -> str:
    """The secret's key in the secrets file: `CladfySecret` -> `cladfy`, `SignzySecret` -> `signzy`."""
    return logical_id.removesuffix("Secret").lower()


def provision(
    session: Any,
    secrets: dict[str, dict[str, Any]],
    parameters: dict[str, str] | None = None,
    template: dict[str, Any] | None = None,
) -> dict[str, str]:
    """Create every table and secret of the template; return what `!Ref`/`!GetAtt` give for each."""
    values = cfn.parameter_values(parameters, template)
    physical: dict[str, str] = {}
    for logical_id, resource in cfn.resources(template).items():
        kind = resource["Type"]
        if kind not in ("AWS::DynamoDB::Table", "AWS::SecretsManager::Secret"):
            continue
        properties = cfn.resolve(resource.get("Properties") or {}, values | physical)
        if kind == "AWS::DynamoDB::Table":
            physical |= _create_table(session, logical_id, properties)
        else:
            value = secrets.get(secret_provider_name(logical_id))
            physical |= _create_secret(session, logical_id, properties, value)
    return physical


def _create_table(session: Any, logical_id: str, properties: dict[str, Any]) -> dict[str, str]:
    dynamodb = session.client("dynamodb", region_name=REGION)
    name = properties["TableName"]
    dynamodb.create_table(
        TableName=name,
        AttributeDefinitions=properties["AttributeDefinitions"],
        KeySchema=properties["KeySchema"],
        BillingMode=properties.get("BillingMode", "PAY_PER_REQUEST"),
    )
    ttl = properties.get("TimeToLiveSpecification")
    if ttl:
        dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
    arn = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}"
    return {logical_id: name, f"{logical_id}.Arn": arn}


def _create_secret(
    session: Any, logical_id: str, properties: dict[str, Any], value: dict[str, Any] | None
) -> dict[str, str]:
    client = session.client("secretsmanager", region_name=REGION)
    arguments = {"Name": properties["Name"], "Description": properties.get("Description", "")}
    if value is not None:
        arguments["SecretString"] = json.dumps(value)
    arn = client.create_secret(**arguments)["ARN"]
    return {logical_id: arn}
