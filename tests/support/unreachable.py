"""Providers that cannot be reached, on 127.0.0.1: one refusing connections, one never accepting them."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator

_HELD: list[socket.socket] = []  # bound, never listening, kept for the test run: no one else can take their ports


def refused_url() -> str:
    """A URL nothing listens on: connecting is refused at once (the request is certainly not sent). Its port stays
    bound, without a listener, so that no server of another test can be given it meanwhile."""
    held = socket.socket()
    held.bind(("127.0.0.1", 0))
    _HELD.append(held)
    return f"http://127.0.0.1:{held.getsockname()[1]}"


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


@contextlib.contextmanager
def silent_url(scheme: str = "https") -> Iterator[str]:
    """A URL whose connections are accepted (by the kernel, into the listener's queue) and never answered: a TLS
    handshake with it never ends, and nothing sent to it is ever read."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        address = listener.getsockname()
        yield f"{scheme}://{address[0]}:{address[1]}"
