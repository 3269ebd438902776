"""The caller kit (clients/python) without a network: signing, Idempotency-Keys, retries and typed errors, over a
scripted transport; and its routes, models and answer types against openapi.json. Its own errors for what it cannot
work with are in test_client_misuse.py."""

from __future__ import annotations

import json
import re
import typing
import uuid

import pytest
import requests
import urllib3.exceptions
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from kyc_gateway_client import (
    ROUTES,
    GatewayClient,
    IdempotencyConflict,
    InvalidRequest,
    NotAuthorized,
    NotFound,
    ProviderFailed,
    ProviderRejected,
    RateLimited,
    Response,
    TransportError,
)

from generators import client_models
from generators.openapi import DOCUMENT as OPENAPI

URL = "https://abc123.execute-api.eu-west-1.amazonaws.com/dev"
CREDENTIALS = Credentials("AKIDEXAMPLE", "secret-example", "session-token-example")
OK = (200, {"code": "0", "data": {"status": "ok"}}, {})


def envelope(code: str, **fields) -> dict:
    base = {"message": "m", "provider": None, "providerStatus": None, "providerCode": None, "details": []}
    return {"error": {**base, "code": code, "providerRequestId": None, "correlationId": "c-1", **fields}}


class Transport(requests.adapters.BaseAdapter):
    """Answers each request with the next scripted reply (status, body, headers) or raises it."""

    def __init__(self, *replies) -> None:
        super().__init__()
        self.replies, self.sent = list(replies), []

    def send(self, request, **kwargs):
        self.sent.append(request)
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        status, body, headers = reply
        response = requests.Response()
        response.status_code, response._content, response.request, response.url = (
            status,
            json.dumps(body).encode(),
            request,
            request.url,
        )
        response.headers.update(headers)
        return response

    def close(self) -> None:
        pass


class Clock:
    def __init__(self) -> None:
        self.now, self.slept = 0.0, []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def client(*replies, **options) -> tuple[GatewayClient, Transport, Clock]:
    transport, clock = Transport(*replies), Clock()
    session = requests.Session()
    session.mount("https://", transport)
    options = {"region": "eu-west-1", "credentials": CREDENTIALS, **options}
    return GatewayClient(URL, session=session, sleep=clock.sleep, clock=clock, **options), transport, clock


def expected_signature(sent) -> str:
    """SigV4 recomputed with botocore over what was really sent (method, URL, headers, body) at its X-Amz-Date."""
    unsigned = {k: v for k, v in sent.headers.items() if k.lower() not in ("authorization", "content-length")}
    request = AWSRequest(method=sent.method, url=sent.url, data=sent.body or b"", headers=unsigned)
    request.context["timestamp"] = sent.headers["X-Amz-Date"]
    signer = SigV4Auth(CREDENTIALS.get_frozen_credentials(), "execute-api", "eu-west-1")
    signed = re.search(r"SignedHeaders=([^,]+)", sent.headers["Authorization"]).group(1).split(";")
    request.headers = {k: v for k, v in request.headers.items() if k.lower() in signed}
    return signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)


def test_requests_are_signed_for_execute_api_with_the_callers_credentials():
    gateway, transport, _ = client(OK)

    gateway.cladfy_krapin({"pinnumber": "A004416331M"})

    (sent,) = transport.sent
    authorization = sent.headers["Authorization"]
    assert re.fullmatch(
        r"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/\d{8}/eu-west-1/execute-api/aws4_request, "
        r"SignedHeaders=[a-z0-9;-]*host[a-z0-9;-]*, Signature=[0-9a-f]{64}",
        authorization,
    )
    assert sent.headers["X-Amz-Security-Token"] == "session-token-example"
    assert authorization.endswith("Signature=" + expected_signature(sent))
    assert sent.url == URL + "/cladfy/krapin"


def test_a_body_changed_after_signing_no_longer_matches_its_signature():
    gateway, transport, _ = client(OK)
    gateway.cladfy_krapin({"pinnumber": "A004416331M"})
    (sent,) = transport.sent

    sent.body = b'{"pinnumber": "P004416331M"}'

    assert not sent.headers["Authorization"].endswith("Signature=" + expected_signature(sent))


def test_the_local_stack_can_be_called_unsigned():
    gateway, transport, _ = client(OK, sign=False, credentials=None)

    gateway.cladfy_krapin({"pinnumber": "A004416331M"})

    assert "Authorization" not in transport.sent[0].headers


def test_a_write_gets_a_generated_idempotency_key_kept_across_its_retries():
    gateway, transport, _ = client((503, envelope("provider_unavailable"), {}), (502, {}, {}), OK)

    answer = gateway.signzy_repush({"onboardingId": "65a1b2c3d4e5f60718293a4b"})

    (key,) = {request.headers["Idempotency-Key"] for request in transport.sent}
    assert len(transport.sent) == 3 and answer.attempts == 3
    assert uuid.UUID(key) and answer.idempotency_key == key


def test_a_callers_idempotency_key_is_sent_and_replays_are_reported():
    gateway, transport, _ = client((200, {"ok": True}, {"Idempotent-Replayed": "true"}))

    answer = gateway.connectfi_update({"applicationId": "iapp_1"}, idempotency_key="order-77")

    assert transport.sent[0].headers["Idempotency-Key"] == "order-77"
    assert (answer.replayed, answer.idempotency_key) == (True, "order-77")


def test_a_stored_failure_given_again_says_so_on_the_error_with_its_key():
    # Given a write whose stored failure the gateway gives again under its key (a document generated, its upload not)
    stored = envelope(
        "provider_error", details=[{"field": "documentId", "issue": "upload it", "type": "upload_pending"}]
    )
    gateway, _, _ = client((502, stored, {"Idempotent-Replayed": "true"}), max_attempts=1)

    # When the write is called, Then its error says it is the stored answer, under which key
    with pytest.raises(ProviderFailed) as raised:
        gateway.connectfi_update({"applicationId": "iapp_1"}, idempotency_key="order-78")

    assert (raised.value.replayed, raised.value.idempotency_key) == (True, "order-78")


def test_a_write_the_provider_failed_after_it_was_sent_keeps_the_providers_word_on_the_conflict_its_retry_gets():
    # Given a write the provider failed in a way that may have come after doing it (CDP's documented 502 "Backend
    # Technical Problem"): the gateway answers the provider's failure, then 409 to the same key, which it never
    # sends again
    failed = envelope(
        "provider_error", provider="cdp", providerStatus=502, providerCode="40001", providerRequestId="a700"
    )
    unknown = envelope("idempotency_outcome_unknown", details=[{"field": "Idempotency-Key", "issue": "look it up"}])
    gateway, transport, _ = client((502, failed, {}), (409, unknown, {"Idempotent-Replayed": "false"}))

    # When the client retries it under its key
    with pytest.raises(IdempotencyConflict) as raised:
        gateway.cdp_onboard_customer({"channel": "WEB"})

    # Then the caller learns the outcome is unknown and how to find it out, and keeps what the provider said: its
    # request id, to raise the failure with the provider
    assert len(transport.sent) == 2 and raised.value.code == "idempotency_outcome_unknown"
    assert raised.value.details == [{"field": "Idempotency-Key", "issue": "look it up"}]
    said = (raised.value.provider, raised.value.provider_status, raised.value.provider_code)
    assert said == ("cdp", 502, "40001") and raised.value.provider_request_id == "a700"


def test_a_conflict_on_a_first_attempt_names_no_provider():
    # Given a key whose outcome was unknown before this call (an earlier call's): no answer of this call's own
    gateway, _, _ = client((409, envelope("idempotency_outcome_unknown"), {}))

    with pytest.raises(IdempotencyConflict) as raised:
        gateway.cdp_onboard_customer({"channel": "WEB"}, idempotency_key="k-1")

    assert (raised.value.provider, raised.value.provider_request_id) == (None, None)


def test_reads_carry_no_idempotency_key():
    gateway, transport, _ = client(OK)

    gateway.connectfi_status({"customerId": "c", "applicationId": "a"})

    assert "Idempotency-Key" not in transport.sent[0].headers


def test_retry_after_is_honoured():
    gateway, _, clock = client((429, envelope("rate_limited"), {"Retry-After": "3"}), OK)

    gateway.cladfy_krapin({"pinnumber": "A004416331M"})

    assert clock.slept[0] >= 3


def test_retries_stop_at_the_time_budget_and_the_last_answer_is_raised():
    replies = [(429, envelope("rate_limited"), {"Retry-After": "4"})] * 4
    gateway, transport, clock = client(*replies, budget_seconds=10, timeout=(1, 2))  # an attempt: 3 s at most

    with pytest.raises(RateLimited) as raised:
        gateway.cladfy_krapin({"pinnumber": "A004416331M"})

    assert len(transport.sent) == 2 and clock.now == 4  # a third attempt, after 8 s, could end past the budget
    assert raised.value.code == "rate_limited"


@pytest.mark.parametrize(
    ("status", "code", "kind"),
    [
        (400, "validation_error", InvalidRequest),
        (401, "not_authenticated", NotAuthorized),
        (403, "forbidden", NotAuthorized),
        (404, "application_not_found", NotFound),
        (409, "idempotency_outcome_unknown", IdempotencyConflict),
        (422, "invalid_application_state", ProviderRejected),
    ],
)
def test_other_errors_are_never_retried_and_become_typed_exceptions(status, code, kind):
    fields = {"provider": "connectfi", "providerStatus": 400, "providerCode": "statusApplicationEntity"}
    gateway, transport, _ = client((status, envelope(code, providerRequestId="req-9", **fields), {}))

    with pytest.raises(kind) as raised:
        gateway.connectfi_update({"applicationId": "iapp_1"}, correlation_id="c-1")

    error = raised.value
    assert len(transport.sent) == 1
    assert (error.status, error.code, error.provider, error.provider_code) == (
        status,
        code,
        "connectfi",
        "statusApplicationEntity",
    )
    assert (error.provider_request_id, error.correlation_id) == ("req-9", "c-1")


def test_connection_failures_are_retried_then_reported():
    failures = [requests.ConnectionError("refused")] * 4
    gateway, transport, _ = client(*failures)

    with pytest.raises(TransportError):
        gateway.connectfi_status({"customerId": "c", "applicationId": "a"})

    assert len(transport.sent) == 4


def test_an_answer_cut_short_is_retried_like_a_connection_failure():
    gateway, transport, _ = client(requests.exceptions.ChunkedEncodingError("IncompleteRead"), OK)

    answer = gateway.connectfi_status({"customerId": "c", "applicationId": "a"})

    assert (answer.status, len(transport.sent)) == (200, 2)


def test_any_other_failure_of_the_http_library_is_the_clients_own_error_at_once():
    gateway, transport, _ = client(requests.exceptions.ContentDecodingError("bad gzip"), OK)

    with pytest.raises(TransportError, match="ContentDecodingError"):
        gateway.connectfi_status({"customerId": "c", "applicationId": "a"})

    assert len(transport.sent) == 1


def test_an_error_urllib3_raises_through_requests_is_the_clients_own_error_at_once():
    # Given an HTTP stack that refuses the host when it connects (urllib3's LocationParseError is a ValueError)
    refused = urllib3.exceptions.LocationParseError("'a..b', label empty or too long")
    gateway, transport, _ = client(refused, OK)

    # When a route is called, Then the caller gets a TransportError, not the ValueError, and nothing is retried
    with pytest.raises(TransportError, match="LocationParseError") as raised:
        gateway.connectfi_status({"customerId": "c", "applicationId": "a"})

    assert not isinstance(raised.value, ValueError) and len(transport.sent) == 1


@pytest.mark.parametrize(
    "failure",
    [requests.ReadTimeout("read timed out"), (200, "not an answer", {})],
    ids=["no answer", "a success it cannot read"],
)
def test_a_write_whose_answer_never_came_says_which_idempotency_key_it_was_sent_under(failure):
    # Given a write sent under a key the client made, whose answer never came or came unreadable (the gateway may
    # have done it)
    gateway, transport, _ = client(failure, max_attempts=1)

    # When it fails, Then the error names that key: the caller's one way to ask again without writing twice
    with pytest.raises(TransportError) as raised:
        gateway.cdp_onboard_customer({"first_name": "x"})
    assert raised.value.idempotency_key == transport.sent[0].headers["Idempotency-Key"]


def test_a_netrc_entry_never_replaces_the_signature(tmp_path, monkeypatch):
    # Given a ~/.netrc with a default entry, as many CI images and developer machines have
    netrc = tmp_path / "netrc"
    netrc.write_text("default login deploy password hunter2\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    gateway, transport, _ = client(OK)

    # When a route is called, Then the request goes with its SigV4 signature, not the entry's Basic credentials
    gateway.cladfy_krapin({"pinnumber": "A004416331M"})
    (sent,) = transport.sent
    assert sent.headers["Authorization"].startswith("AWS4-HMAC-SHA256 ")


def test_the_correlation_id_is_sent_and_returned():
    gateway, transport, _ = client((200, {}, {"X-Correlation-Id": "trace-42"}))

    answer = gateway.connectfi_application("iapp_1", correlation_id="trace-42")

    assert transport.sent[0].headers["X-Correlation-Id"] == "trace-42"
    assert answer.correlation_id == "trace-42"
    assert transport.sent[0].url == URL + "/connectfi/applications/iapp_1"


def test_a_purpose_is_sent_as_the_gateway_reads_it_and_one_it_would_refuse_is_never_sent():
    # Given a caller saying why it asks the provider, then one giving a name where a code belongs
    gateway, transport, _ = client(OK)
    gateway.cladfy_krapin({"pinnumber": "A004416331M"}, purpose="periodic-review:case-7781")
    with pytest.raises(InvalidRequest) as refused:
        gateway.cladfy_krapin({"pinnumber": "A004416331M"}, purpose="review of John Smith")

    # Then the first went as X-Request-Purpose; the second was refused before anything was sent, naming no value
    assert transport.sent[0].headers["X-Request-Purpose"] == "periodic-review:case-7781"
    assert len(transport.sent) == 1
    assert refused.value.details == [{"field": "purpose", "issue": refused.value.details[0]["issue"], "type": "header"}]
    assert "John" not in str(refused.value)


def test_every_provider_route_the_openapi_document_gives_a_purpose_takes_one():
    import inspect

    document = json.loads(OPENAPI.read_text())
    with_purpose = {
        (method.upper(), path)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if any(p["name"] == "X-Request-Purpose" for p in operation.get("parameters", []))
    }
    takes = {
        (route.method, route.path)
        for name, route in ROUTES.items()
        if "purpose" in inspect.signature(getattr(GatewayClient, name)).parameters
    }
    assert takes == with_purpose


def test_every_caller_route_of_the_openapi_document_has_its_method():
    document = json.loads(OPENAPI.read_text())
    documented = {
        (method.upper(), path): any(p["name"] == "Idempotency-Key" for p in operation.get("parameters", []))
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if not path.startswith("/connectfi/webhooks/")
    }
    assert {(route.method, route.path): route.write for route in ROUTES.values()} == documented
    assert all(callable(getattr(GatewayClient, name)) for name in ROUTES)


def test_the_request_models_and_answer_types_are_generated_from_the_current_openapi_document():
    for module, expected in client_models.render(json.loads(OPENAPI.read_text())).items():
        assert module.read_text() == expected, f"{module.name} is stale: run `make openapi`"


def test_each_method_returns_the_type_of_its_routes_success_schema():
    document = json.loads(OPENAPI.read_text())
    for name, route in ROUTES.items():
        responses = document["paths"][route.path][route.method.lower()]["responses"]
        schema = responses["200"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]

        returned = typing.get_type_hints(getattr(GatewayClient, name))["return"]

        assert typing.get_origin(returned) is Response, name
        assert typing.get_args(returned)[0].__name__ == schema, name


def test_the_answer_types_hold_the_documented_fields():
    from kyc_gateway_client import answers

    fields = typing.get_type_hints(answers.KraPinAnswer)
    assert fields["data"] is answers.KraPinDetails
    assert answers.KraPinAnswer.__required_keys__ >= {"success", "data", "request_id"}
    assert answers.RepushAnswer.__required_keys__ == frozenset()  # shown by example only: nothing promised
