"""moto, made atomic: AWS applies each request atomically (a DynamoDB conditional write checks and writes in
one step), moto does not lock. Serializing requests to the emulator restores the guarantee the token cache's
lease relies on, for the local stack (server mode) and the tests (`mock_aws`)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterable
from typing import Any

_LOCK = threading.RLock()


def serialize_mock_aws() -> None:
    """Make in-process `mock_aws` handle one request at a time (idempotent)."""
    from moto.core.botocore_stubber import BotocoreStubber

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
