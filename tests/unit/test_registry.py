"""The provider registry is the one list of providers: the template, events/, the local secrets, the sandbox, the
clients and the docs agree with it, so adding a provider is adding to it (docs/adding-a-provider.md)."""

from __future__ import annotations

import importlib
import inspect
import json
import re
import threading
import tomllib
from collections.abc import Callable
from functools import partial
from types import SimpleNamespace
from typing import Any

import pytest

from kyc_gateway.providers.base import ProviderClient
from kyc_gateway.registry import FUNCTIONS, PROVIDERS, FunctionEntry, ProviderEntry
from local.aws_resources import load_local_secrets, secret_provider_name
from local.functions import load_handler
from project import template as cfn
from tests.support.routes import provider_of
from tests.unit.test_docs_inventory import NUMBERS
from tests.unit.test_sandbox_docs import documented_operations

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


# What a provider's sandbox class asks of the server serving it (local.sandbox.common.SandboxServices), enough to
# build one alone for its route table
SANDBOX_SERVICES = SimpleNamespace(
    lock=threading.RLock(), pause=lambda: None, schedule=lambda delay, action: None, post_webhook=lambda *_: None
)


def _present(check: Callable[[], bool]) -> bool:
    try:
        return bool(check())
    except (ImportError, AttributeError, ValueError, KeyError, OSError):  # OSError: a file not written yet
        return False


def _parts(entry: ProviderEntry, registered: tuple[FunctionEntry, ...] = FUNCTIONS) -> dict[str, bool]:
    """Everything a registered provider must bring of its own (docs/adding-a-provider.md), and whether it is there.
    `registered`: the registry's functions (with the provider's own, for a provider not in the registry)."""
    root, docs, tests = cfn.ROOT, cfn.ROOT / "docs", cfn.ROOT / "tests" / "integration"
    samconfig = tomllib.loads((root / "samconfig.toml").read_text())
    smoke = tomllib.loads((root / "smoke.toml").read_text())
    functions = [function for function in registered if function.provider == entry.name]
    routes = [function for function in functions if function.path]
    # What the README and docs/architecture.md count (test_docs_inventory.py), with this provider and its functions
    provider_names = {provider.name for provider in PROVIDERS} | {entry.name}
    unregistered = set(cfn.lambda_functions()) - {function.logical_id for function in FUNCTIONS}  # the deploy hook
    providers, secrets = NUMBERS[len(provider_names)], NUMBERS[len(OWN_SECRETS) + len(provider_names)]
    lambdas = NUMBERS[len(unregistered | {function.logical_id for function in registered})]

    def sandbox() -> Any:
        return importlib.import_module(entry.sandbox)

    def readme(section: str) -> str:  # "providers": before `## Routes`; "routes": its table
        page = (root / "README.md").read_text().split("## Routes", 1)
        return page[0] if section == "providers" else page[1].split("\n## ", 1)[0]

    def documented_in_sandbox_md() -> bool:  # its own route table, built alone (not the whole sandbox's)
        provider_class = sandbox().PROVIDER
        options = {option.name: option.default for option in provider_class.options}
        provider = provider_class(SANDBOX_SERVICES, sandbox().LOCAL_SECRETS[entry.name], options)
        served = {(operation, f"{method} {path}") for (method, path), (operation, _) in provider.routes().items()}
        rows = {(operation, endpoint) for name, operation, endpoint in documented_operations() if name == entry.name}
        return bool(served) and rows == served

    def in_error_mapping() -> bool:
        mapping = importlib.import_module("tests.integration.routes.test_error_mapping")
        rows = importlib.import_module(f"tests.integration.routes.error_rows.{entry.name}").ROWS
        own = {function.logical_id for function in routes}
        in_routes = any(route.function in own for route in mapping.ROUTES.values())
        return in_routes and bool(rows) and all(row in mapping.TABLE for row in rows)

    def audited(function: FunctionEntry) -> bool:
        records = importlib.import_module("tests.integration.test_audit_records")
        return function.logical_id in records.EXPECTED_SUBJECTS and bool(records.OPERATIONS[function.logical_id])

    def in_client(function: FunctionEntry) -> bool:
        client = importlib.import_module("kyc_gateway_client")
        return any(
            (route.method, route.path, route.write) == (function.method, function.path, function.write)
            and callable(getattr(client.GatewayClient, name))
            for name, route in client.ROUTES.items()
        )

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
        f"its row in README.md's providers table ({entry.label})": lambda: bool(
            re.search(rf"^\| {re.escape(entry.label)}\b", readme("providers"), re.MULTILINE)
            or f"| {entry.title} " in readme("providers")
        ),
        f"README.md's count: in front of {providers} identity/KYC providers": lambda: (
            f"in front of {providers} identity/KYC providers" in readme("providers")
        ),
        f"docs/architecture.md's counts: {lambdas} Lambda functions, {secrets} Secrets Manager secrets": lambda: all(
            re.search(phrase.replace(" ", r"\s+"), (docs / "architecture.md").read_text().split("\n## ", 1)[0])
            for phrase in (f"{lambdas} Lambda functions", f"{secrets} Secrets Manager secrets")
        ),
        f"its operations' rows in docs/sandbox.md's operations table (| {entry.name} | `operation` | ...)": (
            documented_in_sandbox_md
        ),
    }
    if routes:
        parts[f"its route in test_error_mapping.py's ROUTES, its rows (error_rows/{entry.name}.py) in TABLE"] = (
            in_error_mapping
        )
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
        parts[f"`{named}` in README.md's routes table"] = lambda n=named: f"| `{n}` |" in readme("routes")
        parts[f"`{named}` in the client's ROUTES, with its method (kyc_gateway_client/client.py)"] = partial(
            in_client, function
        )
        parts[f"{function.logical_id} in test_audit_records.py's EXPECTED_SUBJECTS and OPERATIONS"] = partial(
            audited, function
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
    # Given a provider added to the registry alone, with one route
    # (named unlike the docs' example, so that a maintainer following them is not told about this one)
    nemo = ProviderEntry("nemo", "Nemo", "Nemo KYC", "NEMO", "https://x.example", "/", "", "kyc_gateway.providers.nemo")
    lookup = FunctionEntry(
        "NemoLookupFunction", "nemo.lookup", "nemo_lookup", "", provider="nemo", method="POST", path="/nemo/lookup"
    )

    # When its parts are checked, Then each one of its own is missing, each named (none stops the check)
    missing = [part for part, present in _parts(nemo, (*FUNCTIONS, lookup)).items() if not present]
    lambdas = NUMBERS[len(set(cfn.lambda_functions()) | {function.logical_id for function in FUNCTIONS}) + 1]
    providers = NUMBERS[len(PROVIDERS) + 1]
    secrets = NUMBERS[len(OWN_SECRETS) + len(PROVIDERS) + 1]

    assert missing == [
        "its client module, with its ProviderClient",
        "its success bodies' schemas, kyc_gateway/answers/nemo.py",
        "its sandbox module's PROVIDER",
        "its sandbox module's LOCAL_SECRETS",
        "docs/providers/nemo.md",
        "its section in docs/errors.md and docs/sandbox.md (### Nemo KYC)",
        "tests/integration/sandbox/test_nemo.py",
        "tests/integration/routes/test_nemo*.py",
        "its row in README.md's providers table (Nemo KYC)",
        f"README.md's count: in front of {providers} identity/KYC providers",
        f"docs/architecture.md's counts: {lambdas} Lambda functions, {secrets} Secrets Manager secrets",
        "its operations' rows in docs/sandbox.md's operations table (| nemo | `operation` | ...)",
        "its route in test_error_mapping.py's ROUTES, its rows (error_rows/nemo.py) in TABLE",
        "its smoke_read in the registry (a read route make smoke calls after a deploy)",
        "its first-deploy `put-secret-value` in docs/configuration.md (--secret-id kyc-gateway/dev/nemo, every field)",
        "functions/nemo_lookup/app.py",
        "events/NemoLookupFunction.json",
        "`POST /nemo/lookup` named in docs/providers/nemo.md and docs/errors.md",  # the page is missing: still listed
        "`POST /nemo/lookup` in README.md's routes table",
        "`POST /nemo/lookup` in the client's ROUTES, with its method (kyc_gateway_client/client.py)",
        "NemoLookupFunction in test_audit_records.py's EXPECTED_SUBJECTS and OPERATIONS",
        "its base URL in samconfig.toml [dev]",
        "its base URL in samconfig.toml [prod]",
        "its base URL in samconfig.toml [ci-dev]",
        "its base URL in samconfig.toml [ci-prod]",
    ]
