"""The local stack's HTTP listener (the API and the provider sandbox)."""

from __future__ import annotations

from http.server import ThreadingHTTPServer


class ListeningServer(ThreadingHTTPServer):
    """A thread per request, and a queue of connections as long as Linux's default somaxconn (4096) allows:
    API Gateway takes a burst of callers, where socketserver's backlog of 5 reset or dropped them beyond a few dozen
    concurrent ones."""

    daemon_threads = True
    request_queue_size = 4096
