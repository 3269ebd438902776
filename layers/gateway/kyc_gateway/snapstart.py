"""Lambda SnapStart: a function's instance is snapshotted with what its first request would load, and each instance
restored from that snapshot makes its own what must differ between instances.

With SnapStart on (template parameter `SnapStart`), Lambda initialises a function once per published version, runs
its before-snapshot hooks, snapshots the instance and starts every new instance of that version from the snapshot.
Every handler wrapper (`http_route`, `sqs_batch_handler`, `scheduled_handler`) calls `register`, so every function
gets the two hooks below:

- before the snapshot, `prime` loads what the function's first request would, derived from the function itself
  (`preload_of`): its validated settings; a `kyc_gateway.aws` client for each secret, table, queue or event bus its
  configuration names; its provider's client (keep-alive session, credentials holder, token cache) from the registry
  entry of its route; the `Idempotency-Key` layer (Powertools Idempotency) when its route contract honours keys; and a
  validator for every gateway model its modules define (built on first use otherwise, model.py). Then it rehearses
  each AWS operation the layer makes on what the configuration names (`rehearse`: botocore's whole pipeline, against
  an empty answer given in-process), so that the first real call finds its endpoint rules, models and handlers loaded,
  and indexes each client's error shapes by code (what a first error answer, such as a condition not met, would build
  on a service's second client, which shares the first's exception classes: about 1 ms of CPU for DynamoDB's). It
  never fetches a secret or a token and sends nothing: nothing of a provider, a caller or a request is in a snapshot.
  (The AWS clients hold the function role's credentials, which Lambda serves a SnapStart function from its container
  credentials endpoint and botocore refreshes before they expire.)
- after each restore, `renew` reseeds `random` (the retry and polling jitter: restored instances would otherwise
  draw the same delays), gives each token cache its own lease owner (two instances holding one owner id would both
  take a renewal's lease), and drops any pooled connection of the clients the snapshot holds.

Lambda's Python runtime ships `snapshot_restore_py`; without it (tests, the local stack) nothing is registered.
"""

from __future__ import annotations

import importlib
import io
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

try:
    import snapshot_restore_py as _runtime_hooks
except ImportError:  # only Lambda's Python runtime provides it
    _runtime_hooks = None

if TYPE_CHECKING:
    from kyc_gateway.settings import Settings


@dataclass(frozen=True)
class AwsUse:
    """What a setting names in AWS: its service (kyc_gateway.aws.SERVICES), the operations the layer calls on it
    through `aws.client` and through `aws.quick_client` (within the caller's own short budget), and the parameter
    that carries its value (DynamoDB resolves its endpoint per table name)."""

    service: str
    operations: tuple[str, ...] = ()
    quick_operations: tuple[str, ...] = ()
    parameter: str | None = None


_SECRET = AwsUse("secretsmanager", ("GetSecretValue",))
_AWS_USES = {
    "secret_ids": _SECRET,
    "connectfi_webhook_secret_id": _SECRET,
    "audit_key_secret_id": _SECRET,
    "token_table_name": AwsUse("dynamodb", ("GetItem", "UpdateItem"), parameter="TableName"),
    "applications_table_name": AwsUse("dynamodb", ("GetItem", "UpdateItem", "Query"), parameter="TableName"),
    # Powertools Idempotency's persistence layer (idempotency_keys.py), given the gateway's client
    "idempotency_table_name": AwsUse(
        "dynamodb", ("GetItem", "PutItem", "UpdateItem", "DeleteItem"), parameter="TableName"
    ),
    "audit_table_name": AwsUse(  # one subject's record is a PutItem, several subjects' a TransactWriteItems
        "dynamodb", ("Query",), quick_operations=("PutItem", "TransactWriteItems"), parameter="TableName"
    ),
    "webhook_queue_url": AwsUse(
        "sqs",
        ("GetQueueAttributes", "ChangeMessageVisibility"),
        quick_operations=("SendMessage", "ChangeMessageVisibilityBatch"),
        parameter="QueueUrl",
    ),
    "event_bus_name": AwsUse("events", ("PutEvents",)),
    "audit_archive_bucket": AwsUse("s3", ("PutObject",), parameter="Bucket"),
}

_on_restore: list[Callable[[], None]] = []  # per object the snapshot holds: how an instance makes it its own


@dataclass(frozen=True, order=True)
class Rehearsal:
    """One AWS operation run at snapshot through the client that calls it, against an answer given in-process."""

    quick: bool  # through aws.quick_client
    service: str
    operation: str
    known: tuple[tuple[str, str], ...] = ()  # parameters whose value the configuration gives (a table's name)


@dataclass(frozen=True)
class Preload:
    """What a function's snapshot holds besides its modules and its gateway models' validators."""

    route: str
    aws_clients: tuple[str, ...]
    quick_aws_clients: tuple[str, ...]
    rehearsals: tuple[Rehearsal, ...]
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
    configured = {
        name: value
        for name, use in _AWS_USES.items()
        if name in settings.model_fields_set and (value := getattr(settings, name))
    }
    rehearsals = set()
    for name, value in configured.items():
        use = _AWS_USES[name]
        known = ((use.parameter, value),) if use.parameter else ()
        rehearsals |= {Rehearsal(False, use.service, operation, known) for operation in use.operations}
        rehearsals |= {Rehearsal(True, use.service, operation, known) for operation in use.quick_operations}
    contract = getattr(handler, "contract", None)
    return Preload(
        route=handler.route,
        aws_clients=tuple(sorted({_AWS_USES[name].service for name in configured})),
        quick_aws_clients=tuple(sorted({rehearsal.service for rehearsal in rehearsals if rehearsal.quick})),
        rehearsals=tuple(sorted(rehearsals)),
        provider=entry.provider,
        idempotency_layer=bool(contract and contract.idempotency_keys),
    )


def prime(handler: Any) -> None:
    """Load what `handler`'s first request would (see the module's docstring); nothing is sent."""
    from kyc_gateway.observability import logger

    logger.info("snapshot primed", **load(handler, _on_restore))


def load(handler: Any, on_restore: list[Callable[[], None]]) -> dict[str, Any]:
    """Load what `handler`'s first request would, sending nothing; what was loaded, by kind. Each object a restored
    instance must make its own adds its renewal to `on_restore`. Raises when the function's configuration is not
    valid (its settings), and when its modules or a provider client cannot be built."""
    from kyc_gateway import aws
    from kyc_gateway.settings import get_settings

    "snapshot".encode("idna")  # urllib3 encodes each new connection's host name with it: the codec, looked up
    preload = preload_of(handler, get_settings())
    clients = [aws.client(service) for service in preload.aws_clients]
    clients += [aws.quick_client(service) for service in preload.quick_aws_clients]
    on_restore.extend(client.close for client in clients)
    if preload.idempotency_layer:  # before the rehearsals: Powertools registers its own handlers on the client
        from kyc_gateway import idempotency_keys

        idempotency_keys.persistence_store()
    unrehearsed = [
        f"{rehearsal.service}.{rehearsal.operation}"
        for rehearsal in preload.rehearsals
        if not rehearse((aws.quick_client if rehearsal.quick else aws.client)(rehearsal.service), rehearsal)
    ]
    for client in clients:  # a first error answer (a condition not met) indexes the client's errors by code: a second
        client.meta.service_model.shape_for_error_code("")  # client of a service shares the first's classes (aws.py)
    if preload.provider:
        provider = provider_client(preload.provider)
        on_restore.append(provider.http.session.close)
        if provider.tokens is not None:
            on_restore.append(provider.tokens.restored)
    if getattr(handler, "audited_provider", None):
        from kyc_gateway import audit  # noqa: F401 - its record models are built below
    models = _build_gateway_models()
    return {
        "route": preload.route,
        "aws_clients": list(preload.aws_clients),
        "quick_aws_clients": list(preload.quick_aws_clients),
        "rehearsed": [f"{r.service}.{r.operation}{' (quick)' if r.quick else ''}" for r in preload.rehearsals],
        "unrehearsed": unrehearsed,
        "provider": preload.provider,
        "idempotency_layer": preload.idempotency_layer,
        "models": models,
    }


def rehearse(client: Any, rehearsal: Rehearsal) -> bool:
    """Run `rehearsal`'s operation once through `client`'s whole pipeline (its parameters checked, unless the
    client leaves that to the service, and serialised, its endpoint resolved, the request signed, the answer parsed)
    against an empty answer given in-process (botocore's before-send event): what the first real call would load
    and cache is loaded, and nothing is sent.
    False, and logged, when it fails (the function is then primed without it)."""
    from botocore import xform_name

    from kyc_gateway.observability import logger

    # Registered for good: unregistering would empty the client's cache of handlers per event, which the rehearsal
    # fills. Outside a rehearsal, and in any other thread, the handler answers nothing: botocore sends the request.
    client.meta.events.register_first("before-send", _rehearsal_answer, unique_id=_REHEARSAL)
    _rehearsal.active = True
    _rehearsal.json = client.meta.service_model.protocol.endswith("json")
    try:
        model = client.meta.service_model.operation_model(rehearsal.operation)
        members = model.input_shape.members
        parameters = _least(model.input_shape) | {name: value for name, value in rehearsal.known if name in members}
        for shape in (model.input_shape, model.output_shape):  # what the least parameters and the empty answer skip
            _resolve(shape, _SHAPE_DEPTH)
        getattr(client, xform_name(rehearsal.operation))(**parameters)
    except Exception as error:  # noqa: BLE001 - a rehearsal never stops a snapshot: the first request then loads it
        logger.warning("snapshot rehearsal failed", operation=rehearsal.operation, error=type(error).__name__)
        return False
    finally:
        _rehearsal.active = False
    return True


_REHEARSAL = "kyc_gateway.snapstart.rehearsal"
_rehearsal = threading.local()  # active: this thread is rehearsing
_SHAPE_DEPTH = 6  # shape levels resolved: an item's attributes and one map or list nested in them


def _rehearsal_answer(request: Any, **_: Any) -> Any:
    """During a rehearsal in this thread, an empty answer in place of sending `request`: `{}` from a JSON service,
    no body at all from S3 (an XML body botocore cannot parse is an error S3 answered with a 200); otherwise None:
    the request is sent."""
    if not getattr(_rehearsal, "active", False):
        return None
    from botocore.awsrequest import AWSResponse

    if _rehearsal.json:
        return AWSResponse(request.url, 200, {"Content-Type": "application/x-amz-json-1.0"}, _Body(b"{}"))
    return AWSResponse(request.url, 200, {"Content-Length": "0"}, _Body(b""))


class _Body(io.BytesIO):
    def stream(self, **_: Any) -> Any:
        yield self.getvalue()


def _resolve(shape: Any, depth: int) -> None:
    """Resolve the shapes `shape` holds, `depth` levels down, as the parser will reach them: botocore resolves each
    member's shape on first use, as a new object for each parent (so recursive shapes are cut at `depth`)."""
    if shape is None or depth == 0:
        return
    shape.serialization  # noqa: B018 - a cached property: read by the serializer and the parser for every shape
    kind = shape.type_name
    members = (
        shape.members.values()
        if kind == "structure"
        else (shape.member,)
        if kind == "list"
        else (shape.key, shape.value)
        if kind == "map"
        else ()
    )
    for member in members:
        _resolve(member, depth - 1)


def _least(shape: Any) -> Any:
    """The least value `shape` accepts: only its required members, the fewest items, the shortest strings."""
    kind = shape.type_name
    if kind == "structure":
        return {name: _least(shape.members[name]) for name in shape.required_members}
    if kind == "list":
        return [_least(shape.member) for _ in range(shape.metadata.get("min", 0))]
    if kind == "string":
        return shape.enum[0] if shape.enum else "x" * max(1, shape.metadata.get("min", 1))
    return {"map": {}, "boolean": False, "blob": b""}.get(kind, shape.metadata.get("min", 0))


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
