"""The layer's modules under mutation testing: the tests each is run against, and the share of its mutants they must
kill. The modules that decide whether a write reaches a provider twice, a caller waits past its deadline, a broken
version gets traffic or an alarm sees a failure are held to 90%; the rest of the layer's API edge, errors and
providers to 85%."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import project  # noqa: F401 - puts the layer's package on the path
from kyc_gateway.registry import PROVIDERS

ROOT = Path(__file__).resolve().parents[1]
LAYER = ROOT / "layers" / "gateway" / "kyc_gateway"

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
_AUDIT = "tests/integration/test_audit_records.py"  # the subjects each provider's requests are audited under
_ALARM_DRILLS = "tests/integration/test_metric_alarm_drills.py"
_ROLLBACK_DRILL = "tests/integration/test_rollback_drill.py"
_ARCHIVE = "tests/integration/test_audit_archive.py"
_DEPLOY_DRILL = ("tests/integration/test_deploy_check.py", "tests/integration/test_deploy_hook.py")
# what a handler wrapper hands on: its route (to the deploy check and the snapshot) and its snapshot registration,
# tested on wrappers built inside the tests (a function's module is built once per process, before any mutant runs)
_HANDLER_WIRING = ("tests/integration/test_handler_wrappers.py",)

MODULES = (
    MutatedModule(
        "http.py",
        CORE,
        (
            "tests/integration/test_provider_http.py",
            "tests/integration/test_provider_http_failures.py",
            "tests/integration/test_provider_slow_answers.py",
            "tests/integration/test_provider_tls.py",
            "tests/unit/test_circuit_breaker.py",
            "tests/integration/test_request_deadline.py",
            f"{_ROUTES}/test_idempotency_table_faults.py",  # a write begun, or not, before an unforeseen error
            f"{_ROUTES}/test_unknown_outcomes.py",  # ... and a warm instance's, whose request makes no login
            "tests/integration/test_provider_answer_limits.py",  # the answer size limit; headers checked before sending
            "tests/unit/test_header_values.py",  # the header check never passes what requests would refuse
        ),
    ),
    # the end of a provider's answer at its deadline, however slowly it comes
    MutatedModule(
        "watchdog.py",
        CORE,
        (
            "tests/unit/test_watchdog.py",
            "tests/integration/test_provider_http_failures.py",
            "tests/integration/test_provider_slow_answers.py",
            "tests/integration/test_provider_tls.py",
        ),
    ),
    MutatedModule(
        "token_cache.py",
        CORE,
        (
            "tests/integration/test_token_cache.py",
            "tests/integration/test_token_leases.py",
            "tests/integration/test_token_refusals.py",
            f"{_ROUTES}/test_token_table_faults.py",
            f"{_ROUTES}/test_cdp.py",  # a token kept under its provider and base URL, renewed before it expires
            f"{_ROUTES}/test_connectfi_token_lease.py",  # how long a renewal's lease holds
        ),
    ),
    MutatedModule(
        "idempotency_keys.py",
        CORE,
        (
            f"{_ROUTES}/test_idempotency_keys.py",
            f"{_ROUTES}/test_unknown_outcomes.py",
            f"{_ROUTES}/test_done_writes.py",
            f"{_ROUTES}/test_idempotency_table_faults.py",
            # keyed writes and the webhook processor's claims on the same table, in one process (`make run`)
            f"{_ROUTES}/test_connectfi_webhook_processing.py",
        ),
    ),
    MutatedModule("claims.py", CORE, ("tests/integration/test_claims.py",)),
    # what is forwarded to a provider: the one JSON reader of every body, and the caller's bytes sent on unchanged
    MutatedModule("strict_json.py", CORE, ("tests/unit/test_strict_json.py", f"{_ROUTES}/test_request_edges.py")),
    MutatedModule(
        "fields.py",
        CORE,
        (
            f"{_ROUTES}/test_cdp_onboarding.py",
            f"{_ROUTES}/test_connectfi_stepup.py",
            f"{_ROUTES}/test_connectfi_update.py",
            _ERRORS,
        ),
    ),
    # the deadline every provider call of a request fits in
    MutatedModule(
        "clock.py",
        CORE,
        ("tests/unit/test_clock.py", "tests/integration/test_request_deadline.py", "tests/unit/test_api_adapter.py"),
    ),
    # whether a version that cannot serve is given traffic
    MutatedModule("deploy_hook.py", CORE, _DEPLOY_DRILL),
    MutatedModule("deploy_check.py", CORE, _DEPLOY_DRILL),
    MutatedModule("secrets.py", CORE, ("tests/integration/test_secrets.py",)),
    MutatedModule(
        "provider_response.py",
        CORE,
        (
            "tests/unit/test_provider_response.py",
            f"{_ROUTES}/test_unknown_outcomes.py",
            f"{_ROUTES}/test_done_writes.py",
            _ERRORS,
            "tests/integration/test_provider_http.py",
            "tests/integration/test_provider_answer_limits.py",  # an oversized answer, a write's outcome after it
            f"{_ROUTES}/test_cdp_onboarding.py",  # a failure documented as possibly after acting, under any status
        ),
    ),
    # what the alarms and rollbacks read: the metrics a failure writes, a failed record or run
    MutatedModule(
        "observability.py",
        CORE,
        (
            "tests/unit/test_observability.py",
            "tests/unit/test_logs.py",
            _ALARM_DRILLS,
            _ROLLBACK_DRILL,
            _AUDIT,  # the request's provider calls and notes on its line
            "tests/integration/test_request_deadline.py",  # the deadline each request starts with
        ),
    ),
    MutatedModule(
        "sqs.py",
        CORE,
        (
            _ALARM_DRILLS,
            _ROLLBACK_DRILL,
            f"{_ROUTES}/test_connectfi_webhook_processing.py",
            f"{_ROUTES}/test_connectfi_webhook_retries.py",
            f"{_ROUTES}/test_connectfi_webhook_batches.py",  # the records a batch has no time for, handed back
            _ARCHIVE,  # the stream's batches: in order, stopping at the first failure
            *_HANDLER_WIRING,
        ),
    ),
    MutatedModule("audit_archive.py", CORE, (_ARCHIVE, _ROLLBACK_DRILL)),
    MutatedModule(
        "scheduled.py",
        CORE,
        (
            _ALARM_DRILLS,
            _ROLLBACK_DRILL,
            "tests/integration/test_scheduled.py",
            f"{_ROUTES}/test_connectfi_reconciliation_runs.py",
            "tests/integration/test_deploy_check.py",  # its check runs the job once
            *_HANDLER_WIRING,
        ),
    ),
    MutatedModule(
        "api.py",
        REST,
        (
            "tests/unit/test_api_adapter.py",
            "tests/unit/test_api_request_reading.py",
            f"{_ROUTES}/test_request_edges.py",
            _AUDIT,  # each route's audit record
            "tests/integration/test_provider_failure_alarms.py",  # which answers count as their provider failing
            "tests/integration/test_request_purpose.py",  # X-Request-Purpose: taken, refused, required
        ),
    ),
    # the compliance trail: what each provider operation records, and who may read it back
    MutatedModule(
        "audit.py",
        REST,
        (
            _AUDIT,
            "tests/unit/test_audit.py",
            "tests/unit/test_audit_fields.py",
            f"{_ROUTES}/test_connectfi_audit_records.py",
        ),
    ),
    MutatedModule(
        "audit_search.py",
        REST,
        (
            "tests/integration/test_audit_search.py",
            "tests/integration/test_audit_search_edges.py",
            "tests/unit/test_audit.py",
        ),
    ),
    MutatedModule("errors.py", REST, ("tests/unit/test_errors.py", "tests/unit/test_api_adapter.py", _ERRORS)),
    MutatedModule(
        "providers/base.py",
        REST,
        (
            _ERRORS,
            f"{_ROUTES}/test_cdp.py",
            f"{_ROUTES}/test_cdp_lookup.py",
            f"{_ROUTES}/test_cdp_keycloak.py",
            f"{_ROUTES}/test_signzy_repush.py",
            f"{_ROUTES}/test_cladfy_krapin.py",  # a provider without tokens
            f"{_ROUTES}/test_cladfy_credentials.py",  # its secret refetched when refused
            f"{_ROUTES}/test_connectfi_token_lease.py",  # how long a renewal's lease holds
            f"{_ROUTES}/test_token_table_faults.py",  # a token with a lease not written, a token row no request can use
            f"{_ROUTES}/test_connectfi_refusals.py",  # FieldSpelling: the callback field's spelling, settled and logged
            f"{_ROUTES}/test_provider_readings.py",  # FieldSpelling: each provider's reading of a field's spelling
        ),
    ),
)


# The tests of every provider: the error-mapping table, each reading a provider's documents allow, the keyed writes
# whose outcome is known or not, the audit records (each request's subjects and provider calls) and the published
# schemas.
_EVERY_PROVIDERS = (
    _ERRORS,
    f"{_ROUTES}/test_provider_readings.py",
    f"{_ROUTES}/test_unknown_outcomes.py",
    f"{_ROUTES}/test_done_writes.py",
    _AUDIT,
    "tests/unit/test_openapi.py",
)


# Tests outside a provider's own files that exercise one of its modules, by module path.
_ALSO = {
    # the sandbox's documented inputs through both routes: 40001, the lookup's refusal and the onboarding's failure
    "providers/cdp.py": (f"{_ROUTES}/test_against_sandbox.py",),
    # the sandbox's documented inputs, a Signzy that takes one Authorization form, a base URL its routes miss
    "providers/signzy.py": (f"{_ROUTES}/test_against_sandbox.py",),
    "providers/connectfi/applications.py": (
        f"{_ROUTES}/test_event_contract.py",  # each path's announcement against the published contract
        "tests/integration/test_answer_schemas.py",  # the stored application's answer against its route's schema
        "tests/integration/test_events.py",  # the sample events' applications, stored and looked up
        "tests/integration/test_privacy.py",  # nothing personal in what it logs
        _ALARM_DRILLS,  # an application the table does not take, a reconciliation run connectFi fails
    ),
    "providers/connectfi/stepup.py": (
        f"{_ROUTES}/test_event_contract.py",  # an update's announcement against the published contract
        "tests/integration/test_answer_schemas.py",  # the documents and update answers against their routes' schemas
        "tests/integration/test_privacy.py",  # no document image, name or note in what it logs or answers
    ),
}


def provider_modules() -> tuple[MutatedModule, ...]:
    """Each registered provider's modules (its client's module, or every module of its client's package), against
    its own tests (tests/integration/routes/test_<name>*.py, tests/unit/test_<name>*.py) and those of every provider
    (_EVERY_PROVIDERS), and any of _ALSO: a new provider is mutation-tested without an entry here."""
    modules = []
    for provider in PROVIDERS:
        client = LAYER / Path(*provider.client.split(".")[1:]).with_suffix(".py")
        package = client.parent if client.parent != LAYER / "providers" else None
        paths = sorted(package.glob("[!_]*.py")) if package else [client]
        own = [*ROOT.glob(f"{_ROUTES}/test_{provider.name}*.py"), *ROOT.glob(f"tests/unit/test_{provider.name}*.py")]
        tests = (*sorted(str(test.relative_to(ROOT)) for test in own), *_EVERY_PROVIDERS)
        for path in paths:
            module = path.relative_to(LAYER).as_posix()
            modules.append(MutatedModule(module, REST, (*tests, *_ALSO.get(module, ()))))
    return tuple(modules)


MODULES = MODULES + provider_modules()
BY_SLUG = {module.slug: module for module in MODULES}
