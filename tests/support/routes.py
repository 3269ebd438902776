"""Every provider route, read from the provider registry, template.yaml and events/: what per-route tests (fault
tolerance, privacy) iterate over, so a new provider's routes are covered without editing them."""

from __future__ import annotations

import json
from dataclasses import dataclass

from kyc_gateway.registry import PROVIDERS, ProviderEntry
from local.functions import load_handler
from project import template as cfn


@dataclass(frozen=True)
class ProviderRoute:
    function: str  # the template's logical id
    provider: ProviderEntry
    body: dict  # the body of its sample event, events/<LogicalId>.json, which succeeds against the sandbox
    write: bool  # a write honouring Idempotency-Key: never retried blindly

    def __str__(self) -> str:
        return self.function


def provider_of(spec: cfn.FunctionSpec) -> ProviderEntry | None:
    """The provider a function calls: the one whose base URL its environment carries."""
    variables = (spec.properties.get("Environment") or {}).get("Variables") or {}
    found = [entry for entry in PROVIDERS if entry.base_url_variable in variables]
    return found[0] if len(found) == 1 else None


def provider_routes() -> list[ProviderRoute]:
    """The API routes that call a provider (the webhook processor, fed by SQS, is not one)."""
    routes = []
    for logical_id, spec in cfn.functions().items():
        provider = provider_of(spec)
        if provider is None or not spec.api_events:
            continue
        event = json.loads((cfn.ROOT / "events" / f"{logical_id}.json").read_text())
        write = load_handler(spec).contract.idempotency_keys
        routes.append(ProviderRoute(logical_id, provider, json.loads(event["body"]), write))
    return routes


def retried_at_once(fault: str) -> dict:
    """The options of a sandbox fault that let the gateway retry at once: a rate limit's `Retry-After: 0` (the
    other faults take no such option)."""
    return {"retryAfter": 0} if fault == "rate_limit" else {}
