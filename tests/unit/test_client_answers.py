"""What the client makes of the time an answer takes and of answers that are not the gateway's: no retry that
cannot get its answer within the time budget (the answer in hand is raised), no redirect followed, no body that is
not JSON taken for a success."""

from __future__ import annotations

import re
import typing

import pytest
import requests
from kyc_gateway_client import ROUTES, GatewayClient, NotFound, ProviderFailed, ProviderTimeout, TransportError

from project import template as cfn
from tests.unit.test_client import CREDENTIALS, OK, URL, Clock, Transport, envelope

GATEWAY_TIMEOUT = (504, envelope("gateway_timeout"), {})


class TimedTransport(Transport):
    """The scripted replies, each `seconds` after the request on the client's clock; a read timeout shorter than
    that ends the attempt as requests would end it, with ReadTimeout."""

    def __init__(self, clock: Clock, seconds: float, *replies) -> None:
        super().__init__(*replies)
        self.clock, self.seconds, self.timeouts = clock, seconds, []

    def send(self, request, **kwargs):
        self.timeouts.append(kwargs["timeout"])
        read_timeout = kwargs["timeout"][1]
        if read_timeout < self.seconds:
            self.sent.append(request)
            self.clock.now += read_timeout
            raise requests.ReadTimeout("read timed out")
        self.clock.now += self.seconds
        return super().send(request, **kwargs)


def timed_client(seconds: float, *replies, **options) -> tuple[GatewayClient, TimedTransport, Clock]:
    clock = Clock()
    transport = TimedTransport(clock, seconds, *replies)
    session = requests.Session()
    session.mount("https://", transport)
    options = {"region": "eu-west-1", "credentials": CREDENTIALS, **options}
    return GatewayClient(URL, session=session, sleep=clock.sleep, clock=clock, **options), transport, clock


def test_a_504_after_the_gateways_29_seconds_is_raised_when_no_whole_attempt_is_left_in_the_budget():
    # Given the default settings (60 s budget) and a gateway answering 504 after API Gateway's 29 s, each time
    gateway, transport, _ = timed_client(29.0, GATEWAY_TIMEOUT, GATEWAY_TIMEOUT, GATEWAY_TIMEOUT)

    # When a write is called, Then the 504 is raised as ProviderTimeout: no second attempt is sent, which could
    # not get its answer within the 31 s left (it would end as a ReadTimeout while the gateway still works on it)
    with pytest.raises(ProviderTimeout) as raised:
        gateway.connectfi_update({"applicationId": "iapp_1"})

    assert (raised.value.status, raised.value.code, len(transport.sent)) == (504, "gateway_timeout", 1)


def test_a_quick_504_is_retried_while_a_whole_attempt_fits_the_budget():
    # Given a gateway answering 504 after 10 s (a provider's timeout), then a success
    gateway, transport, _ = timed_client(10.0, GATEWAY_TIMEOUT, OK)

    # When a call is made with the default settings, Then it is retried (33 s fit in the 50 s left) and succeeds
    answer = gateway.connectfi_status({"customerId": "c", "applicationId": "a"})

    assert (answer.status, answer.attempts) == (200, 2)
    assert transport.timeouts[1] == (3.05, 30.0)  # the retry waits as long as the gateway may take


def test_a_budget_shorter_than_an_attempt_still_sends_the_first_attempt_with_its_timeouts_cut_to_the_budget():
    # Given a budget of 5 s, under one whole attempt (33 s with the default timeouts), and a quick 503
    gateway, transport, _ = timed_client(1.0, (503, envelope("provider_unavailable"), {}), OK, budget_seconds=5)

    # When a call is made, Then the first attempt is sent, waiting at most the budget, and is never retried
    with pytest.raises(ProviderFailed) as raised:
        gateway.connectfi_status({"customerId": "c", "applicationId": "a"})

    assert raised.value.status == 503 and transport.timeouts == [(3.05, 5)]


class CreepingClock(Clock):
    """A clock that moves on a millisecond each time it is read, as a real one moves while a request is signed."""

    def __call__(self) -> float:
        self.now += 0.001
        return self.now


def test_a_budget_spent_before_the_first_attempt_is_the_clients_error_and_nothing_is_sent():
    # Given a budget shorter than the time it takes to prepare the request
    transport, session, clock = Transport(OK), requests.Session(), CreepingClock()
    session.mount("https://", transport)
    gateway = GatewayClient(
        URL,
        session=session,
        clock=clock,
        sleep=clock.sleep,
        budget_seconds=1e-9,
        region="eu-west-1",
        credentials=CREDENTIALS,
    )

    # When a route is called, Then the client's own error says so (requests would refuse a negative timeout with a
    # bare ValueError), and nothing is sent
    with pytest.raises(TransportError, match="budget_seconds") as raised:
        gateway.connectfi_status({"customerId": "c", "applicationId": "a"})

    assert (raised.value.status, raised.value.code, transport.sent) == (0, "transport_error", [])


class RawTransport(Transport):
    """The scripted replies with their bodies as bytes, as a proxy or a web server sends them."""

    def send(self, request, **kwargs):
        self.sent.append(request)
        status, content, headers = self.replies.pop(0)
        response = requests.Response()
        response.status_code, response._content, response.request, response.url = status, content, request, request.url
        response.headers.update(headers)
        return response


def raw_client(*replies, **options) -> tuple[GatewayClient, RawTransport]:
    transport, session = RawTransport(*replies), requests.Session()
    session.mount("https://", transport)
    options = {"region": "eu-west-1", "credentials": CREDENTIALS, **options}
    return GatewayClient(URL, session=session, **options), transport


def test_a_redirect_is_not_followed_and_is_the_clients_error_naming_where_it_pointed():
    # Given a base URL answered by a redirect to another host (which would answer a success)
    moved = (307, b"", {"Location": "https://elsewhere.example/dev/connectfi/update?token=secret"})
    gateway, transport = raw_client(moved, (200, b'{"code": "0", "data": {}}', {"Content-Type": "application/json"}))

    # When a signed write is called, Then it is not sent again there (its body, key and signature would go along)
    with pytest.raises(TransportError) as raised:
        gateway.connectfi_update({"applicationId": "iapp_1"}, idempotency_key="order-77")

    # And the error names the status and the host, not the rest of the Location
    assert len(transport.sent) == 1 and (raised.value.status, raised.value.code) == (307, "unexpected_answer")
    assert "elsewhere.example" in str(raised.value) and "secret" not in str(raised.value)


@pytest.mark.parametrize("status", [200, 201])
def test_a_success_that_is_not_json_is_the_clients_error_naming_its_status_and_content_type(status):
    # Given a base URL that answers a web page (a misrouted URL, a proxy's page)
    page = (status, b"<html><body>Welcome</body></html>", {"Content-Type": "text/html; charset=utf-8"})
    gateway, transport = raw_client(page)

    # When a route is called, Then no Response with no body is returned: the client's error says what came back
    with pytest.raises(TransportError, match=rf"{status}.*text/html") as raised:
        gateway.connectfi_status({"customerId": "c", "applicationId": "a"})

    assert (raised.value.status, raised.value.code, len(transport.sent)) == (status, "unexpected_answer", 1)


@pytest.mark.parametrize("body", [b"[1, 2]", b'"ok"', b"null", b"7"], ids=["a list", "a string", "null", "a number"])
def test_a_success_that_is_json_but_not_an_object_is_the_clients_error(body):
    # Given a base URL that answers 200 with JSON that is no answer of the gateway's (every success is an object)
    gateway, transport = raw_client((200, body, {"Content-Type": "application/json"}))

    # When a route is called, Then no typed Response is made of it
    with pytest.raises(TransportError, match="JSON but not an object") as raised:
        gateway.connectfi_status({"customerId": "c", "applicationId": "a"})

    assert (raised.value.status, raised.value.code, len(transport.sent)) == (200, "unexpected_answer", 1)


@pytest.mark.parametrize("status", [200, 502])
def test_json_nested_deeper_than_the_parser_goes_is_the_clients_error_never_a_recursion_error(status):
    # Given a base URL answering JSON nested 100,000 deep (no answer of the gateway's: a proxy, a hostile host)
    gateway, _ = raw_client((status, b"[" * 100_000, {"Content-Type": "application/json"}), max_attempts=1)

    # When a route is called, Then the package's own error says what came back: unexpected on a success, the
    # status's error on an error status
    with pytest.raises((TransportError, ProviderFailed), match="nested too deeply") as raised:
        gateway.connectfi_status({"customerId": "c", "applicationId": "a"})

    assert type(raised.value) is (TransportError if status == 200 else ProviderFailed)
    assert raised.value.status == status


def test_an_error_that_is_not_json_is_its_statuss_error_naming_its_content_type():
    gateway, _ = raw_client((502, b"<html>Bad Gateway</html>", {"Content-Type": "text/html"}), max_attempts=1)

    with pytest.raises(ProviderFailed, match=r"502.*not JSON.*text/html") as raised:
        gateway.connectfi_status({"customerId": "c", "applicationId": "a"})

    assert raised.value.code == "gateway_error"


@pytest.mark.parametrize(
    "answer",
    [
        (404, b'{"detail": "Not Found"}', {"Content-Type": "application/json"}),
        (404, b'{"message": "Not Found"}', {"Content-Type": "application/json"}),
        (404, b"<html>Not Found</html>", {"Content-Type": "text/html"}),
    ],
    ids=["another service's JSON", "a message alone", "a page"],
)
def test_a_not_found_without_the_gateways_envelope_is_not_a_subject_the_provider_does_not_know(answer):
    # Given a base URL answered by another service's 404 (a path that is not the API's)
    gateway, transport = raw_client(answer)

    # When a route is called, Then that is the client's unexpected answer, never NotFound ("no such customer")
    with pytest.raises(TransportError, match=r"404.*check base_url") as raised:
        gateway.cladfy_krapin({"pinnumber": "A123456789B"})

    assert (raised.value.status, raised.value.code, len(transport.sent)) == (404, "unexpected_answer", 1)
    assert not isinstance(raised.value, NotFound)


def test_the_method_table_of_docs_client_md_names_each_methods_answer_type():
    # Given the methods table of docs/client.md (method, route, returns)
    text = (cfn.ROOT / "docs" / "client.md").read_text()
    documented = dict(re.findall(r"^\| `(\w+)\(.*?\| `(Response\[\w+\])` \|$", text, flags=re.MULTILINE))

    # Then every route's method is there with the type it returns
    for name in ROUTES:
        returned = typing.get_type_hints(getattr(GatewayClient, name))["return"]
        assert documented.get(name) == f"Response[{typing.get_args(returned)[0].__name__}]", name
