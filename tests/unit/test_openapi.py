"""The committed OpenAPI document is the one the template, the request models and the answers' schemas produce;
SigV4 is declared as API Gateway declares it; every success answer has a schema open to the providers' additions."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from generators import openapi
from release import version


def test_the_committed_openapi_document_is_up_to_date():
    committed = json.loads(openapi.DOCUMENT.read_text())

    assert committed == openapi.build(), "openapi.json is stale: run `make openapi` and commit it"


def test_every_route_of_the_template_is_documented_with_the_error_envelope():
    document = openapi.build()
    from project import template as cfn

    routes = {(method.lower(), path) for spec in cfn.functions().values() for method, path in spec.api_events}
    documented = {(method, path) for path, operations in document["paths"].items() for method in operations}
    assert documented == routes
    for operations in document["paths"].values():
        for operation in operations.values():
            errors = [code for code in operation["responses"] if code.startswith(("4", "5"))]
            assert errors
            for code in errors:
                schema = operation["responses"][code]["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorEnvelope"}


def test_every_route_documents_what_api_gateway_itself_refuses_with():
    # a signed route: unsigned or a signer it may not serve (403), its throttle (429); the webhook: a source address
    # or VPC endpoint its resource policy refuses (403), its throttle or the web ACL's rate limit (429)
    for operations in openapi.build()["paths"].values():
        for method, operation in operations.items():
            assert {"403", "429"} <= operation["responses"].keys(), (method, operation["operationId"])


def test_a_signed_route_documents_api_gateways_401_for_a_caller_not_authenticated():
    for operations in openapi.build()["paths"].values():
        for operation in operations.values():
            if operation["security"]:
                assert "not_authenticated" in operation["responses"]["401"]["description"], operation["operationId"]


def test_every_answer_declares_the_headers_the_gateway_sends_with_it():
    # Given the document and the routes that take an Idempotency-Key (a write's parameters name it)
    document = openapi.build()
    declared = document["components"]["headers"]
    assert set(declared) == {"X-Correlation-Id", "Idempotent-Replayed", "Retry-After"}
    for operations in document["paths"].values():
        for operation in operations.values():
            keyed = any(parameter["name"] == "Idempotency-Key" for parameter in operation["parameters"])
            for status, response in operation["responses"].items():
                # Then every answer names the correlation id; a keyed route's, whether it was replayed; a 429, how
                # long to wait; each a reference to its one declaration
                names = {"X-Correlation-Id"} | ({"Idempotent-Replayed"} if keyed else set())
                names |= {"Retry-After"} if status == "429" else set()
                assert set(response["headers"]) == names, (operation["operationId"], status)
                for name, header in response["headers"].items():
                    assert header == {"$ref": f"#/components/headers/{name}"}


def test_sigv4_is_declared_as_api_gateway_declares_iam_authorisation():
    document = openapi.build()

    assert document["components"]["securitySchemes"]["sigv4"] | {"description": ""} == {
        "type": "apiKey",
        "name": "Authorization",
        "in": "header",
        "x-amazon-apigateway-authtype": "awsSigv4",
        "description": "",
    }
    for path, operations in document["paths"].items():
        for operation in operations.values():
            webhook = path.startswith("/connectfi/webhooks/")
            assert operation["security"] == ([] if webhook else [{"sigv4": []}]), path  # required, not optional


def _objects(schema: Any) -> Iterator[dict[str, Any]]:
    if isinstance(schema, dict):
        if schema.get("type") == "object" or "properties" in schema:
            yield schema
        for value in schema.values():
            yield from _objects(value)
    elif isinstance(schema, list):
        for value in schema:
            yield from _objects(value)


def test_every_success_answer_is_a_named_schema_open_to_fields_providers_add():
    document = openapi.build()
    schemas = document["components"]["schemas"]
    for operations in document["paths"].values():
        for operation in operations.values():
            (status,) = [code for code in operation["responses"] if code.startswith("2")]
            reference = operation["responses"][status]["content"]["application/json"]["schema"]["$ref"]
            answer = schemas[reference.rsplit("/", 1)[1]]
            Draft202012Validator.check_schema(answer)
            assert answer["description"]
            closed = [schema for schema in _objects(answer) if schema.get("additionalProperties") is not True]
            assert not closed, (
                f"{reference}: objects without additionalProperties: true (kyc_gateway/answers/): {closed}"
            )


def test_the_document_is_versioned_as_the_release():
    assert openapi.build()["info"]["version"] == version.current()


def test_the_servers_are_the_template_s_api_url_in_both_its_forms_and_the_local_stack():
    # Given the ApiUrl output as the template writes it: a custom domain, else execute-api's URL for the stage
    from project import template as cfn

    _, domain, execute_api = cfn.load()["Outputs"]["ApiUrl"]["Value"]["Fn::If"]
    as_openapi = {
        "${GatewayApi}": "{apiId}",
        "${AWS::Region}": "{region}",
        "${AWS::URLSuffix}": "amazonaws.com",
        "${Environment}": "{stage}",
        "${CustomDomainName}": "{domain}",
    }

    def templated(url: str) -> str:
        for name, variable in as_openapi.items():
            url = url.replace(name, variable)
        return url

    # Then the document's servers are those two, each variable with a default, and the local stack's address
    servers = openapi.build()["servers"]
    assert [server["url"] for server in servers] == [
        templated(execute_api["Fn::Sub"]),
        templated(domain["Fn::Sub"]),
        "http://127.0.0.1:3000",
    ]
    for server in servers:
        variables = set(server.get("variables", {}))
        assert variables == {part.split("}")[0] for part in server["url"].split("{")[1:]}
        assert all(value["default"] for value in server.get("variables", {}).values())


@pytest.mark.parametrize("route", ["nemo.lookup", "cladfy.unknown_operation"])
def test_a_route_without_a_success_schema_stops_the_generator(route):
    with pytest.raises(SystemExit, match=route):
        openapi.answer_schema(route, {})


def test_two_different_schemas_of_one_name_stop_the_generator():
    schemas: dict[str, Any] = {}
    openapi.answer_schema("cladfy.krapin", schemas)

    with pytest.raises(SystemExit, match="KraPinAnswer"):
        openapi._add(schemas, "KraPinAnswer", {"type": "object"})
