"""Providers that cannot be reached, on 127.0.0.1: one refusing connections, one never accepting them."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator


def refused_url() -> str:
    """A URL nothing listens on: connecting is refused at once (the request is certainly not sent)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@contextlib.contextmanager
def unaccepted_url(scheme: str = "http") -> Iterator[str]:
    """A URL whose connections are never accepted, so connecting times out (a provider's host down behind a route
    that drops packets): its listener's queue (backlog 0) is already full, and the kernel drops new handshakes."""
    with contextlib.ExitStack() as sockets:
        listener = sockets.enter_context(socket.socket())
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        address = listener.getsockname()
        for _ in range(2):  # one fills the queue; one more in case the kernel lets one extra in
            filler = sockets.enter_context(socket.socket())
            filler.setblocking(False)
            filler.connect_ex(address)
        yield f"{scheme}://{address[0]}:{address[1]}"
