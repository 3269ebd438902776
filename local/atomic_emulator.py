"""moto, made atomic: AWS applies each request atomically (a DynamoDB conditional write checks and writes in
one step), moto does not lock. Serializing requests to the emulator restores the guarantee the token cache's
lease relies on, for the local stack (server mode) and the tests (`mock_aws`)."""

from __future__ import annotations

import contextlib
import copy
import socket
import threading
from collections.abc import Callable, Iterable
from typing import Any

_LOCK = threading.RLock()


def transactions_back_up_their_items() -> None:
    """Make moto's TransactWriteItems back up only the items it names (idempotent).

    moto backs up each table a transaction names whole, a deep copy per item written, to put it back if the
    transaction is cancelled. Once the audit table holds thousands of records, each audit write of several subjects
    (a transaction) took seconds, with every other request to the emulator waiting behind it: after a long
    `make run` or `make bench`, routes answered 504. A cancelled transaction changed only the items it names, and
    nothing else wrote meanwhile (requests are serialized), so putting those items back restores the same state.
    Restores go through moto's own put and delete (the tables keep their indexes; the template declares no
    streams)."""
    import inspect

    from moto.dynamodb import models

    backend = models.DynamoDBBackend
    if getattr(backend, "_items_backed_up", False):
        return
    original = backend.transact_write_items
    if "original_table_state[table_name] = copy.deepcopy(" not in inspect.getsource(original):
        raise RuntimeError("moto's TransactWriteItems no longer backs up whole tables: review local/atomic_emulator.py")

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        restores = [_backup(self, operation) for item in transact_items for operation in item.values()]
        _IN_TRANSACTION.active = True
        try:
            original(self, transact_items)
        except Exception:
            for restore in reversed(restores):
                with contextlib.suppress(Exception):  # the others are still put back; the transaction's error stands
                    restore()
            raise
        finally:
            _IN_TRANSACTION.active = False

    models.copy = _TablesNotCopied()
    backend.transact_write_items = transact_write_items
    backend._items_backed_up = True


_IN_TRANSACTION = threading.local()


class _TablesNotCopied:
    """`copy` as moto's DynamoDB models see it: within a transaction, a table's "copy" is the table (its items are
    backed up one by one); anything else is copied as `copy` copies it."""

    @staticmethod
    def deepcopy(value: Any, *args: Any, **kwargs: Any) -> Any:
        from moto.dynamodb.models.table import Table

        if getattr(_IN_TRANSACTION, "active", False) and isinstance(value, Table):
            return value
        return copy.deepcopy(value, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)


def _backup(backend: Any, operation: dict[str, Any]) -> Callable[[], None]:
    """What puts back the item `operation` names as it is now (a no-op when it cannot be read: moto refuses it)."""
    try:
        table_name = operation["TableName"]
        table = backend.get_table(table_name)
        if "Item" in operation:
            names = [table.hash_key_attr] + ([table.range_key_attr] if table.range_key_attr else [])
            key = {name: operation["Item"][name] for name in names}
        else:
            key = operation["Key"]
        before = backend.get_item(table_name, key)
    except Exception:  # noqa: BLE001 - moto's own checks refuse the transaction, before it writes anything
        return lambda: None
    attributes = copy.deepcopy(before.to_json()["Attributes"]) if before else None
    if attributes is None:
        return lambda: backend.get_item(table_name, key) and backend.delete_item(table_name, key)
    return lambda: backend.put_item(table_name, attributes)


def serialize_mock_aws() -> None:
    """Make in-process `mock_aws` handle one request at a time (idempotent)."""
    from moto.core.botocore_stubber import BotocoreStubber

    transactions_back_up_their_items()
    if getattr(BotocoreStubber, "_serialized", False):
        return
    original = BotocoreStubber.__call__

    def locked(self: Any, *args: Any, **kwargs: Any) -> Any:
        with _LOCK:
            return original(self, *args, **kwargs)

    BotocoreStubber.__call__ = locked
    BotocoreStubber._serialized = True


class SerializedWsgi:
    """A WSGI app that lets one request at a time into `app` (moto's server)."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        with _LOCK:
            return list(self.app(environ, start_response))


class MotoServer:
    """moto's server on a host and port (0 picks one), threaded, with requests serialized."""

    def __init__(self, host: str, port: int) -> None:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
        from werkzeug.serving import make_server

        transactions_back_up_their_items()
        app = SerializedWsgi(DomainDispatcherApplication(create_backend_app))
        # Bound here: a taken port raises OSError (werkzeug would print and sys.exit), so callers can fall back.
        listener = socket.create_server((host, port))
        try:
            self._server = make_server(
                host, port, app, threaded=True, request_handler=MotoRequestHandler, fd=listener.fileno()
            )
        finally:
            listener.close()  # the server holds its own duplicate of the socket
        self._thread = threading.Thread(target=self._server.serve_forever, name="aws-emulator", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> MotoServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
