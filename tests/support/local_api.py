"""Doubles for the local API Gateway's tests: an invoker that records each event, and a raw socket exchange."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit


class RecordingInvoker:
    def __init__(self, answer=None, error=None):
        self.answer = answer or {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": "{}"}
        self.error = error
        self.events = []

    def __call__(self, spec, event):
        self.events.append((spec.logical_id, event))
        if self.error:
            raise self.error
        return self.answer


def raw_exchange(url: str, head: str, body: bytes = b"") -> bytes:
    """Send bytes as they are on a raw socket; everything the server sends until it closes the connection (a hang
    is a socket timeout, failing the test)."""
    address = urlsplit(url)
    with socket.create_connection((address.hostname, address.port), timeout=5) as connection:
        connection.sendall(head.encode("latin-1") + b"\r\n" + body)
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
    return received
