"""Lambda SnapStart: a function's instance is snapshotted with what its first request would load, and each instance
restored from that snapshot makes its own what must differ between instances.

With SnapStart on (template parameter `SnapStart`), Lambda initialises a function once per published version, runs
its before-snapshot hooks, snapshots the instance and starts every new instance of that version from the snapshot.
Every handler wrapper (`http_route`, `sqs_batch_handler`, `scheduled_handler`) calls `register`, so every function
gets the two hooks below:

- before the snapshot, `prime` loads what the function's first request would, derived from the function itself
  (`preload_of`): its validated settings; a `kyc_gateway.aws` client for each secret, table, queue or event bus its
  configuration names; its provider's client (keep-alive session, credentials holder, token cache) from the
  registry entry of its route; the `Idempotency-Key` layer (Powertools Idempotency) when its route contract honours
  keys; and a validator for every gateway model its modules define (built on first use otherwise, model.py). It
  never fetches a secret or a token and makes no call at all: nothing of a provider, a caller or a request is in
  a snapshot. (The AWS clients hold the function role's credentials, which Lambda serves a SnapStart function from
  its container credentials endpoint and botocore refreshes before they expire.)
- after each restore, `renew` reseeds `random` (the retry and polling jitter: restored instances would otherwise
  draw the same delays), gives each token cache its own lease owner (two instances holding one owner id would both
  take a renewal's lease), and drops any pooled connection of the clients the snapshot holds.

Lambda's Python runtime ships `snapshot_restore_py`; without it (tests, the local stack) nothing is registered.
"""

from __future__ import annotations

import importlib
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

try:
    import snapshot_restore_py as _runtime_hooks
except ImportError:  # only Lambda's Python runtime provides it
    _runtime_hooks = None

if TYPE_CHECKING:
    from kyc_gateway.settings import Settings

# The settings naming what a function reaches in AWS, and the service each is in (kyc_gateway.aws.SERVICES).
_SERVICE_OF_SETTING = {
    "secret_ids": "secretsmanager",
    "connectfi_webhook_secret_id": "secretsmanager",
    "token_table_name": "dynamodb",
    "applications_table_name": "dynamodb",
    "idempotency_table_name": "dynamodb",
    "webhook_queue_url": "sqs",
    "event_bus_name": "events",
    "audit_table_name": "dynamodb",
    "audit_key_secret_id": "secretsmanager",
}
# Services also called within the caller's own short budget (aws.quick_client): the webhook receiver's queue.
_QUICK_SERVICES = frozenset({"sqs"})

_on_restore: list[Callable[[], None]] = []  # per object the snapshot holds: how an instance makes it its own


@dataclass(frozen=True)
class Preload:
    """What a function's snapshot holds besides its modules and its gateway models' validators."""

    route: str
    aws_clients: tuple[str, ...]
    quick_aws_clients: tuple[str, ...]
    provider: str | None
    idempotency_layer: bool


def register(handler: Any) -> None:
    """Have Lambda run `prime(handler)` before it snapshots this function, and `renew()` after each restore."""
    if _runtime_hooks is None:
        return
    _runtime_hooks.register_before_snapshot(prime, handler)
    if all(hook is not renew for hook, *_ in _runtime_hooks.get_after_restore()):
        _runtime_hooks.register_after_restore(renew)


def preload_of(handler: Any, settings: Settings) -> Preload:
    """What `handler`'s first request would load: from its configuration, its route's registry entry and contract."""
    from kyc_gateway.registry import FUNCTIONS

    (entry,) = [function for function in FUNCTIONS if function.route == handler.route]
    configured = {name for name in _SERVICE_OF_SETTING if name in settings.model_fields_set and getattr(settings, name)}
    services = tuple(sorted({_SERVICE_OF_SETTING[name] for name in configured}))
    contract = getattr(handler, "contract", None)
    return Preload(
        route=handler.route,
        aws_clients=services,
        quick_aws_clients=tuple(service for service in services if service in _QUICK_SERVICES),
        provider=entry.provider,
        idempotency_layer=bool(contract and contract.idempotency_keys),
    )


def prime(handler: Any) -> None:
    """Load what `handler`'s first request would (see the module's docstring); no call is made."""
    from kyc_gateway import aws
    from kyc_gateway.observability import logger
    from kyc_gateway.settings import get_settings

    preload = preload_of(handler, get_settings())
    clients = [aws.client(service) for service in preload.aws_clients]
    clients += [aws.quick_client(service) for service in preload.quick_aws_clients]
    _on_restore.extend(client.close for client in clients)
    if preload.provider:
        provider = provider_client(preload.provider)
        _on_restore.append(provider.http.session.close)
        if provider.tokens is not None:
            _on_restore.append(provider.tokens.restored)
    if preload.idempotency_layer:
        from kyc_gateway import idempotency_keys

        idempotency_keys.persistence_store()
    models = _build_gateway_models()
    logger.info(
        "snapshot primed",
        route=preload.route,
        aws_clients=list(preload.aws_clients),
        quick_aws_clients=list(preload.quick_aws_clients),
        provider=preload.provider,
        idempotency_layer=preload.idempotency_layer,
        models=models,
    )


def renew() -> None:
    """Make this restored instance's state its own (see the module's docstring)."""
    random.seed()  # from os.urandom, which the kernel reseeds for each restored instance
    for renewal in _on_restore:
        renewal()


def provider_client(name: str) -> Any:
    """The instance's client of provider `name`, from the module the provider registry names."""
    from kyc_gateway.providers.base import ProviderClient
    from kyc_gateway.registry import BY_NAME

    module = importlib.import_module(BY_NAME[name].client)
    (kind,) = {
        value
        for value in vars(module).values()
        if isinstance(value, type) and issubclass(value, ProviderClient) and getattr(value, "name", None) == name
    }
    return kind.instance()


def _build_gateway_models() -> list[str]:
    """Build the validator of every gateway model the function's modules define; their names."""
    from kyc_gateway.model import Model

    built, pending = [], [Model]
    while pending:
        for model in pending.pop().__subclasses__():
            model.model_rebuild()
            built.append(model.__qualname__)
            pending.append(model)
    return sorted(built)
