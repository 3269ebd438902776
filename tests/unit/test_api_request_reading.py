"""How the API adapter reads a request: its body (text or base64, bounded), its headers, its path parameters, and
the gateway's own public URL; every unusable request is a 4xx naming what is wrong, never the value sent."""

from __future__ import annotations

import base64
import json

import pytest
from pydantic import BaseModel, ConfigDict, Field, model_validator

from kyc_gateway import api
from local.api_events import proxy_event
from local.functions import LambdaContext, cold_start


class Address(BaseModel):
    model_config = ConfigDict(extra="forbid")
    city: str


class Applicant(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=5)
    address: Address | None = None
    start: int = 0
    end: int = 0

    @model_validator(mode="after")
    def _ordered(self) -> Applicant:
        if self.end < self.start:
            raise ValueError("end must not come before start")
        return self


class ApplicationPath(BaseModel):
    applicationId: str = Field(pattern=r"^[a-z0-9-]{3,}$")


def answer_of(handler, event) -> tuple[int, dict]:
    answer = handler(event, LambdaContext("test"))
    return answer["statusCode"], json.loads(answer["body"])


def echo_body(event) -> tuple[int, dict]:
    return answer_of(api.http_route("test.echo", Applicant, lambda request: request.model_dump()), event)


def body_event(body, **options) -> dict:
    return proxy_event("POST", "/echo", body=body, **options)


# --- the body ------------------------------------------------------------------------------------------------------


def test_a_body_with_a_whole_model_error_names_the_body_and_nested_errors_their_path():
    status, answer = echo_body(body_event(json.dumps({"name": "abc", "start": 2, "end": 1})))
    (detail,) = answer["error"]["details"]
    assert (status, detail["field"], detail["type"]) == (400, "body", "value_error")
    assert "end must not come before start" in detail["issue"]

    status, answer = echo_body(body_event(json.dumps({"name": "abc", "address": {"town": "x"}})))
    assert {detail["field"] for detail in answer["error"]["details"]} == {"address.city", "address.town"}


def test_a_validation_error_says_what_and_why_but_never_echoes_the_value():
    status, answer = echo_body(body_event(json.dumps({"name": "Jane Doe"})))

    assert (status, answer["error"]["details"]) == (
        400,
        [{"field": "name", "issue": "String should have at most 5 characters", "type": "string_too_long"}],
    )
    assert "Jane" not in json.dumps(answer)


@pytest.mark.parametrize(
    ("body", "issue"),
    [
        (None, "a JSON object is required"),
        ("", "a JSON object is required"),
        ("[1, 2]", "must be a JSON object"),
        ('"text"', "must be a JSON object"),
    ],
)
def test_a_missing_body_or_one_that_is_not_a_json_object_is_a_400_saying_so(body, issue):
    status, answer = echo_body(body_event(body))

    assert (status, answer["error"]["code"]) == (400, "validation_error")
    assert answer["error"]["details"] == [{"field": "body", "issue": issue, "type": "body"}]


def test_a_body_that_is_not_a_string_is_refused_as_api_gateway_never_sends_one():
    event = body_event(None)
    event["body"] = {"name": "abc"}

    status, answer = echo_body(event)

    assert (status, answer["error"]["details"][0]["field"]) == (400, "body")
    assert answer["error"]["details"][0]["issue"] == "must be the request body as a string, as API Gateway sends it"


def test_a_base64_body_is_decoded_only_when_api_gateway_says_it_encoded_it():
    encoded = base64.b64encode(b'{"name": "abc"}').decode()
    event = body_event(encoded)

    event["isBase64Encoded"] = "true"  # not the boolean API Gateway sends: the body is read as it is
    assert echo_body(event)[1]["error"]["details"] == [{"field": "body", "issue": "is not valid JSON", "type": "body"}]
    event["isBase64Encoded"] = True
    assert echo_body(event) == (200, {"name": "abc", "address": None, "start": 0, "end": 0})


@pytest.mark.parametrize("text", ["eyJuYW1lIjogImFiYyJ9!", "not base64", "eyJ"])
def test_a_body_flagged_base64_that_is_not_is_a_400(text):
    event = body_event(text)
    event["isBase64Encoded"] = True

    status, answer = echo_body(event)

    assert (status, answer["error"]["details"]) == (
        400,
        [{"field": "body", "issue": "is not valid base64", "type": "body"}],
    )


def test_a_body_is_read_up_to_its_limit_and_refused_past_it():
    assert api.body_bytes(body_event("12345678"), max_bytes=8) == b"12345678"
    assert api.body_bytes(body_event("é" * 4), max_bytes=8) == "é".encode() * 4  # bytes, not characters, count

    with pytest.raises(api.RequestTooLarge) as raised:
        api.body_bytes(body_event("123456789"), max_bytes=8)
    assert raised.value.details == [{"field": "body", "issue": "must be at most 8 bytes", "type": "body"}]
    with pytest.raises(api.RequestTooLarge):
        api.body_bytes(body_event("é" * 5), max_bytes=9)


def test_a_json_body_of_up_to_5_mib_is_read_as_docs_api_md_says():
    limit = 5 * 1024 * 1024  # within a synchronous Lambda invocation's 6 MB, base64 and envelope included
    at_limit = json.dumps({"pad": "x" * (limit - 11)})
    assert len(at_limit) == limit

    assert api.json_object_body(body_event(at_limit)) == {"pad": "x" * (limit - 11)}
    with pytest.raises(api.RequestTooLarge):
        api.json_object_body(body_event(at_limit + " "))


def test_a_json_body_is_read_within_a_routes_own_smaller_limit():
    assert api.json_object_body(body_event('{"a": 1}'), max_bytes=8) == {"a": 1}
    with pytest.raises(api.RequestTooLarge):
        api.json_object_body(body_event('{"a": 10}'), max_bytes=8)


# --- headers, path parameters, the public URL ------------------------------------------------------------------------


def test_a_header_is_found_whatever_its_case_and_trimmed():
    event = body_event("{}", headers=[("Idempotency-KEY", "  key-1 \t")])

    assert api.header(event, "idempotency-key") == "key-1"
    assert api.header(event, "x-correlation-id") is None
    assert api.header({"headers": None}, "idempotency-key") is None
    assert api.header({"headers": {"idempotency-key": ["a"]}}, "idempotency-key") is None  # not a header's shape


def test_path_parameters_are_validated_and_read_as_text():
    handler = api.http_route("test.application", ApplicationPath, lambda path: path.model_dump(), parse=api.parse_path)
    event = proxy_event("GET", "/applications/app-1", path_parameters={"applicationId": "app-1"})

    assert answer_of(handler, event) == (200, {"applicationId": "app-1"})
    assert api.path_parameter(event, "applicationId") == "app-1"
    assert api.path_parameter(event, "other") == ""

    missing = proxy_event("GET", "/applications/")
    status, answer = answer_of(handler, missing)
    assert (status, answer["error"]["details"][0]["field"]) == (400, "applicationId")
    assert api.path_parameter(missing, "applicationId") == ""
    assert api.path_parameter({"pathParameters": {"applicationId": 7}}, "applicationId") == ""


def test_a_route_describes_what_it_accepts_and_answers_for_the_openapi_document():
    body_route = api.http_route("test.echo", Applicant, dict, status=201, idempotent_write="GET /status")
    path_route = api.http_route("test.application", ApplicationPath, dict, parse=api.parse_path)
    custom = api.http_route(
        "test.custom", ApplicationPath, dict, parse=lambda event, model: model(), body_model=Address
    )

    assert body_route.route == "test.echo"
    assert body_route.contract == api.RouteContract(Applicant, None, 201, idempotency_keys=True, purpose=False)
    assert path_route.contract == api.RouteContract(None, ApplicationPath, 200, idempotency_keys=False, purpose=False)
    assert custom.contract == api.RouteContract(Address, None, 200, idempotency_keys=False, purpose=False)


@pytest.fixture
def configured_public_url(monkeypatch):
    def configure(url: str | None) -> None:
        if url is None:
            monkeypatch.delenv("PUBLIC_BASE_URL", raising=False)
        else:
            monkeypatch.setenv("PUBLIC_BASE_URL", url)
        cold_start()

    yield configure
    monkeypatch.delenv("PUBLIC_BASE_URL", raising=False)
    cold_start()


@pytest.mark.parametrize(
    ("context", "url"),
    [
        (
            {"domainName": "abc.execute-api.eu-west-1.amazonaws.com", "stage": "prod"},
            "https://abc.execute-api.eu-west-1.amazonaws.com/prod",
        ),
        (
            {"domainName": "abc.execute-api.eu-west-1.amazonaws.com", "stage": "$default"},
            "https://abc.execute-api.eu-west-1.amazonaws.com",
        ),
        ({"domainName": "abc.example", "stage": ""}, None),
        ({"domainName": "", "stage": "prod"}, None),
        ({"stage": "prod"}, None),
        ({"domainName": "abc.example"}, None),
        ("not a context", None),
    ],
)
def test_the_public_url_is_the_one_the_request_came_in_at_unless_one_is_configured(configured_public_url, context, url):
    event = {"requestContext": context}

    configured_public_url(None)
    assert api.public_base_url(event) == url
    configured_public_url("https://kyc.example.com/")
    assert api.public_base_url(event) == "https://kyc.example.com"
