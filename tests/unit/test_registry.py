"""The provider registry is the one list of providers: the template, events/, the local secrets, the sandbox, the
clients and the docs agree with it, so adding a provider is adding to it (docs/adding-a-provider.md)."""

from __future__ import annotations

import importlib
import inspect
import json

import pytest

from kyc_gateway.providers.base import ProviderClient
from kyc_gateway.providers.registry import PROVIDERS, ProviderEntry
from local import template as cfn
from local.aws_resources import load_local_secrets, secret_provider_name
from tests.support.routes import provider_of

TEMPLATE = cfn.load()
RESOURCES = cfn.resources(TEMPLATE)
ENTRIES = pytest.mark.parametrize("entry", PROVIDERS, ids=[entry.name for entry in PROVIDERS])
# Secrets that belong to no provider's credentials: the token in the gateway's own connectFi webhook URL.
OWN_SECRETS = {"ConnectFiWebhookSecret"}


def client_class(entry: ProviderEntry) -> type[ProviderClient]:
    module = importlib.import_module(entry.client)
    (found,) = [
        value
        for value in vars(module).values()
        if inspect.isclass(value) and issubclass(value, ProviderClient) and value is not ProviderClient
    ]
    return found


@ENTRIES
def test_each_provider_has_its_template_parameter_and_secret(entry):
    assert entry.base_url_parameter in TEMPLATE["Parameters"]
    assert RESOURCES[entry.secret]["Type"] == "AWS::SecretsManager::Secret"
    assert secret_provider_name(entry.secret) == entry.name  # its section of local/secrets.local.json


@ENTRIES
def test_each_providers_client_sandbox_and_docs_exist_under_its_name(entry):
    assert client_class(entry).name == entry.name
    assert importlib.import_module(entry.sandbox).PROVIDER.name == entry.name
    assert (cfn.ROOT / "docs" / "providers" / f"{entry.name}.md").is_file()


@ENTRIES
def test_each_providers_sample_local_secret_is_valid_for_its_client(entry):
    client_class(entry).secret_model.model_validate(load_local_secrets()[entry.name])


def test_nothing_in_the_template_is_a_provider_the_registry_does_not_know():
    base_url_parameters = {
        name for name in TEMPLATE["Parameters"] if name.endswith("BaseUrl") and name != "PublicBaseUrl"
    }
    assert base_url_parameters == {entry.base_url_parameter for entry in PROVIDERS}
    secrets = {name for name, resource in RESOURCES.items() if resource["Type"] == "AWS::SecretsManager::Secret"}
    assert secrets - OWN_SECRETS == {entry.secret for entry in PROVIDERS}


def test_each_function_is_configured_with_its_providers_own_names():
    for logical_id, spec in cfn.functions().items():
        variables = spec.properties["Environment"]["Variables"]
        entry = provider_of(spec)
        if entry is None:
            assert not any(name.endswith("_BASE_URL") for name in variables), logical_id
            continue
        assert variables[entry.base_url_variable] == {"Ref": entry.base_url_parameter}, logical_id
        assert variables[entry.secret_id_variable] == {"Ref": entry.secret}, logical_id


def test_each_provider_route_has_a_default_sample_event_and_every_event_names_a_function():
    # (tests/integration/test_events.py runs each against the sandbox: the default one must succeed)
    functions = cfn.functions()
    for logical_id, spec in functions.items():
        if provider_of(spec) and spec.api_events:
            event = json.loads((cfn.ROOT / "events" / f"{logical_id}.json").read_text())
            assert json.loads(event["body"]), logical_id
    for path in (cfn.ROOT / "events").glob("*.json"):
        assert path.name == "env.json" or path.name.split(".")[0] in functions, path.name
