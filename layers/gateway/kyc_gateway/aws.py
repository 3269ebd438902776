"""AWS clients, created on first use and reused for the life of the instance.

Lazy so that a request failing validation never pays for boto3 client construction. boto3 honours
AWS_ENDPOINT_URL, which is how the local stack points every client at its emulator.
"""

from __future__ import annotations

import threading
from typing import Any

from kyc_gateway.lazy import once

# The AWS services the gateway calls. The built layer ships botocore's data for these only
# (build_steps/slim_botocore.py): a client of another service fails here in every test rather than on Lambda.
SERVICES = frozenset({"dynamodb", "events", "s3", "secretsmanager", "sqs"})
# And the two its deploy hook calls (kyc_gateway.deploy_hook, with clients of its own): the layer ships their data too.
SHIPPED_SERVICES = SERVICES | {"codedeploy", "lambda"}

_CREATING = threading.Lock()  # a botocore session builds clients one at a time (it is not thread-safe)


@once
def client(service: str) -> Any:
    """The instance's client of `service`, with botocore's standard retries."""
    return _new_client(service, connect_timeout=2, read_timeout=5, attempts=3)


@once
def quick_client(service: str) -> Any:
    """A client for calls that the gateway retries itself within its own budget: short timeouts, one attempt.

    Its calls (the audit record's put, a webhook's send) carry only what the gateway's own code builds, so botocore's
    check of their parameters against the service model is skipped: about 0.1 ms of CPU on every warm request
    (`make bench`). A malformed call then fails in botocore's serializer or at the service instead, and is counted
    as that write's failure like any other; the tests still check every call of this client (tests/conftest.py)."""
    return _new_client(service, connect_timeout=1, read_timeout=2, attempts=1, validate=False)


@once
def _session() -> Any:
    """One session for every client: a session loads botocore's endpoint and service data once, so each further
    client costs a fraction of the first (a session per client read the same JSON again, ~25 ms of CPU each)."""
    import boto3

    return boto3.session.Session()


def _new_client(
    service: str, *, connect_timeout: float, read_timeout: float, attempts: int, validate: bool = True
) -> Any:
    if service not in SERVICES:
        raise ValueError(f"{service} is not in kyc_gateway.aws.SERVICES: the layer ships no botocore data for it")
    from botocore.config import Config

    retries = {"total_max_attempts": attempts, "mode": "standard"}  # max_attempts would count retries only
    config = Config(
        connect_timeout=connect_timeout, read_timeout=read_timeout, retries=retries, parameter_validation=validate
    )
    with _CREATING:
        made = _session().client(service, config=config)
        # Its exception classes, which botocore builds on first use without a lock: two threads meeting a first
        # error together would each build their own, and `except conditional_check_failed()` could name the other's
        made.exceptions  # noqa: B018
        return made


def conditional_check_failed() -> type[Exception]:
    """The exception DynamoDB raises when a ConditionExpression is not met."""
    return client("dynamodb").exceptions.ConditionalCheckFailedException
