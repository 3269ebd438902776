"""The layer's modules under mutation testing: the tests each is run against, and the share of its mutants they must
kill. The modules that decide whether a write reaches a provider twice, or a caller waits past its deadline, are
held to 90%; the rest of the layer's API edge, errors and providers to 85%."""

from __future__ import annotations

from dataclasses import dataclass

CORE, REST = 0.90, 0.85


@dataclass(frozen=True)
class MutatedModule:
    path: str  # relative to the kyc_gateway package
    goal: float
    tests: tuple[str, ...]  # the tests that cover it (mutmut runs, for each mutant, those that reach its function)

    @property
    def slug(self) -> str:
        return self.path.removesuffix(".py").replace("/", ".")


_ROUTES = "tests/integration/routes"
_ERRORS = f"{_ROUTES}/test_error_mapping.py"

MODULES = (
    MutatedModule(
        "http.py",
        CORE,
        (
            "tests/integration/test_provider_http.py",
            "tests/integration/test_provider_http_failures.py",
            "tests/unit/test_circuit_breaker.py",
            "tests/integration/test_request_deadline.py",
        ),
    ),
    MutatedModule(
        "token_cache.py", CORE, ("tests/integration/test_token_cache.py", "tests/integration/test_token_leases.py")
    ),
    MutatedModule(
        "idempotency_keys.py",
        CORE,
        (f"{_ROUTES}/test_idempotency_keys.py", f"{_ROUTES}/test_done_writes.py"),
    ),
    MutatedModule("claims.py", CORE, ("tests/integration/test_claims.py",)),
    MutatedModule("secrets.py", CORE, ("tests/integration/test_secrets.py",)),
    MutatedModule(
        "provider_response.py",
        CORE,
        (
            "tests/unit/test_provider_response.py",
            f"{_ROUTES}/test_done_writes.py",
            _ERRORS,
            "tests/integration/test_provider_http.py",
        ),
    ),
    MutatedModule(
        "api.py",
        REST,
        (
            "tests/unit/test_api_adapter.py",
            "tests/unit/test_api_request_reading.py",
            f"{_ROUTES}/test_request_edges.py",
        ),
    ),
    MutatedModule("errors.py", REST, ("tests/unit/test_errors.py", "tests/unit/test_api_adapter.py", _ERRORS)),
    MutatedModule(
        "providers/base.py",
        REST,
        (_ERRORS, f"{_ROUTES}/test_cdp.py", f"{_ROUTES}/test_cdp_keycloak.py", f"{_ROUTES}/test_signzy_repush.py"),
    ),
    MutatedModule(
        "providers/cladfy.py",
        REST,
        (f"{_ROUTES}/test_cladfy_krapin.py", _ERRORS, "tests/unit/test_openapi.py"),  # the PIN's published schema
    ),
    MutatedModule("providers/signzy.py", REST, (f"{_ROUTES}/test_signzy_repush.py", _ERRORS)),
    MutatedModule(
        "providers/cdp.py",
        REST,
        (
            f"{_ROUTES}/test_cdp.py",
            f"{_ROUTES}/test_cdp_keycloak.py",
            f"{_ROUTES}/test_cdp_onboarding.py",
            _ERRORS,
            "tests/unit/test_openapi.py",  # the onboarding's example, read only when the schema is generated
        ),
    ),
    MutatedModule(
        "providers/connectfi/client.py",
        REST,
        (
            f"{_ROUTES}/test_connectfi.py",
            f"{_ROUTES}/test_connectfi_answers.py",
            _ERRORS,
            f"{_ROUTES}/test_connectfi_stepup.py",
            f"{_ROUTES}/test_connectfi_webhook_retries.py",
        ),
    ),
    MutatedModule(
        "providers/connectfi/common.py",
        REST,
        (
            f"{_ROUTES}/test_connectfi_webhook_ingestion.py",
            f"{_ROUTES}/test_connectfi_webhook_queueing.py",
            f"{_ROUTES}/test_connectfi_answers.py",
            f"{_ROUTES}/test_connectfi_stepup.py",
        ),
    ),
    MutatedModule("providers/connectfi/stepup.py", REST, (f"{_ROUTES}/test_connectfi_stepup.py",)),
    MutatedModule(
        "providers/connectfi/webhooks.py",
        REST,
        (
            f"{_ROUTES}/test_connectfi_webhook_ingestion.py",
            f"{_ROUTES}/test_connectfi_webhook_queueing.py",
            f"{_ROUTES}/test_connectfi_webhook_processing.py",
            f"{_ROUTES}/test_connectfi_webhook_retries.py",
        ),
    ),
    MutatedModule(
        "providers/connectfi/applications.py",
        REST,
        (
            f"{_ROUTES}/test_connectfi_applications.py",
            f"{_ROUTES}/test_connectfi_reconciliation.py",
            f"{_ROUTES}/test_connectfi_webhook_processing.py",
        ),
    ),
    MutatedModule(
        "providers/connectfi/reconciliation.py",
        REST,
        (f"{_ROUTES}/test_connectfi_reconciliation_runs.py", f"{_ROUTES}/test_connectfi_reconciliation.py"),
    ),
)
BY_SLUG = {module.slug: module for module in MODULES}
