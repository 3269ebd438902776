"""The local API Gateway reads a body sent in chunked transfer coding (a client streaming its body sends one, and API
Gateway takes it), and refuses one whose chunks do not say where it ends, as it refuses a bad Content-Length."""

from __future__ import annotations

import json
import socket
from urllib.parse import urlsplit

import pytest
import requests

from local.api_server import MAX_PAYLOAD_BYTES
from tests.support.local_api import RecordingInvoker, raw_exchange

CHUNKED = "POST /cladfy/krapin HTTP/1.1\r\nHost: local\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n"


def test_a_streamed_body_reaches_the_function_whole(serve):
    # Given a client that streams its body (requests sends a generator in chunked transfer coding)
    invoker = RecordingInvoker()
    url = serve(invoker)

    answer = requests.post(f"{url}/cladfy/krapin", data=iter([b'{"pinnumber": ', b'"A004416331M"}']), timeout=5)

    # Then the function gets the body joined, as from a Content-Length
    assert answer.status_code == 200
    assert json.loads(invoker.events[0][1]["body"]) == {"pinnumber": "A004416331M"}


@pytest.mark.parametrize(
    "body",
    [
        b'3;name=value\r\n{"a\r\n4\r\n": 1\r\n1\r\n}\r\n0\r\nX-Trailer: t\r\n\r\n',  # extensions, a trailer
        b'3\n{"a\n5\n": 1}\n0\n\n',  # lines ended by LF alone
    ],
    ids=["extensions and trailers", "LF line ends"],
)
def test_chunk_extensions_trailers_and_bare_line_feeds_are_read_past(serve, body):
    invoker = RecordingInvoker()
    url = serve(invoker)

    answer = raw_exchange(url, CHUNKED, body)

    assert answer.startswith(b"HTTP/1.1 200 ")
    assert invoker.events[0][1]["body"] == '{"a": 1}'


def test_the_connection_serves_the_next_request_after_a_chunked_one(serve):
    # Given two requests on one connection, the first's body chunked (its end known from its last chunk)
    invoker = RecordingInvoker()
    url = serve(invoker)
    first = CHUNKED.replace("Connection: close\r\n", "") + "\r\n"
    second = "POST /cladfy/krapin HTTP/1.1\r\nHost: local\r\nContent-Length: 2\r\nConnection: close\r\n"

    answer = raw_exchange(url, first + "2\r\n{}\r\n0\r\n\r\n" + second, b"[]")

    # Then both are answered, each with its own body
    assert answer.count(b"HTTP/1.1 200 ") == 2
    assert [event["body"] for _, event in invoker.events] == ["{}", "[]"]


@pytest.mark.parametrize(
    ("head", "body"),
    [
        (CHUNKED, b"zz\r\n{}\r\n0\r\n\r\n"),  # a chunk size that is not hexadecimal
        (CHUNKED, b"5\r\n{}\r\n0\r\n\r\n"),  # a chunk shorter than it says
        (CHUNKED, b"2\r\n{}XX0\r\n\r\n"),  # a chunk not ended by CRLF
        (CHUNKED.replace("chunked", "gzip, chunked"), b"2\r\n{}\r\n0\r\n\r\n"),  # a coding it cannot undo
        (CHUNKED + "Content-Length: 9\r\n", b"2\r\n{}\r\n0\r\n\r\n"),  # two ways to say where it ends
    ],
    ids=["size", "short", "unterminated", "gzip", "with a Content-Length"],
)
def test_a_body_whose_chunks_do_not_say_where_it_ends_is_a_clean_400(serve, head, body):
    invoker = RecordingInvoker()
    url = serve(invoker)

    answer = raw_exchange(url, head, body)

    assert answer.startswith(b"HTTP/1.1 400 ")
    error = json.loads(answer.partition(b"\r\n\r\n")[2])["error"]
    assert (error["code"], error["message"]) == (
        "request_refused",
        "Bad Request: the body is not in chunked transfer coding alone",
    )
    assert invoker.events == []


def test_chunks_over_api_gateways_limit_are_a_413_without_reading_them(serve):
    invoker = RecordingInvoker()
    url = serve(invoker)

    answer = raw_exchange(url, CHUNKED, f"{MAX_PAYLOAD_BYTES + 1:x}\r\n".encode())

    assert answer.startswith(b"HTTP/1.1 413 ")
    assert json.loads(answer.partition(b"\r\n\r\n")[2])["error"]["code"] == "request_too_large"
    assert invoker.events == []


def test_a_body_cut_off_inside_its_trailers_is_refused_not_taken_whole(serve):
    # Given a chunked body whose sender stops sending inside the trailer section (its end never comes)
    invoker = RecordingInvoker()
    address = urlsplit(serve(invoker))
    with socket.create_connection((address.hostname, address.port), timeout=5) as connection:
        connection.sendall(CHUNKED.encode() + b"\r\n2\r\n{}\r\n0\r\nX-Trailer: t\r\n")
        connection.shutdown(socket.SHUT_WR)
        answer = b"".join(iter(lambda: connection.recv(65536), b""))

    # Then it is refused, and no function runs on a body that may be incomplete
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert invoker.events == []
