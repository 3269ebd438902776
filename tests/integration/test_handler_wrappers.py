"""What the queue and schedule handler wrappers hand on besides running their records or jobs: the route they serve,
which the deploy check and the snapshot read to know what to load, and their registration with Lambda's SnapStart
hooks. Each wrapper is built here, as a function's module builds it at import."""

from __future__ import annotations

from typing import Any

import pytest

from kyc_gateway import snapstart
from kyc_gateway.providers.connectfi import reconciliation, webhooks
from kyc_gateway.registry import BY_LOGICAL_ID
from kyc_gateway.scheduled import scheduled_handler
from kyc_gateway.sqs import sqs_batch_handler
from tests.support.deploy_drill import become, environments_as_deployed

FUNCTIONS = {"queue": "ConnectFiWebhookProcessorFunction", "schedule": "ConnectFiReconcilerFunction"}
WRAPPERS = {
    "queue": lambda: sqs_batch_handler(webhooks.ROUTE, webhooks.process_record, plan_retry=webhooks.plan_retry),
    "schedule": lambda: scheduled_handler(reconciliation.ROUTE, reconciliation.reconcile),
}
ROUTES = {"queue": webhooks.ROUTE, "schedule": reconciliation.ROUTE}


class RuntimeHooks:
    """Lambda's snapshot_restore_py, recording what is registered."""

    def __init__(self) -> None:
        self.before: list[tuple[Any, ...]] = []
        self.after: list[tuple[Any, ...]] = []

    def register_before_snapshot(self, hook: Any, *arguments: Any) -> None:
        self.before.append((hook, *arguments))

    def register_after_restore(self, hook: Any, *arguments: Any) -> None:
        self.after.append((hook, *arguments))

    def get_after_restore(self) -> list[tuple[Any, ...]]:
        return self.after


@pytest.mark.parametrize("kind", sorted(WRAPPERS))
def test_a_wrapped_handler_registers_its_snapshot_priming_and_one_renewal(kind, monkeypatch):
    # Given Lambda's SnapStart hooks, as its runtime offers them
    hooks = RuntimeHooks()
    monkeypatch.setattr(snapstart, "_runtime_hooks", hooks)

    # When two handlers are built
    first, second = WRAPPERS[kind](), WRAPPERS[kind]()

    # Then each is primed before the snapshot, and instances renew once after each restore
    assert hooks.before == [(snapstart.prime, first), (snapstart.prime, second)]
    assert hooks.after == [(snapstart.renew,)]


@pytest.mark.parametrize("kind", sorted(WRAPPERS))
def test_what_a_wrapped_handlers_snapshot_and_deploy_check_load_is_its_own_routes(kind, physical_ids, monkeypatch):
    from kyc_gateway.settings import get_settings

    # Given a handler built by its wrapper, in its function's environment as deployed
    become(FUNCTIONS[kind], environments_as_deployed(physical_ids), monkeypatch)
    handler = WRAPPERS[kind]()

    # Then what its snapshot and its deploy check load (snapstart.load) is its own route's first request's
    preload = snapstart.preload_of(handler, get_settings())
    assert preload.route == ROUTES[kind] == BY_LOGICAL_ID[FUNCTIONS[kind]].route
