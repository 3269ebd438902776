"""Creates the template's AWS resources in an emulator (moto), so local runs and tests use what is deployed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from project import template as cfn

LOCAL_SECRETS = Path(__file__).with_name("secrets.local.json")
REGION = "us-east-1"
ACCOUNT = "123456789012"


def load_local_secrets(path: Path = LOCAL_SECRETS) -> dict[str, dict[str, Any]]:
    """The committed fake credentials (or a developer's own file with real sandbox credentials)."""
    return {name: value for name, value in json.loads(path.read_text()).items() if not name.startswith("_")}


def secret_provider_name(logical_id: str) -> str:
    """The secret's key in the secrets file: the registry's `<title>Secret` -> `<name>` (`ConnectFiWebhookSecret`
    -> `connectfiwebhook`)."""
    return logical_id.removesuffix("Secret").lower()


_CREATORS = (
    "AWS::KMS::Key",
    "AWS::DynamoDB::Table",
    "AWS::SecretsManager::Secret",
    "AWS::SQS::Queue",
    "AWS::S3::Bucket",
)


def provision(
    session: Any,
    secrets: dict[str, dict[str, Any]],
    parameters: dict[str, str] | None = None,
    template: dict[str, Any] | None = None,
) -> dict[str, str]:
    """Create every table, queue and secret of the template; return what `!Ref`/`!GetAtt` give for each.

    Resources are created once what they reference exists (a queue after its dead-letter queue)."""
    values = cfn.parameter_values(parameters, template)
    physical: dict[str, str] = {}
    pending = {key: res for key, res in cfn.resources(template).items() if res["Type"] in _CREATORS}
    while pending:
        progressed = False
        for logical_id, resource in list(pending.items()):
            try:
                properties = cfn.resolve(resource.get("Properties") or {}, values | physical)
            except KeyError:
                continue  # references a resource not created yet
            physical |= _create(session, logical_id, resource["Type"], properties, secrets)
            del pending[logical_id]
            progressed = True
        if not progressed:
            raise ValueError(f"unresolvable references in {sorted(pending)}")
    return physical


def _create(
    session: Any, logical_id: str, kind: str, properties: dict[str, Any], secrets: dict[str, dict[str, Any]]
) -> dict[str, str]:
    if kind == "AWS::DynamoDB::Table":
        return _create_table(session, logical_id, properties)
    if kind == "AWS::SQS::Queue":
        return _create_queue(session, logical_id, properties)
    if kind == "AWS::KMS::Key":
        return _create_key(session, logical_id, properties)
    if kind == "AWS::S3::Bucket":
        return _create_bucket(session, logical_id, properties)
    return _create_secret(session, logical_id, properties, secrets.get(secret_provider_name(logical_id)))


def _create_table(session: Any, logical_id: str, properties: dict[str, Any]) -> dict[str, str]:
    dynamodb = session.client("dynamodb", region_name=REGION)
    name = properties["TableName"]
    indexes = (
        {"GlobalSecondaryIndexes": properties["GlobalSecondaryIndexes"]}
        if "GlobalSecondaryIndexes" in properties
        else {}
    )
    dynamodb.create_table(
        TableName=name,
        AttributeDefinitions=properties["AttributeDefinitions"],
        KeySchema=properties["KeySchema"],
        BillingMode=properties.get("BillingMode", "PAY_PER_REQUEST"),
        DeletionProtectionEnabled=properties.get("DeletionProtectionEnabled", False),
        **indexes,
        **(
            {"StreamSpecification": {"StreamEnabled": True, **stream}}
            if (stream := properties.get("StreamSpecification"))
            else {}
        ),
    )
    ttl = properties.get("TimeToLiveSpecification")
    if ttl:
        dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
    arn = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}"
    made = {logical_id: name, f"{logical_id}.Arn": arn}
    if stream := dynamodb.describe_table(TableName=name)["Table"].get("LatestStreamArn"):
        made[f"{logical_id}.StreamArn"] = stream
    return made


def _create_bucket(session: Any, logical_id: str, properties: dict[str, Any]) -> dict[str, str]:
    """A bucket as the template declares it, its Object Lock and default retention included (CloudFormation names an
    unnamed one after the stack; here after its logical id and the account)."""
    s3 = session.client("s3", region_name=REGION)
    name = properties.get("BucketName") or f"{logical_id.lower()}-{ACCOUNT}"
    locked = bool(properties.get("ObjectLockEnabled"))
    s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=locked)
    if lock := properties.get("ObjectLockConfiguration"):
        retention = lock["Rule"]["DefaultRetention"]
        rule = {"DefaultRetention": {"Mode": retention["Mode"], "Days": int(retention["Days"])}}
        s3.put_object_lock_configuration(
            Bucket=name, ObjectLockConfiguration={"ObjectLockEnabled": "Enabled", "Rule": rule}
        )
    return {logical_id: name, f"{logical_id}.Arn": f"arn:aws:s3:::{name}"}


def _create_secret(
    session: Any, logical_id: str, properties: dict[str, Any], value: dict[str, Any] | None
) -> dict[str, str]:
    client = session.client("secretsmanager", region_name=REGION)
    arguments = {"Name": properties["Name"], "Description": properties.get("Description", "")}
    if value is not None:
        arguments["SecretString"] = json.dumps(value)
    arn = client.create_secret(**arguments)["ARN"]
    return {logical_id: arn}


def _create_key(session: Any, logical_id: str, properties: dict[str, Any]) -> dict[str, str]:
    metadata = session.client("kms", region_name=REGION).create_key(Description=properties.get("Description", ""))
    return {logical_id: metadata["KeyMetadata"]["KeyId"], f"{logical_id}.Arn": metadata["KeyMetadata"]["Arn"]}


def _create_queue(session: Any, logical_id: str, properties: dict[str, Any]) -> dict[str, str]:
    sqs = session.client("sqs", region_name=REGION)
    name = properties.get("QueueName") or logical_id
    attributes = {}
    for key in (
        "VisibilityTimeout",
        "MessageRetentionPeriod",
        "ReceiveMessageWaitTimeSeconds",
        "DelaySeconds",
        "MaximumMessageSize",
        "KmsMasterKeyId",
        "SqsManagedSseEnabled",
    ):
        if key in properties:
            attributes[key] = (
                str(properties[key]).lower() if isinstance(properties[key], bool) else str(properties[key])
            )
    if "RedrivePolicy" in properties:
        attributes["RedrivePolicy"] = json.dumps(properties["RedrivePolicy"])
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return {logical_id: url, f"{logical_id}.Arn": arn, f"{logical_id}.QueueName": name, f"{logical_id}.QueueUrl": url}
