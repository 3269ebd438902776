"""The local API Gateway: routes from the template, faithful events in, faithful responses out."""

from __future__ import annotations

import base64
import http.client
import json
import socket
import uuid
from urllib.parse import urlsplit

import pytest
import requests

from local.api_server import ApiServer, routes_of
from project import template as cfn
from tests.integration.test_deployed_template import transformed
from tests.support.local_api import RecordingInvoker, raw_exchange

FUNCTIONS = cfn.functions()


def test_a_burst_of_callers_is_queued_and_answered_not_refused():
    # Given the local API listening but not yet accepting (as when all its threads are busy)
    server = ApiServer(routes_of(FUNCTIONS), RecordingInvoker(), port=0)
    host, port = server.url.removeprefix("http://").split(":")
    request = b"POST /cladfy/krapin HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"
    callers = []
    try:
        # When 64 callers connect at once and send their requests
        for _ in range(64):
            caller = socket.create_connection((host, int(port)), timeout=2)
            caller.sendall(request)
            callers.append(caller)
        server.start()

        # Then every connection is queued, and answered once the API accepts
        answers = [caller.makefile("rb").readline() for caller in callers]
    finally:
        for caller in callers:
            caller.close()
        server.stop()
    assert answers == [b"HTTP/1.1 200 OK\r\n"] * 64


def test_routes_come_from_the_templates_api_events():
    routes = {(route.method, route.resource): route.function.logical_id for route in routes_of(FUNCTIONS)}

    assert routes[("POST", "/cladfy/krapin")] == "CladfyKraPinFunction"
    assert routes[("POST", "/signzy/onboardings/repush")] == "SignzyRepushFunction"


def test_a_request_becomes_a_proxy_event_for_the_routes_function(serve):
    invoker = RecordingInvoker()
    url = serve(invoker)

    requests.post(
        f"{url}/cladfy/krapin?trace=1&trace=2",
        data=b'{"pinnumber": "A004416331M"}',
        headers={"Content-Type": "application/json", "X-Correlation-Id": "c-9"},
        timeout=5,
    )

    (function, event) = invoker.events[0]
    assert function == "CladfyKraPinFunction"
    assert event["httpMethod"] == "POST"
    assert event["resource"] == event["path"] == "/cladfy/krapin"
    assert event["body"] == '{"pinnumber": "A004416331M"}'
    assert event["headers"]["X-Correlation-Id"] == "c-9"
    assert event["multiValueQueryStringParameters"] == {"trace": ["1", "2"]}
    assert event["requestContext"]["requestId"]


def test_path_parameters_are_extracted_and_url_decoded(serve):
    spec = cfn.FunctionSpec(
        "Reader",
        cfn.ROOT,
        "app",
        "handler",
        {"Events": {"Get": {"Type": "Api", "Properties": {"Path": "/things/{thingId}", "Method": "get"}}}},
    )
    invoker = RecordingInvoker()
    url = serve(invoker, {"Reader": spec})

    requests.get(f"{url}/things/a%20b", timeout=5)

    event = invoker.events[0][1]
    assert event["pathParameters"] == {"thingId": "a b"}
    assert event["resource"] == "/things/{thingId}"


@pytest.fixture(scope="module")
def route_miss_status() -> int:
    """What the deployed API answers a route it does not define (its MISSING_AUTHENTICATION_TOKEN response)."""
    api = transformed("dev")["Resources"]["GatewayApi"]["Properties"]["Body"]
    return int(api["x-amazon-apigateway-gateway-responses"]["MISSING_AUTHENTICATION_TOKEN"]["statusCode"])


@pytest.mark.parametrize(("method", "path"), [("POST", "/nope"), ("GET", "/cladfy/krapin"), ("POST", "/cladfy")])
def test_unknown_routes_and_methods_get_what_the_deployed_api_answers(serve, route_miss_status, method, path):
    invoker = RecordingInvoker()
    url = serve(invoker)

    answer = requests.request(method, url + path, timeout=5)

    assert answer.status_code == route_miss_status == 401
    assert answer.json()["error"]["code"] == "not_authenticated"
    assert answer.json()["error"]["message"] == "Missing Authentication Token"
    assert answer.headers["X-Correlation-Id"] == answer.json()["error"]["correlationId"]
    assert invoker.events == []


@pytest.mark.parametrize(
    ("sent", "echoed"), [("order-42", True), ("<not sane>", False), ("x" * 129, False), (None, False)]
)
def test_api_gateways_own_refusals_echo_a_sane_caller_correlation_id_in_their_header(serve, sent, echoed):
    # Given a caller's X-Correlation-Id (sane or not) on a request API Gateway itself refuses: an unknown route, and a
    # body over API Gateway's limit
    url = serve(RecordingInvoker())
    headers = {} if sent is None else {"X-Correlation-Id": sent}

    unknown = requests.post(url + "/nope", headers=headers, timeout=5)
    too_large = requests.post(url + "/things/1", headers=headers | {"Content-Length": str(11 * 2**20)}, timeout=5)

    # Then each answers the caller's id in its header when it is sane (as the functions do), else the request id,
    # which the envelope always carries (API Gateway's templates cannot check the caller's)
    for answer, status in ((unknown, 401), (too_large, 413)):
        request_id = answer.json()["error"]["correlationId"]
        assert answer.status_code == status
        assert answer.headers["X-Correlation-Id"] == (sent if echoed else request_id)
        assert request_id != sent


def test_api_gateways_own_refusals_read_the_correlation_id_as_the_functions_do_the_last_one_trimmed(serve):
    # Given a request API Gateway itself refuses, with X-Correlation-Id twice, the last one padded with spaces
    url = urlsplit(serve(RecordingInvoker()))
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=5)
    connection.putrequest("POST", "/nope")
    connection.putheader("X-Correlation-Id", "first-1")
    connection.putheader("X-Correlation-Id", "  second-2  ")
    connection.putheader("Content-Length", "0")
    connection.endheaders()

    # Then it echoes the last, trimmed, as a function reading its event's headers would
    answer = connection.getresponse()
    assert (answer.status, answer.getheader("X-Correlation-Id")) == (401, "second-2")
    connection.close()


def test_the_openapi_document_served_makes_signing_optional_as_the_local_stack_checks_none(serve):
    # Given the committed document, which describes the deployed API (SigV4 required but on the webhook)
    committed = json.loads((cfn.ROOT / "openapi.json").read_text())

    # When the local stack serves it
    url = serve(RecordingInvoker())
    served = requests.get(url + "/openapi.json", timeout=5).json()

    # Then its one server is this stack, every signed operation also admits no security there, and nothing else
    # differs
    assert [server["url"] for server in served.pop("servers")] == [url]
    committed.pop("servers")
    for path, operations in committed["paths"].items():
        for method, operation in operations.items():
            local = served["paths"][path].pop(method)
            signed = operation["security"]
            assert local.pop("security") == ([*signed, {}] if signed else []), (path, method)
            operation.pop("security")
            assert local == operation
    assert {key: value for key, value in served.items() if key != "paths"} == {
        key: value for key, value in committed.items() if key != "paths"
    }


def test_the_openapi_document_carries_a_correlation_id_like_every_other_answer(serve):
    url = serve(RecordingInvoker())

    # When the document is fetched with a sane X-Correlation-Id, then without one
    echoed = requests.get(f"{url}/openapi.json", headers={"X-Correlation-Id": "docs-1"}, timeout=5)
    generated = requests.get(f"{url}/openapi.json", timeout=5)

    # Then the caller's is echoed, and otherwise the stack's request id is there, as on every answer
    assert echoed.headers["X-Correlation-Id"] == "docs-1"
    assert uuid.UUID(generated.headers["X-Correlation-Id"])


def test_the_proxy_response_is_written_back_with_multi_value_headers_and_base64_bodies(serve):
    invoker = RecordingInvoker(
        {
            "statusCode": 201,
            "headers": {"X-One": "1"},
            "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]},
            "body": base64.b64encode(b"\x00binary").decode(),
            "isBase64Encoded": True,
        }
    )
    url = serve(invoker)

    answer = requests.post(f"{url}/cladfy/krapin", data="{}", timeout=5)

    assert answer.status_code == 201
    assert answer.headers["X-One"] == "1"
    assert answer.raw.headers.getlist("Set-Cookie") == ["a=1", "b=2"]
    assert answer.content == b"\x00binary"


def test_a_header_in_both_maps_of_a_proxy_response_is_answered_with_the_multi_value_maps_values_only(serve):
    # Given a function answering one header in both maps (API Gateway merges them: for a header in both, only the
    # multiValueHeaders values)
    both = {"headers": {"cache-control": "no-cache"}, "multiValueHeaders": {"Cache-Control": ["no-store"]}}
    url = serve(RecordingInvoker({"statusCode": 200, **both, "body": "{}"}))

    # When it is called, Then the header is answered once, with the multi-value map's value
    answer = requests.post(f"{url}/cladfy/krapin", data="{}", timeout=5)
    assert answer.raw.headers.getlist("Cache-Control") == ["no-store"]


def test_every_answer_names_its_request_id_in_x_amzn_requestid_as_api_gateway_does(serve):
    # Given the local API
    invoker = RecordingInvoker()
    url = serve(invoker)

    # When a function answers a request, and the API refuses another (a route miss)
    answered = requests.post(f"{url}/cladfy/krapin", data=b"{}", timeout=5)
    refused = requests.post(f"{url}/nope", data=b"{}", timeout=5)

    # Then each answer names the request id the function saw, which X-Correlation-Id falls back to
    assert answered.headers["x-amzn-RequestId"] == invoker.events[0][1]["requestContext"]["requestId"]
    assert refused.headers["x-amzn-RequestId"] == refused.json()["error"]["correlationId"]


def test_an_answer_to_head_is_its_headers_only_so_the_next_answer_on_the_connection_is_read_whole(serve):
    # Given a keep-alive connection carrying a HEAD request (no route has HEAD: the route miss), then a POST
    url = serve(RecordingInvoker())
    head = "HEAD /connectfi/applications/app-1 HTTP/1.1\r\nHost: local\r\n"
    post = "POST /cladfy/krapin HTTP/1.1\r\nHost: local\r\nContent-Length: 2\r\nConnection: close\r\n"
    received = raw_exchange(url, head + "\r\n" + post, b"{}")

    # Then right after the HEAD answer's headers comes the POST's status line, not a body
    first, _, rest = received.partition(b"\r\n\r\n")
    assert first.startswith(b"HTTP/1.1 401 ")
    assert rest.startswith(b"HTTP/1.1 200 "), rest[:120]


def test_a_request_whose_method_is_the_word_any_is_a_route_miss(serve, route_miss_status):
    # Given routes of one method each; When a caller sends the method "ANY" (a route's catch-all in API Gateway,
    # never a request method matching every route)
    invoker = RecordingInvoker()
    url = urlsplit(serve(invoker))
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=5)
    connection.request("ANY", "/cladfy/krapin", body=b"{}")
    answer = connection.getresponse()
    answer.read()
    connection.close()

    # Then it is a route miss, as any other method the API does not define, and no function runs
    assert answer.status == route_miss_status and invoker.events == []


@pytest.mark.parametrize("invoker", [RecordingInvoker(error=RuntimeError("boom")), RecordingInvoker({"no": 1})])
def test_a_crashing_or_malformed_integration_is_a_502_and_its_error_is_logged(serve, invoker, capfd):
    url = serve(invoker)

    answer = requests.post(f"{url}/cladfy/krapin", data="{}", timeout=5)

    assert answer.status_code == 502
    assert answer.json()["error"]["code"] == "gateway_error"
    logged = capfd.readouterr().err
    assert "CladfyKraPinFunction failed:" in logged and "Traceback" in logged


def test_payloads_over_api_gateways_limit_are_refused_without_invoking(serve):
    invoker = RecordingInvoker()
    url = serve(invoker)

    answer = requests.post(f"{url}/cladfy/krapin", data=b"x" * (10 * 1024 * 1024 + 1), timeout=30)

    assert answer.status_code == 413
    assert answer.json()["error"]["code"] == "request_too_large"
    assert invoker.events == []


@pytest.mark.parametrize(
    "lengths",
    [["abc"], ["-5"], ["+5"], ["5 5"], ["0x10"], ["1e3"], [""], ["\u00b2"], ["5", "6"]],
    ids=["letters", "negative", "signed", "two-numbers", "hex", "exponent", "empty", "superscript", "conflicting"],
)
def test_a_malformed_content_length_is_a_clean_400_and_the_connection_closes(serve, lengths):
    # Given the local API, and a request whose Content-Length is not one whole number of bytes
    invoker = RecordingInvoker()
    url = serve(invoker)
    headers = "".join(f"Content-Length: {length}\r\n" for length in lengths)

    # When it arrives on a raw socket (a body follows, as a client would send one)
    answer = raw_exchange(url, f"POST /cladfy/krapin HTTP/1.1\r\nHost: local\r\n{headers}", b'{"pinnumber": "x"}')

    # Then a 400 in the gateway's envelope, no handler run, and the server closes the connection (no hang)
    status_line, _, rest = answer.partition(b"\r\n")
    head, _, body = rest.partition(b"\r\n\r\n")
    assert status_line == b"HTTP/1.1 400 Bad Request"
    assert b"Content-Type: application/json" in head
    error = json.loads(body)["error"]
    assert (error["code"], error["message"]) == (
        "request_refused",
        "Bad Request: Content-Length must be one whole number of bytes",
    )
    assert invoker.events == []


@pytest.mark.parametrize("length", ["1" + "0" * 30, "9" * 5000], ids=["absurd", "five-thousand-digits"])
def test_an_absurdly_large_content_length_is_a_413_without_reading_the_body(serve, length):
    invoker = RecordingInvoker()
    url = serve(invoker)

    answer = raw_exchange(url, f"POST /cladfy/krapin HTTP/1.1\r\nHost: local\r\nContent-Length: {length}\r\n")

    assert answer.startswith(b"HTTP/1.1 413 ")
    assert json.loads(answer.partition(b"\r\n\r\n")[2])["error"]["code"] == "request_too_large"
    assert invoker.events == []


def test_a_content_length_with_leading_zeros_is_read_as_its_number(serve):
    invoker = RecordingInvoker()
    url = serve(invoker)

    answer = raw_exchange(
        url, "POST /cladfy/krapin HTTP/1.1\r\nHost: local\r\nContent-Length: 002\r\nConnection: close\r\n", b"{}"
    )

    assert answer.startswith(b"HTTP/1.1 200 ")
    assert invoker.events[0][1]["body"] == "{}"


def test_real_handlers_answer_through_the_local_api(serve, sandboxed_gateway):
    from local.functions import invoke

    url = serve(invoke)

    answer = requests.post(f"{url}/cladfy/krapin", json={"pinnumber": "A004416331M"}, timeout=10)

    assert answer.status_code == 200
    assert answer.json()["data"]["PINNo"] == "A004416331M"
    assert answer.headers["X-Correlation-Id"]
    assert json.loads(answer.text)["extra_field"] == "kept"
