"""The local API Gateway's tests: `serve` starts one on a free port with an invoker of the test's."""

from __future__ import annotations

import pytest

from local.api_server import ApiServer, routes_of
from project import template as cfn


@pytest.fixture
def serve():
    servers = []

    def start(invoker, functions=None):
        server = ApiServer(routes_of(cfn.functions() if functions is None else functions), invoker, port=0).start()
        servers.append(server)
        return server.url

    yield start
    for server in servers:
        server.stop()
