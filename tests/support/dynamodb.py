"""DynamoDB as the tests see it: an item's plain values, and an instance whose DynamoDB calls all fail."""

from __future__ import annotations

from typing import Any


def plain(item: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """An item's attributes without their type tags ({"S": "x"} -> "x")."""
    return {name: next(iter(value.values())) for name, value in item.items()}


def cut_off() -> None:
    """From now on every DynamoDB call of this instance fails before it is sent (as without credentials)."""
    from botocore.exceptions import NoCredentialsError

    from kyc_gateway import aws

    def refuse(**_: Any) -> None:
        raise NoCredentialsError

    aws.client("dynamodb").meta.events.register("before-sign.dynamodb", refuse)
