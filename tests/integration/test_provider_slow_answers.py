"""The provider HTTP client when an answer comes too slowly: however the provider sends it (its status line, headers,
a body with a length, a chunked body's size line, a compressed body's header a byte at a time), directly, over a
proxy or after a slow connect, the call ends when its budget does; an answer read whole is never cut."""

from __future__ import annotations

import gzip
import io
import socket
import threading
import time

import pytest
import urllib3.exceptions
import urllib3.util.connection

from kyc_gateway import clock, watchdog
from kyc_gateway import http as http_module
from kyc_gateway.errors import ProviderTimeout
from kyc_gateway.http import ProviderHttp
from kyc_gateway.settings import Settings
from tests.integration.test_provider_http_failures import (
    OK,
    SHORT,
    attempts,
    call,
    counted_connections,  # noqa: F401 - the `connections` fixture
    proxy_everything_through,
)
from tests.support.emf import log_lines
from tests.support.fake_provider import Reply

PAYLOAD = b'{"ok": true, "padding": "' + b"x" * 40 + b'"}'


def gzip_named(data: bytes) -> bytes:
    """`data` gzip-compressed under a 60-byte file name: no byte of it decompresses before the name has come."""
    packed = io.BytesIO()
    with gzip.GzipFile(filename="n" * 60, mode="wb", fileobj=packed, mtime=0) as file:
        file.write(data)
    return packed.getvalue()


SLOWLY = {  # each a byte every 50 ms (each read well within the read timeout): 2 s or more in all
    "a body with a length": Reply(200, PAYLOAD, drip=0.05),
    "its status line and headers": Reply(200, PAYLOAD, drip=0.05, drip_head=True),
    "a chunked body's size line": Reply(200, PAYLOAD, drip=0.05, chunked=True),
    "a compressed body's header": Reply(200, gzip_named(PAYLOAD), drip=0.05, headers=(("Content-Encoding", "gzip"),)),
}


@pytest.mark.parametrize("idempotent", [True, False], ids=["read", "write"])
@pytest.mark.parametrize("answer", SLOWLY.values(), ids=SLOWLY.keys())
def test_an_answer_sent_slower_than_the_budget_allows_ends_the_call_at_the_budget(provider, logs, answer, idempotent):
    # Given a provider that sends its answer a byte at a time, and a budget of 1 s
    provider.reply("/op", answer, OK)

    # When the gateway calls it
    started = time.monotonic()
    with pytest.raises(ProviderTimeout) as raised:
        call(provider.url, idempotent=idempotent, PROVIDER_BUDGET_SECONDS=1, **SHORT)

    # Then the call ends as a timeout when the budget does, not when the answer has come; a write's outcome unknown
    assert 0.9 < time.monotonic() - started < 1.5
    assert (raised.value.outcome_unknown, attempts(logs)) == (not idempotent, ["timeout"])
    assert len(provider.requests("/op")) == 1


def test_a_call_after_an_answer_cut_off_at_the_budget_gets_its_whole_answer(provider, connections):
    # Given a call whose answer the budget's end cut off
    provider.reply("/op", SLOWLY["its status line and headers"], OK)
    http = ProviderHttp("test", provider.url, Settings(PROVIDER_BUDGET_SECONDS=1, **SHORT))
    with pytest.raises(ProviderTimeout):
        http.post("/op", operation="op", idempotent=True, json_body={})

    # When the client calls again, Then the answer is whole, over a new connection (the cut one is not reused)
    assert http.post("/op", operation="op", idempotent=True, json_body={}).body == {"ok": True}
    assert len(connections) == 2


def test_an_answer_read_in_time_keeps_its_connection_after_its_deadline_passes(provider, connections):
    # Given an answer read well within a 1 s budget
    provider.reply("/op", OK)
    http = ProviderHttp("test", provider.url, Settings(PROVIDER_BUDGET_SECONDS=1, **SHORT))
    http.post("/op", operation="op", idempotent=True, json_body={})

    # When its deadline has passed, and the client calls again
    time.sleep(1.2)
    answer = http.post("/op", operation="op", idempotent=True, json_body={})

    # Then the kept-alive connection served it: the deadline of a call that is over cuts nothing
    assert answer.body == {"ok": True} and len(connections) == 1


@pytest.mark.parametrize("closing", [False, True], ids=["kept alive", "Connection: close"])
def test_an_answer_read_whole_is_kept_when_the_deadline_passes_before_the_call_returns(
    provider, connections, monkeypatch, logs, closing
):
    # Given an answer read whole at once, then the call held up past its 0.5 s deadline before it returns (a thread
    # switch, at worst): its connection is back in its pool by then, where another call may already be using it
    # (or closed, as the provider asked)
    provider.reply("/op", Reply(200, b'{"ok": true}', headers=(("Connection", "close"),) if closing else ()))
    read_whole = http_module._body_of

    def held_up(reply):
        body = read_whole(reply)
        time.sleep(0.8)
        return body

    monkeypatch.setattr(http_module, "_body_of", held_up)
    http = ProviderHttp("test", provider.url, Settings(PROVIDER_BUDGET_SECONDS=0.5, **SHORT))

    # When the gateway calls twice
    answers = [http.post("/op", operation="op", idempotent=False, json_body={}) for _ in range(2)]

    # Then both answers are whole, over one connection (or one each, closed): the deadline cut nothing, and the
    # watchdog found nothing to cut
    assert [answer.body for answer in answers] == [{"ok": True}] * 2 and len(connections) == (2 if closing else 1)
    assert log_lines(logs(), "provider answer not cut at its deadline") == []


@pytest.mark.parametrize("through_a_proxy", [False, True], ids=["direct", "through a proxy"])
def test_a_request_whose_deadline_passes_while_connecting_is_never_sent(
    provider, connections, monkeypatch, logs, through_a_proxy
):
    # Given a connection (the name lookup, say) that takes 1.2 s, within no timeout of the client's, on a 1 s budget,
    # to the provider or to the proxy named in the environment
    url = "http://provider.invalid:8080" if through_a_proxy else provider.url
    if through_a_proxy:
        proxy_everything_through(provider.url, monkeypatch)
    provider.reply("/op", OK)
    connect = urllib3.util.connection.create_connection

    def slow(*args, **kwargs):
        time.sleep(1.2)
        return connect(*args, **kwargs)

    monkeypatch.setattr(urllib3.util.connection, "create_connection", slow)

    # When the gateway sends a write
    with pytest.raises(ProviderTimeout) as raised:
        call(url, idempotent=False, PROVIDER_BUDGET_SECONDS=1, **SHORT)

    # Then it is a timeout, the write never sent: its outcome known, nothing for the provider
    assert not raised.value.outcome_unknown and provider.requests() == []
    assert attempts(logs) == ["timeout"]


@pytest.mark.parametrize("idempotent", [True, False], ids=["read", "write"])
def test_a_name_lookup_slower_than_the_budget_ends_the_call_at_the_budget_unsent(provider, monkeypatch, idempotent):
    # Given a provider whose name takes the resolver 3 s to look up (getaddrinfo takes no timeout), on a 1 s budget
    port = provider.url.rsplit(":", 1)[1]
    look_up = socket.getaddrinfo

    def slow_resolver(host, *args, **kwargs):
        if host == "slow-lookup.test":
            time.sleep(3)
            host = "127.0.0.1"
        return look_up(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", slow_resolver)
    provider.reply("/op", OK)

    # When the gateway calls it
    started = time.monotonic()
    with pytest.raises(ProviderTimeout) as raised:
        call(f"http://slow-lookup.test:{port}", idempotent=idempotent, PROVIDER_BUDGET_SECONDS=1, **SHORT)

    # Then the call ends when the budget does, not when the lookup does: nothing sent, a write's outcome known
    assert time.monotonic() - started < 1.6
    assert not raised.value.outcome_unknown and provider.requests() == []


def test_a_name_looked_up_in_time_is_called_as_usual(provider):
    # Given a provider reached by a host name the resolver answers at once
    port = provider.url.rsplit(":", 1)[1]
    provider.reply("/op", OK)

    # When the gateway calls it, Then it is answered, well within its budget
    started = time.monotonic()
    assert call(f"http://localhost:{port}", idempotent=False, PROVIDER_BUDGET_SECONDS=1, **SHORT).status == 200
    assert time.monotonic() - started < 0.9 and len(provider.requests("/op")) == 1


def test_the_bounded_lookup_asks_as_the_connection_will_on_a_thread_that_never_holds_the_process(provider, monkeypatch):
    # Given a resolver that notes who asks it what
    port = int(provider.url.rsplit(":", 1)[1])
    look_up = socket.getaddrinfo
    asked = []

    def noting_resolver(*args, **kwargs):
        thread = threading.current_thread()
        asked.append((args, kwargs, thread.name, thread.daemon))
        return look_up(*args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", noting_resolver)
    provider.reply("/op", OK)

    # When the gateway calls a provider by its name
    assert call(f"http://localhost:{port}", idempotent=False, PROVIDER_BUDGET_SECONDS=1, **SHORT).status == 200

    # Then the bounded lookup asked for the name and port urllib3 connects to, for a stream socket (what its own
    # lookup asks, so a resolver's cache serves both), on a daemon thread of its own: a lookup still running when
    # the function's process ends must not keep it alive
    bounded = [entry for entry in asked if entry[2] == "provider-address-lookup"]
    assert [(args, kwargs, daemon) for args, kwargs, _, daemon in bounded] == [
        (("localhost", port, 0, socket.SOCK_STREAM), {}, True)
    ]


@pytest.fixture
def stalled_resolver(monkeypatch):
    """A resolver that answers nothing until the test ends; the names it was asked for."""
    asked, released = [], threading.Event()

    def stalled(host, *args, **kwargs):
        asked.append(host)
        released.wait(5)
        raise socket.gaierror(socket.EAI_AGAIN, "stalled")

    monkeypatch.setattr(socket, "getaddrinfo", stalled)
    yield asked
    released.set()


@pytest.mark.parametrize("address", ["127.0.0.1", "::1"], ids=["IPv4", "IPv6"])
def test_an_address_is_never_looked_up_by_the_bounded_lookup(stalled_resolver, address):
    # Given a provider's host given as an address (the bench and the local stack call one), and a stalled resolver
    # When the connection's bounded lookup is made, Then it returns at once, the resolver never asked
    watchdog._look_up_by(address, 443, deadline=clock.monotonic() + 0.05)
    assert stalled_resolver == []


@pytest.mark.parametrize("name", ["provider.example", "127.0.0.1:443", "[::1]"], ids=["name", "port", "brackets"])
def test_a_host_that_is_not_an_address_is_looked_up_until_the_deadline(stalled_resolver, name):
    # Given a host an address parser reads as neither family, and a stalled resolver
    # When the connection's bounded lookup is made, Then the resolver is asked and its deadline is a connect timeout
    started = time.monotonic()
    with pytest.raises(urllib3.exceptions.ConnectTimeoutError):
        watchdog._look_up_by(name, 443, deadline=clock.monotonic() + 0.05)
    assert stalled_resolver == [name] and time.monotonic() - started < 0.5  # at the deadline, not later


def test_an_answer_through_a_proxy_named_in_the_environment_is_ended_at_the_budget_too(provider, monkeypatch):
    # Given a forward proxy named in HTTP_PROXY (played by the double, which gets the provider's absolute URL), that
    # sends the provider's answer a byte at a time
    target = "http://provider.invalid:8080"
    provider.reply(target + "/op", SLOWLY["its status line and headers"])
    proxy_everything_through(provider.url, monkeypatch)

    # When the gateway calls the provider
    started = time.monotonic()
    with pytest.raises(ProviderTimeout):
        call(target, idempotent=False, PROVIDER_BUDGET_SECONDS=1, **SHORT)

    # Then the call went through the proxy, and ended when the budget did
    assert len(provider.requests(target + "/op")) == 1 and 0.9 < time.monotonic() - started < 1.5


def test_a_body_stalled_after_late_headers_waits_only_for_what_is_left_of_the_budget(provider, logs):
    # Given a read timeout longer than the 1 s budget, and a provider whose headers come after 0.6 s, then its body
    # never (within the test)
    provider.reply("/op", Reply(200, b'{"ok": true}', delay=0.6, drip=3), OK)
    settings = {"PROVIDER_BUDGET_SECONDS": 1, "PROVIDER_READ_TIMEOUT_SECONDS": 5}

    # When the gateway calls it
    started = time.monotonic()
    with pytest.raises(ProviderTimeout):
        call(provider.url, idempotent=True, **settings)

    # Then the body's wait ends with the budget (0.4 s after the headers), not a read timeout after them
    assert 0.9 < time.monotonic() - started < 1.3 and attempts(logs) == ["timeout"]


@pytest.mark.parametrize("chunked", [False, True], ids=["with a length", "chunked"])
def test_an_answer_that_comes_in_pieces_within_the_budget_is_read_whole(provider, stopped_clock, chunked):
    provider.reply("/op", Reply(200, b'{"ok": true, "pieces": [1, 2, 3]}', drip=0.002, drip_head=True, chunked=chunked))

    answer = ProviderHttp("test", provider.url, Settings()).post("/op", operation="op", idempotent=True, json_body={})

    assert answer.body == {"ok": True, "pieces": [1, 2, 3]}


def test_a_body_stalled_after_its_headers_is_a_timeout_not_an_unreachable_provider(provider, stopped_clock, logs):
    # Given a provider that sends its headers, then nothing for longer than the read timeout
    provider.reply("/op", Reply(200, b'{"ok": true}', drip=2), OK)

    with pytest.raises(ProviderTimeout) as raised:
        call(provider.url, idempotent=False, **SHORT)

    # Then it is the read timeout it is (the provider answered, then stopped): a write's outcome unknown
    assert raised.value.outcome_unknown and attempts(logs) == ["timeout"]


def test_the_session_used_outside_any_call_is_not_watched(provider):
    # Given a client whose call is over, its watch with it
    provider.reply("/op", OK)
    http = ProviderHttp("test", provider.url, Settings())
    http.post("/op", operation="op", idempotent=True, json_body={})

    # When its session is used directly, outside any call, Then it answers as requests' own would
    assert http.session.post(provider.url + "/op", json={}, timeout=5).json() == {"ok": True}
