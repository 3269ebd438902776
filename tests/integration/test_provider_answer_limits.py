"""What a provider's answer may cost the gateway: read up to a limit, decoded, however it is compressed or however
long it goes on; past the limit it is not read on, and is a bad answer (after a write answered 2xx, its outcome
unknown). A header no request can carry is refused before anything is sent."""

from __future__ import annotations

import contextlib
import gzip
import socket
import threading
import time
import tracemalloc
import zlib

import pytest

from kyc_gateway.errors import GatewayError, ProviderBadResponse, RequestNotBuilt
from kyc_gateway.http import ANSWER_LIMIT_BYTES, ProviderHttp
from kyc_gateway.settings import Settings
from tests.integration.test_provider_http import OK, client, read, write
from tests.support.fake_provider import Reply

# 64 MiB of JSON once decoded, 16 times the limit, in about 64 KB on the wire (and 0.2 KB compressed twice)
DECODED = b'{"message": "' + b"A" * (64 * 1024 * 1024) + b'"}'
GZIP = gzip.compress(DECODED, compresslevel=9)
BOMBS = {
    "gzip": Reply(200, GZIP, headers=(("Content-Encoding", "gzip"),)),
    "gzip twice": Reply(200, gzip.compress(GZIP, compresslevel=9), headers=(("Content-Encoding", "gzip, gzip"),)),
    "deflate": Reply(200, zlib.compress(DECODED, 9), headers=(("Content-Encoding", "deflate"),)),
    "plain, chunked": Reply(200, b"[" + b"0," * (ANSWER_LIMIT_BYTES // 2) + b"0]", chunked=True),
    "plain, its length said": Reply(200, b"[" + b"0," * (ANSWER_LIMIT_BYTES // 2) + b"0]"),
}


@pytest.mark.parametrize("answer", list(BOMBS.values()), ids=list(BOMBS))
def test_an_answer_past_the_limit_is_a_bad_answer_read_no_further(provider, answer):
    # Given a provider answering far more than the limit once decoded
    provider.reply("/read", answer, OK)
    http = client(provider)

    # When the gateway reads it
    tracemalloc.start()
    try:
        with pytest.raises(ProviderBadResponse) as raised:
            read(http)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    # Then it is a bad answer with its status, and the gateway held a few times the limit, never the whole answer
    assert raised.value.provider_status == 200
    assert peak < len(DECODED) / 4  # (the fake provider's own copy of the chunked answer included)
    # and the connection it left half read is not reused: the next answer is read whole
    assert read(http).body == {"ok": True}


# a JSON string of exactly the limit, as each kind of answer carries it
OF_THE_LIMIT = b'"' + b"A" * (ANSWER_LIMIT_BYTES - 2) + b'"'
AT_THE_LIMIT = {
    "gzip": Reply(200, gzip.compress(OF_THE_LIMIT), headers=(("Content-Encoding", "gzip"),)),
    "plain, chunked": Reply(200, OF_THE_LIMIT, chunked=True),
    "plain, its length said": Reply(200, OF_THE_LIMIT),
}


@pytest.mark.parametrize("answer", list(AT_THE_LIMIT.values()), ids=list(AT_THE_LIMIT))
def test_an_answer_of_the_limit_is_read_whole(provider, answer):
    provider.reply("/read", answer)

    assert len(read(client(provider)).text) == ANSWER_LIMIT_BYTES


def test_an_answer_whose_length_is_past_the_limit_is_a_bad_answer_before_any_of_its_body_comes(provider):
    # Given an answer whose Content-Length is one byte past the limit, its body then coming a byte at a time
    provider.reply("/read", Reply(200, b'"' + b"A" * (ANSWER_LIMIT_BYTES - 1) + b'"', drip=0.05))

    # When the gateway reads it, with seconds of its budget to spare
    started = time.monotonic()
    with pytest.raises(ProviderBadResponse) as raised:
        read(client(provider, PROVIDER_BUDGET_SECONDS=3))

    # Then it is a bad answer at its headers: none of its body is waited for, nor the budget spent on it
    assert raised.value.provider_status == 200
    assert time.monotonic() - started < 2


def test_a_write_answered_2xx_past_the_limit_has_an_unknown_outcome(provider):
    provider.reply("/write", BOMBS["gzip"])

    with pytest.raises(ProviderBadResponse) as raised:
        write(client(provider))

    assert raised.value.outcome_unknown
    assert len(provider.requests("/write")) == 1


@pytest.mark.parametrize("token", ["t-1\r\nX-Injected: 1", "t\u20acken"], ids=["line break", "not Latin-1"])
def test_a_header_no_request_can_carry_is_refused_before_anything_is_sent_and_a_writes_outcome_stays_known(
    provider, token
):
    provider.reply("/write", OK)

    with pytest.raises(RequestNotBuilt) as raised:
        write(client(provider), headers={"Authorization": token})

    assert not raised.value.outcome_unknown
    assert provider.requests() == []


@pytest.fixture
def endless():
    """A provider answering 200 with a chunked JSON body that never ends (`/with-length` also declaring a
    Content-Length, which chunked coding overrides), until the client hangs up."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def answer(connection: socket.socket, path: str) -> None:
        length = "Content-Length: 12\r\n" if path == "/with-length" else ""
        head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n{length}\r\n"
        connection.sendall(head.encode() + b"1\r\n[\r\n")
        chunk = b"%x\r\n%s\r\n" % (64 * 1024, b"0," * 32 * 1024)
        while not stop.is_set():
            connection.sendall(chunk)

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            with connection, contextlib.suppress(OSError):
                request = connection.recv(65536).decode("latin-1")
                answer(connection, request.split(" ", 2)[1])

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    listener.close()
    thread.join(5)


@pytest.mark.parametrize("path", ["/endless", "/with-length"])
def test_an_endless_answer_is_a_bad_answer_at_the_limit_not_at_the_budgets_end(endless, path):
    # Given a provider whose answer never ends, and a budget long enough to tell the two apart
    http = ProviderHttp("test", endless, Settings(PROVIDER_BUDGET_SECONDS=10))

    # When the gateway reads it, Then it stops at the limit: a bad answer, long before the budget's 504
    started = time.monotonic()
    with pytest.raises(ProviderBadResponse):
        http.post(path, operation="read", idempotent=True, json_body={})
    assert time.monotonic() - started < 5


def test_an_answers_malformed_header_after_a_write_was_sent_leaves_its_outcome_unknown(provider):
    # Given a write answered with two Content-Lengths that disagree: the request went out, its answer is unreadable
    provider.reply("/write", Reply(200, b"{}", headers=(("Content-Length", "7"),)))

    with pytest.raises(GatewayError) as raised:
        write(client(provider))

    assert raised.value.outcome_unknown and not isinstance(raised.value, RequestNotBuilt)
    assert len(provider.requests("/write")) == 1
