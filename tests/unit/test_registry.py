"""The provider registry is the one list of providers: the template, events/, the local secrets, the sandbox, the
clients and the docs agree with it, so adding a provider is adding to it (docs/adding-a-provider.md)."""

from __future__ import annotations

import importlib
import inspect
import json
import tomllib
from collections.abc import Callable
from typing import Any

import pytest

from kyc_gateway.providers.base import ProviderClient
from kyc_gateway.registry import FUNCTIONS, PROVIDERS, ProviderEntry
from local.aws_resources import load_local_secrets, secret_provider_name
from local.functions import load_handler
from project import template as cfn
from tests.support.routes import provider_of

TEMPLATE = cfn.load()
RESOURCES = cfn.resources(TEMPLATE)
ENTRIES = pytest.mark.parametrize("entry", PROVIDERS, ids=[entry.name for entry in PROVIDERS])
# Secrets that belong to no provider's credentials: the token in the gateway's own connectFi webhook URL, the audit
# trail's fingerprint keys.
OWN_SECRETS = {"ConnectFiWebhookSecret", "AuditKeySecret"}


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
def test_each_provider_declares_the_subjects_it_is_audited_under_in_a_known_canonical_form(entry):
    from kyc_gateway.audit import CANONICAL_FORMS

    assert entry.subject_kinds, f"{entry.name}: no subject_kinds (docs/audit.md)"
    assert all(kind.form in CANONICAL_FORMS and kind.what for kind in entry.subject_kinds)
    assert len({kind.name for kind in entry.subject_kinds}) == len(entry.subject_kinds)


def test_each_provider_route_and_only_those_audits_its_requests_under_its_provider():
    # (http_route refuses a provider route whose request model has no audit_subjects)
    for logical_id, spec in cfn.functions().items():
        if spec.api_events:
            entry = provider_of(spec)
            assert load_handler(spec).audited_provider == (entry.name if entry else None), (
                f"{logical_id}: its handler's route (http_route's first argument) must be its route in registry.py, "
                "under its provider's name"
            )


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
    lambdas = cfn.lambda_functions()
    for path in (cfn.ROOT / "events").glob("*.json"):
        assert path.name == "env.json" or path.name.split(".")[0] in lambdas, path.name


def test_every_api_sample_event_reaches_its_functions_route():
    # Given each sample event of a function with an API route, and that route in the registry
    routes = {function.logical_id: function for function in FUNCTIONS if function.path}
    for path in (cfn.ROOT / "events").glob("*.json"):
        function = routes.get(path.name.split(".")[0])
        if function is None:
            continue
        event = json.loads(path.read_text())
        # Then its method and resource are the route's, and its path the route's with its parameters filled in
        resource = function.path
        for name, value in (event.get("pathParameters") or {}).items():
            resource = resource.replace(f"{{{name}}}", value)
        assert (event["httpMethod"], event["resource"], event["path"]) == (function.method, function.path, resource), (
            f"{path.name}: not the route of {function.logical_id} in registry.py"
        )
        context = event["requestContext"]
        assert (context["httpMethod"], context["resourcePath"]) == (function.method, function.path), path.name


def _present(check: Callable[[], bool]) -> bool:
    try:
        return bool(check())
    except (ImportError, AttributeError, ValueError, KeyError):
        return False


def _parts(entry: ProviderEntry) -> dict[str, bool]:
    """Everything a registered provider must bring of its own (docs/adding-a-provider.md), and whether it is there."""
    root, docs, tests = cfn.ROOT, cfn.ROOT / "docs", cfn.ROOT / "tests" / "integration"
    samconfig = tomllib.loads((root / "samconfig.toml").read_text())
    smoke = tomllib.loads((root / "smoke.toml").read_text())
    functions = [function for function in FUNCTIONS if function.provider == entry.name]
    routes = [function for function in functions if function.path]

    def sandbox() -> Any:
        return importlib.import_module(entry.sandbox)

    parts = {
        "its client module, with its ProviderClient": lambda: client_class(entry).name == entry.name,
        f"its success bodies' schemas, kyc_gateway/answers/{entry.name}.py": lambda: (
            {function.route for function in routes}
            <= importlib.import_module(f"kyc_gateway.answers.{entry.name}").ANSWERS.keys()
        ),
        "its sandbox module's PROVIDER": lambda: sandbox().PROVIDER.name == entry.name,
        "its sandbox module's LOCAL_SECRETS": lambda: entry.name in sandbox().LOCAL_SECRETS,
        f"docs/providers/{entry.name}.md": (docs / "providers" / f"{entry.name}.md").is_file,
        f"its section in docs/errors.md and docs/sandbox.md (### {entry.label})": lambda: all(
            f"### {entry.label}" in (docs / page).read_text() for page in ("errors.md", "sandbox.md")
        ),
        f"tests/integration/sandbox/test_{entry.name}.py": (tests / "sandbox" / f"test_{entry.name}.py").exists,
        f"tests/integration/routes/test_{entry.name}*.py": lambda: any((tests / "routes").glob(f"test_{entry.name}*")),
        "a function in the registry": lambda: bool(functions),
    }
    if any(not function.write for function in routes):  # a read proves a deployment reaches it (make smoke)
        parts["its smoke_read in the registry (a read route make smoke calls after a deploy)"] = lambda: bool(
            entry.smoke_read
        )
    secret_command = f"--secret-id kyc-gateway/dev/{entry.name}"
    parts[f"its first-deploy `put-secret-value` in docs/configuration.md ({secret_command}, every field)"] = lambda: (
        _secret_command_names_every_field((docs / "configuration.md").read_text(), secret_command, entry)
    )
    for function in functions:
        code, event = root / "functions" / function.code / "app.py", root / "events" / f"{function.logical_id}.json"
        parts[f"functions/{function.code}/app.py"] = code.is_file
        parts[f"events/{function.logical_id}.json"] = event.is_file
    for function in routes:
        named = f"{function.method} {function.path}"
        parts[f"`{named}` named in docs/providers/{entry.name}.md and docs/errors.md"] = lambda n=named: all(
            n in (docs / page).read_text() for page in (f"providers/{entry.name}.md", "errors.md")
        )
    for environment in (
        name for name, section in samconfig.items() if isinstance(section, dict) and "deploy" in section
    ):
        overrides = samconfig[environment]["deploy"]["parameters"]["parameter_overrides"]
        parts[f"its base URL in samconfig.toml [{environment}]"] = lambda o=overrides: entry.base_url_parameter in o
    for environment in (name for name, section in smoke.items() if isinstance(section, dict) and entry.smoke_read):
        parts[f"its identifiers in smoke.toml [{environment}.{entry.name}]"] = lambda e=environment: (
            entry.name in smoke[e]
        )
    return {part: _present(check) for part, check in parts.items()}


def _secret_command_names_every_field(page: str, command: str, entry: ProviderEntry) -> bool:
    """The page's `put-secret-value` for the provider's secret gives every field its client reads."""
    start = page.index(command)
    end = page.find("aws secretsmanager", start + 1)  # the next command, or the page's end
    written = page[start : end if end != -1 else None]
    fields = client_class(entry).secret_model.model_fields
    return all(f'"{field.alias or name}"' in written for name, field in fields.items())


@ENTRIES
def test_each_registered_provider_has_every_part_of_its_own(entry):
    missing = [part for part, present in _parts(entry).items() if not present]
    assert not missing, f"{entry.name} lacks (docs/adding-a-provider.md):\n  " + "\n  ".join(missing)


def test_a_provider_only_registered_is_told_every_part_it_lacks():
    # Given a provider added to the registry alone
    # (named unlike the docs' example, so that a maintainer following them is not told about this one)
    nemo = ProviderEntry("nemo", "Nemo", "Nemo KYC", "NEMO", "https://x.example", "/", "", "kyc_gateway.providers.nemo")

    # When its parts are checked, Then each one of its own is missing
    missing = [part for part, present in _parts(nemo).items() if not present]

    assert missing == [
        "its client module, with its ProviderClient",
        "its success bodies' schemas, kyc_gateway/answers/nemo.py",
        "its sandbox module's PROVIDER",
        "its sandbox module's LOCAL_SECRETS",
        "docs/providers/nemo.md",
        "its section in docs/errors.md and docs/sandbox.md (### Nemo KYC)",
        "tests/integration/sandbox/test_nemo.py",
        "tests/integration/routes/test_nemo*.py",
        "a function in the registry",
        "its first-deploy `put-secret-value` in docs/configuration.md (--secret-id kyc-gateway/dev/nemo, every field)",
        "its base URL in samconfig.toml [dev]",
        "its base URL in samconfig.toml [prod]",
        "its base URL in samconfig.toml [ci-dev]",
        "its base URL in samconfig.toml [ci-prod]",
    ]
