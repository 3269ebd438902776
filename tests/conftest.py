"""Shared fixtures: emulated AWS (moto) built from template.yaml, a scriptable provider double on 127.0.0.1,
and a `gateway` that invokes the real handlers with API Gateway proxy events."""

from __future__ import annotations

import json
import os
import sys
import time
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
    # Each test starts from empty queues; real SQS (and moto by default) allows one purge a minute per queue.
    MOTO_SQS_ENFORCE_STRICT_QUEUE_PURGE_BEHAVIOUR="false",
)
TIERS = ("unit", "integration", "e2e")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Each test's tier is its directory: unit (no servers), integration (in-process handlers with the AWS emulator
    and provider doubles), e2e (`make run` as a subprocess, schemathesis)."""
    for item in items:
        tier = next((part for part in Path(str(item.path)).relative_to(ROOT / "tests").parts if part in TIERS), None)
        if tier is None:
            raise pytest.UsageError(f"{item.nodeid} is in no tier directory (tests/unit, integration or e2e)")
        item.add_marker(getattr(pytest.mark, tier))


import boto3  # noqa: E402
from moto import mock_aws  # noqa: E402

from kyc_gateway.registry import PROVIDERS  # noqa: E402
from local.api_events import proxy_event  # noqa: E402
from local.atomic_emulator import serialize_mock_aws  # noqa: E402
from local.aws_resources import load_local_secrets, provision  # noqa: E402
from local.functions import cold_start, invoke  # noqa: E402
from local.sandbox import ProviderSandbox  # noqa: E402
from project import template as cfn  # noqa: E402
from tests.support.clock import FakeClock, StoppedClock  # noqa: E402
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


class Emulator:
    """The AWS emulator (moto, in process), with the template's resources created once per test session. Each test
    starts from the same state: the template's tables and queues empty, its secrets at their original values,
    nothing else."""

    def __init__(self, session: boto3.session.Session) -> None:
        self.session = session
        self.physical_ids = provision(session, SECRETS, {"Environment": "local"})
        self._secrets = {
            arn: self.session.client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"]
            for logical_id, arn in self.physical_ids.items()
            if cfn.resources()[logical_id.split(".")[0]]["Type"] == "AWS::SecretsManager::Secret"
            and "." not in logical_id
        }

    def reset(self) -> None:
        dynamodb, sqs = self.session.client("dynamodb"), self.session.client("sqs")
        tables = {self.physical_ids[name] for name, r in cfn.resources().items() if r["Type"] == "AWS::DynamoDB::Table"}
        for table in dynamodb.list_tables()["TableNames"]:
            if table not in tables:
                dynamodb.delete_table(TableName=table)
                continue
            key_names = [key["AttributeName"] for key in dynamodb.describe_table(TableName=table)["Table"]["KeySchema"]]
            for item in dynamodb.scan(TableName=table)["Items"]:
                dynamodb.delete_item(TableName=table, Key={name: item[name] for name in key_names})
        queues = {self.physical_ids[name] for name, r in cfn.resources().items() if r["Type"] == "AWS::SQS::Queue"}
        for url in sqs.list_queues().get("QueueUrls", []):
            if url in queues:
                sqs.purge_queue(QueueUrl=url)
            else:
                sqs.delete_queue(QueueUrl=url)
        for arn, value in self._secrets.items():
            self.session.client("secretsmanager").put_secret_value(SecretId=arn, SecretString=value)
        events = self.session.client("events")
        for rule in events.list_rules()["Rules"]:
            targets = [target["Id"] for target in events.list_targets_by_rule(Rule=rule["Name"])["Targets"]]
            if targets:
                events.remove_targets(Rule=rule["Name"], Ids=targets)
            events.delete_rule(Name=rule["Name"])


@pytest.fixture(autouse=True, scope="session")
def _quick_client_calls_checked() -> Iterator[None]:
    """The quick client leaves parameter checks to the service (kyc_gateway.aws.quick_client), and moto checks less
    than AWS: in tests botocore still checks each of its calls, so a malformed audit record or webhook send fails
    the test that made it, not first on AWS."""
    from botocore.validate import validate_parameters

    from kyc_gateway import aws

    unchecked = aws._new_client

    def checked(service: str, **options: Any) -> Any:
        client = unchecked(service, **options)
        if not options.get("validate", True):
            client.meta.events.register(
                "before-parameter-build", lambda params, model, **_: validate_parameters(params, model.input_shape)
            )
        return client

    aws._new_client = checked
    yield
    aws._new_client = unchecked


@pytest.fixture(scope="session")
def emulator() -> Iterator[Emulator]:
    serialize_mock_aws()  # AWS applies each request atomically; moto needs a lock for that
    with mock_aws():
        yield Emulator(boto3.session.Session())


@pytest.fixture
def aws(emulator: Emulator) -> boto3.session.Session:
    """The emulated AWS account, in the state the template creates."""
    emulator.reset()
    return emulator.session


@pytest.fixture
def physical_ids(aws: boto3.session.Session, emulator: Emulator) -> dict[str, str]:
    """What `!Ref` / `!GetAtt` give for each of the template's resources in the emulator."""
    return emulator.physical_ids


@pytest.fixture(scope="session")
def _provider_server() -> Iterator[FakeProvider]:
    fake = FakeProvider().start()
    yield fake
    fake.stop()


@pytest.fixture
def provider(_provider_server: FakeProvider) -> FakeProvider:
    """The scriptable provider double, with nothing scripted and nothing recorded yet."""
    _provider_server.reset()
    return _provider_server


def base_urls(provider_url: str) -> dict[str, str]:
    """Template parameters pointing every provider at `provider_url`, each under the path prefix the sandbox serves
    it at (which the gateway must keep)."""
    prefixes = ProviderSandbox.prefixes()
    parameters = {entry.base_url_parameter: provider_url + prefixes[entry.name] for entry in PROVIDERS}
    return parameters | {"PublicBaseUrl": "https://gateway.test"}


def deploy(physical_ids: dict[str, str], provider_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Give this process the functions' environment (from the template), with every provider at `provider_url`."""
    parameters = {"Environment": "local", **base_urls(provider_url)}
    for logical_id in cfn.functions():
        for name, value in cfn.function_environment(logical_id, physical_ids, parameters).items():
            monkeypatch.setenv(name, value)


class ProviderTimeouts:
    """Switches the functions between a 1 s read timeout within a 4 s budget, for the one call of a test that meets
    a provider not answering in time (its double waits 2 s or more), and the defaults a loaded machine needs, for
    every other call. Each switch is a new instance (settings are read once per instance; tokens stay shared)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self._monkeypatch = monkeypatch

    def short(self) -> None:
        self._monkeypatch.setenv("PROVIDER_READ_TIMEOUT_SECONDS", "1")
        self._monkeypatch.setenv("PROVIDER_BUDGET_SECONDS", "4")
        cold_start()

    def default(self) -> None:
        self._monkeypatch.delenv("PROVIDER_READ_TIMEOUT_SECONDS", raising=False)
        self._monkeypatch.delenv("PROVIDER_BUDGET_SECONDS", raising=False)
        cold_start()


@pytest.fixture
def provider_timeouts(monkeypatch: pytest.MonkeyPatch) -> ProviderTimeouts:
    return ProviderTimeouts(monkeypatch)


@pytest.fixture
def short_provider_timeouts(provider_timeouts: ProviderTimeouts) -> None:
    """Short timeouts for a test whose only provider call is one that does not answer in time."""
    provider_timeouts.short()


@pytest.fixture
def gateway(physical_ids: dict[str, str], provider: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> Iterator[Gateway]:
    """The functions against the scriptable provider double."""
    deploy(physical_ids, provider.url, monkeypatch)
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
    physical_ids: dict[str, str], sandbox: ProviderSandbox, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Gateway]:
    """The functions against the provider sandbox, reset (no pending fault, token or application of another test)."""
    sandbox.reset()
    deploy(physical_ids, sandbox.url, monkeypatch)
    cold_start()
    yield Gateway(sandbox, physical_ids)
    cold_start()


@pytest.fixture
def uuid_documents_gateway(physical_ids: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Gateway]:
    """The functions against a sandbox of their own whose connectFi answers generated documents' ids as UUIDs."""
    with ProviderSandbox(SECRETS, quiet=True, connectfi_document_ids="uuid") as running:
        deploy(physical_ids, running.url, monkeypatch)
        cold_start()
        yield Gateway(running, physical_ids)
    cold_start()


@pytest.fixture
def logs(capsys: pytest.CaptureFixture[str]) -> Callable[[], str]:
    """Everything the functions wrote so far, as CloudWatch gets it from stdout: log lines and EMF metrics."""
    written: list[str] = []

    def read() -> str:
        written.append(capsys.readouterr().out)
        return "".join(written)

    return read


def _install[C: FakeClock](fake: C, monkeypatch: pytest.MonkeyPatch) -> C:
    from kyc_gateway import clock as gateway_clock

    for name in ("now", "monotonic", "sleep"):
        monkeypatch.setattr(gateway_clock, name, getattr(fake, name))
    return fake


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """The gateway's clock, moved by the test instead of waited for."""
    return _install(FakeClock(), monkeypatch)


@pytest.fixture
def stopped_clock(monkeypatch: pytest.MonkeyPatch) -> StoppedClock:
    """The gateway's clock, standing still but for the test's `advance` and the gateway's sleeps (recorded, not
    waited for)."""
    return _install(StoppedClock(), monkeypatch)


@pytest.fixture
def secrets_manager(aws: boto3.session.Session) -> Any:
    return aws.client("secretsmanager")


@pytest.fixture
def machine_zone():
    """Sets the process's local time zone (put back after the test)."""
    original = os.environ.get("TZ")

    def set_zone(zone: str) -> None:
        os.environ["TZ"] = zone
        time.tzset()

    yield set_zone
    if original is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = original
    time.tzset()
