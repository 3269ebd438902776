"""The committed OpenAPI document is the one the template and the request models produce."""

from __future__ import annotations

import json

from generators import openapi


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
