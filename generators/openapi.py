"""The API's OpenAPI document, generated from the template's routes, the handlers' request models and the
schemas of their success bodies (kyc_gateway/answers/), versioned as the release (release/version.py).

`python -m generators.openapi` rewrites openapi.json; a test fails when the committed file is stale. The local stack
serves it at /openapi.json, and schemathesis fuzzes the running stack with it.
"""

from __future__ import annotations

import importlib
import json
import sys
from typing import Any

from kyc_gateway.registry import PROVIDERS
from local.functions import load_handler
from project import template as cfn
from release import version

DOCUMENT = cfn.ROOT / "openapi.json"
ERROR_STATUSES = {
    "400": "The request is not JSON (or is declared as another media type) or fails validation (details per field); "
    "no provider call was made",
    "401": "API Gateway refused the request: not signed, or not validly signed (not_authenticated)",
    "403": "API Gateway refused the request: the signer may not call this route, or the API's resource policy does "
    "not admit it (an account it does not name; a PRIVATE API reached from outside its VPC endpoints) (forbidden)",
    "404": "The provider says the subject does not exist",
    "409": "The Idempotency-Key was used with another body, its first request is still in progress, or that "
    "request's outcome at the provider is unknown (it timed out after it was sent)",
    "413": "The body is too large",
    "422": "The provider refused the request on business grounds",
    "429": "The provider rate-limited the gateway after its own retries, or API Gateway's throttle refused the request",
    "500": "The gateway failed or is misconfigured",
    "502": "The provider failed, answered something unusable, or refused the gateway's credentials",
    "504": "The provider did not answer in time",
}
WEBHOOK_DESCRIPTIONS = {
    "401": "The webhook token is wrong (checked before anything of the body is read)",
    "403": "The API's resource policy refused the request: a source address outside WebhookSourceCidrs, or a PRIVATE "
    "API reached other than through its VPC endpoints",
    "429": "The route's throttle, or the web ACL's rate limit per source address, refused the request",
    "503": "The webhook could not be queued after retries",
}
WEBHOOK_STATUSES = ("400", "401", "403", "413", "429", "500", "503")
STORED_STATE_STATUSES = ("400", "401", "403", "404", "429", "500")
ERROR_ENVELOPE = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": [
                "code",
                "message",
                "provider",
                "providerStatus",
                "providerCode",
                "providerRequestId",
                "details",
                "correlationId",
            ],
            "properties": {
                "code": {"type": "string", "pattern": "^[a-z][a-z0-9_]*$"},
                "message": {"type": "string"},
                "provider": {"type": ["string", "null"]},
                "providerStatus": {"type": ["integer", "null"]},
                "providerCode": {"type": ["string", "null"]},
                "providerRequestId": {"type": ["string", "null"]},
                "details": {"type": "array", "items": {"type": "object"}},
                "correlationId": {"type": "string"},
            },
        }
    },
}
CORRELATION_HEADER = {
    "name": "X-Correlation-Id",
    "in": "header",
    "required": False,
    "description": "Echoed back when it matches the pattern; otherwise the API Gateway request id is used.",
    "schema": {"type": "string"},
}
PURPOSE_HEADER = {
    "name": "X-Request-Purpose",
    "in": "header",
    "required": False,
    "description": "Why the provider is asked (a purpose code or a case id; never personal data), kept in the "
    "operation's audit record. Any other value is 400, and nothing is sent. A deployment may require it "
    "(RequireRequestPurpose): then a request without it is 400 too.",
    "schema": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._:\\-]{0,127}$"},
}
# The headers of the gateway's answers, declared once (components.headers) and named by each response.
RESPONSE_HEADERS = {
    "X-Correlation-Id": {
        "description": "The request's correlation id: the caller's X-Correlation-Id when it matches the pattern, "
        "otherwise the API Gateway request id (the error envelope's correlationId). API Gateway's own refusals echo "
        "the caller's as sent; the web ACL's rate limit on the webhook sends none.",
        "schema": {"type": "string"},
    },
    "Idempotent-Replayed": {
        "description": "On every answer to a request with an Idempotency-Key: true when it is the stored answer of "
        "an earlier request with that key (nothing was sent to the provider), false otherwise.",
        "schema": {"type": "string", "enum": ["true", "false"]},
    },
    "Retry-After": {
        "description": "When the provider rate-limited the gateway and said, in seconds, how long to wait: those "
        "seconds.",
        "schema": {"type": "string"},
    },
}


def _response_headers(status: str, *, keyed: bool) -> dict[str, Any]:
    names = [
        "X-Correlation-Id",
        *(["Idempotent-Replayed"] if keyed else []),
        *(["Retry-After"] if status == "429" else []),
    ]
    return {name: {"$ref": f"#/components/headers/{name}"} for name in names}


# As API Gateway declares IAM authorisation in the OpenAPI documents it exports: clients generated from the document
# know to sign with SigV4 (service execute-api).
SIGV4 = {
    "type": "apiKey",
    "name": "Authorization",
    "in": "header",
    "description": "AWS Signature Version 4 (IAM), checked by API Gateway when deployed",
    "x-amazon-apigateway-authtype": "awsSigv4",
}


def _providers() -> str:
    labels = [provider.label for provider in PROVIDERS]
    return ", ".join(labels[:-1]) + f" and {labels[-1]}" if len(labels) > 1 else labels[0]


def answer_schema(route: str, schemas: dict[str, Any]) -> str:
    """The name of the schema of `route`'s success body, its module's schemas added to `schemas`."""
    name = f"kyc_gateway.answers.{route.partition('.')[0]}"
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError:
        raise SystemExit(f"route {route}: write the schemas of its success body in {name}") from None
    for name, schema in module.SCHEMAS.items():
        _add(schemas, name, schema)
    if route not in module.ANSWERS:
        raise SystemExit(f"route {route} has no success body in {module.__name__}.ANSWERS")
    return module.ANSWERS[route]


# Where generated clients send requests: the stack's ApiUrl output, its custom domain, or `make run`.
SERVERS = [
    {
        "url": "https://{apiId}.execute-api.{region}.amazonaws.com/{stage}",
        "description": "The deployed API (the stack's ApiUrl output)",
        "variables": {
            "apiId": {"default": "abcdef1234", "description": "The stack's ApiId output"},
            "region": {"default": "us-east-1"},
            "stage": {"default": "dev", "description": "The stack's Environment"},
        },
    },
    {
        "url": "https://{domain}",
        "description": "The API under its custom domain (CustomDomainName)",
        "variables": {"domain": {"default": "kyc.example.com"}},
    },
    {"url": "http://127.0.0.1:3000", "description": "The local stack (make run), which checks no signature"},
]


def build() -> dict[str, Any]:
    schemas: dict[str, Any] = {"ErrorEnvelope": ERROR_ENVELOPE}
    paths: dict[str, Any] = {}
    for spec in cfn.functions().values():
        if not spec.api_events:
            continue
        handler = load_handler(spec)
        answer = answer_schema(handler.route, schemas)
        for method, path in spec.api_events:
            paths.setdefault(path, {})[method.lower()] = _operation(spec, path, handler.contract, answer, schemas)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "KYC provider gateway",
            "version": version.current(),
            "description": f"One API in front of {_providers()}. Routes need SigV4-signed requests (IAM) except "
            "the public ones (a webhook, authenticated by its URL's token). See docs/errors.md for error codes.",
        },
        "servers": SERVERS,
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "securitySchemes": {"sigv4": SIGV4},
            "headers": RESPONSE_HEADERS,
        },
    }


def _operation(
    spec: cfn.FunctionSpec, path: str, contract: Any, answer: str, schemas: dict[str, Any]
) -> dict[str, Any]:
    webhook = "{token}" in path
    parameters = [CORRELATION_HEADER, *([PURPOSE_HEADER] if contract.purpose else [])]
    if contract.idempotency_keys:
        parameters.append(
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "description": "The same key and body within 24 h answer the stored response without a provider call.",
                "schema": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._:\\-]{0,254}$"},
            }
        )
    path_schema = _schema(contract.path_model, schemas) if contract.path_model else None
    for name in _path_names(path):
        schema = (path_schema or {}).get("properties", {}).get(name, {"type": "string"})
        parameters.append({"name": name, "in": "path", "required": True, "schema": schema})
    statuses = WEBHOOK_STATUSES if webhook else STORED_STATE_STATUSES if contract.path_model else ERROR_STATUSES
    success = (
        "Accepted onto the webhook queue"
        if webhook
        else "The state stored by the gateway"
        if contract.path_model
        else "The provider's success body, unchanged"
    )
    responses: dict[str, Any] = {
        str(contract.status): {
            "description": success,
            "headers": _response_headers(str(contract.status), keyed=contract.idempotency_keys),
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{answer}"}}},
        }
    }
    webhook_descriptions = WEBHOOK_DESCRIPTIONS if webhook else {}
    for status in statuses:
        description = webhook_descriptions.get(status) or ERROR_STATUSES.get(status, "Not found")
        responses[status] = {
            "description": description,
            "headers": _response_headers(status, keyed=contract.idempotency_keys),
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}}},
        }
    operation: dict[str, Any] = {
        "operationId": spec.logical_id,
        "summary": spec.properties.get("Description", ""),
        "parameters": parameters,
        "responses": responses,
        # API Gateway requires SigV4 (IAM) on every route but the webhook. (The local stack, for development only,
        # checks no signature: the document describes the deployed API.)
        "security": [] if webhook else [{"sigv4": []}],
    }
    if contract.body_model:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _schema(contract.body_model, schemas, reference=True)}},
        }
    return operation


def _schema(model: Any, schemas: dict[str, Any], *, reference: bool = False) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, definition in schema.pop("$defs", {}).items():
        _add(schemas, name, definition)
    if not reference:
        return schema
    _add(schemas, model.__name__, schema)
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _add(schemas: dict[str, Any], name: str, schema: dict[str, Any]) -> None:
    """One schema per name: a request model and an answer (or two answers) of the same name would hide one."""
    if schemas.setdefault(name, schema) != schema:
        raise SystemExit(f"two different schemas are named {name}: rename one")


def _path_names(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{") and part.endswith("}")]


def render() -> str:
    return json.dumps(build(), indent=2, sort_keys=False) + "\n"


def main() -> int:
    DOCUMENT.write_text(render())
    print(f"wrote {DOCUMENT.relative_to(cfn.ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
