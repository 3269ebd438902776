"""Shared fixtures: emulated AWS (moto) built from template.yaml, a scriptable provider double on 127.0.0.1,
and a `gateway` that invokes the real handlers with API Gateway proxy events."""

from __future__ import annotations

import io
import json
import logging
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# Never reach a real AWS account from tests, whatever the developer's shell holds.
for _name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
    os.environ.pop(_name, None)
os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_DEFAULT_REGION="us-east-1",
    POWERTOOLS_METRICS_NAMESPACE="KycGateway",
)

import boto3  # noqa: E402
from moto import mock_aws  # noqa: E402

from local import template as cfn  # noqa: E402
from local.api_events import proxy_event  # noqa: E402
from local.atomic_emulator import serialize_mock_aws  # noqa: E402
from local.aws_resources import load_local_secrets, provision  # noqa: E402
from local.functions import cold_start, invoke  # noqa: E402
from local.sandbox import ProviderSandbox  # noqa: E402
from tests.support.fake_provider import FakeProvider  # noqa: E402

SECRETS = load_local_secrets()


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    text: str

    def json(self) -> Any:
        return json.loads(self.text)

    @property
    def error(self) -> dict[str, Any]:
        return self.json()["error"]


class Gateway:
    """The deployed functions, run in-process against moto and the provider double."""

    def __init__(self, provider: FakeProvider | ProviderSandbox, physical_ids: dict[str, str]) -> None:
        self.provider = provider
        self.physical_ids = physical_ids

    def call(
        self,
        function: str,
        body: Any = None,
        *,
        raw: str | bytes | None = None,
        headers: Iterable[tuple[str, str]] = (),
    ) -> Answer:
        spec = cfn.functions()[function]
        method, path = spec.api_events[0]
        payload = raw if raw is not None else json.dumps(body)
        event = proxy_event(method, path, headers=[("Content-Type", "application/json"), *headers], body=payload)
        result = invoke(spec, event)
        return Answer(result["statusCode"], result["headers"], result["body"])

    def new_instance(self) -> None:
        """Start over as a fresh Lambda instance: nothing cached in memory (DynamoDB keeps what it has)."""
        cold_start()


@pytest.fixture
def aws() -> Iterator[boto3.session.Session]:
    serialize_mock_aws()  # AWS applies each request atomically; moto needs a lock for that
    with mock_aws():
        yield boto3.session.Session()


@pytest.fixture
def provider() -> Iterator[FakeProvider]:
    fake = FakeProvider().start()
    yield fake
    fake.stop()


def base_urls(provider_url: str) -> dict[str, str]:
    """Template parameters pointing every provider at `provider_url`, each under a path prefix (which the gateway
    must keep)."""
    return {
        "CladfyBaseUrl": f"{provider_url}/cladfy/api/v1",
        "SignzyBaseUrl": f"{provider_url}/signzy",
        "CdpBaseUrl": f"{provider_url}/cdp",
        "ConnectFiBaseUrl": f"{provider_url}/connectfi",
        "PublicBaseUrl": "https://gateway.test",
    }


def deploy(session: boto3.session.Session, provider_url: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Create the template's resources in moto and give this process the functions' environment."""
    parameters = {"Environment": "local", **base_urls(provider_url)}
    physical_ids = provision(session, SECRETS, parameters)
    for logical_id in cfn.functions():
        for name, value in cfn.function_environment(logical_id, physical_ids, parameters).items():
            monkeypatch.setenv(name, value)
    # Short provider timeouts keep timeout tests fast; the behaviour is the same as with the defaults.
    monkeypatch.setenv("PROVIDER_READ_TIMEOUT_SECONDS", "1")
    monkeypatch.setenv("PROVIDER_BUDGET_SECONDS", "4")
    return physical_ids


@pytest.fixture
def gateway(aws: boto3.session.Session, provider: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> Iterator[Gateway]:
    """The functions against the scriptable provider double."""
    physical_ids = deploy(aws, provider.url, monkeypatch)
    cold_start()
    yield Gateway(provider, physical_ids)
    cold_start()


@pytest.fixture(scope="session")
def sandbox() -> Iterator[ProviderSandbox]:
    """The local provider sandbox (all four providers, documented magic inputs)."""
    with ProviderSandbox(SECRETS, slow_seconds=2, quiet=True) as running:
        yield running


@pytest.fixture
def sandboxed_gateway(
    aws: boto3.session.Session, sandbox: ProviderSandbox, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Gateway]:
    """The functions against the provider sandbox, reset (no pending fault, token or application of another test)."""
    sandbox.reset()
    physical_ids = deploy(aws, sandbox.url, monkeypatch)
    cold_start()
    yield Gateway(sandbox, physical_ids)
    cold_start()


@pytest.fixture
def logs(capsys: pytest.CaptureFixture[str]) -> Iterator[Callable[[], str]]:
    """Everything the functions wrote: Powertools log lines (as formatted for CloudWatch) and EMF metrics."""
    from kyc_gateway.observability import logger

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logger.registered_formatter)
    logger._logger.addHandler(handler)
    yield lambda: stream.getvalue() + capsys.readouterr().out
    logger._logger.removeHandler(handler)


@pytest.fixture
def secrets_manager(aws: boto3.session.Session) -> Any:
    return aws.client("secretsmanager")
