"""AWS clients, created on first use and reused for the life of the instance.

Lazy so that a request failing validation never pays for boto3 client construction. boto3 honours
AWS_ENDPOINT_URL, which is how the local stack points every client at its emulator.
"""

from __future__ import annotations

from typing import Any

from kyc_gateway.lazy import once


@once
def client(service: str) -> Any:
    import boto3
    from botocore.config import Config

    config = Config(connect_timeout=2, read_timeout=5, retries={"max_attempts": 3, "mode": "standard"})
    return boto3.session.Session().client(service, config=config)


def conditional_check_failed() -> type[Exception]:
    """The exception DynamoDB raises when a ConditionExpression is not met."""
    return client("dynamodb").exceptions.ConditionalCheckFailedException
