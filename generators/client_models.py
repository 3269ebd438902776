"""The caller kit's request and answer types, generated from openapi.json: `kyc_gateway_client/models.py` holds the
request bodies of the caller routes, `kyc_gateway_client/answers.py` their success bodies.

`python -m generators.client_models` rewrites both (`make openapi` runs it after the OpenAPI document); a test fails
when either is stale. TypedDicts, not classes: a request is the JSON object the route takes, so the client sends what
the caller built and type checkers see each field; the gateway stays the one validator. An answer is the JSON object
the route answers, the provider's own: fields the schema does not name pass through (a TypedDict cannot say so, but
the dict holds them). A hand-written generator
for the small subset of JSON Schema the document uses, rather than datamodel-code-generator: that would add a
pinned tool to the venv and pydantic to every caller's install.
"""

from __future__ import annotations

import json
import keyword
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from generators.openapi import DOCUMENT as OPENAPI
from project import template as cfn

PACKAGE = cfn.ROOT / "clients" / "python" / "src" / "kyc_gateway_client"
REQUESTS, ANSWERS = PACKAGE / "models.py", PACKAGE / "answers.py"
_SUCCESS = re.compile(r"^2\d\d$")
_SCALARS = {"string": "str", "integer": "int", "number": "float", "boolean": "bool", "null": "None"}


def python_type(schema: dict[str, Any]) -> str:
    """The annotation of a JSON Schema: refs by name, enums as Literal, unions, lists and objects."""
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[1]
    if "const" in schema or "enum" in schema:
        values = [schema["const"]] if "const" in schema else schema["enum"]
        return "Literal[" + ", ".join(repr(value) for value in values) + "]"
    if "anyOf" in schema:
        return " | ".join(dict.fromkeys(python_type(option) for option in schema["anyOf"]))
    kind = schema.get("type")
    if isinstance(kind, list):
        return " | ".join(python_type({**schema, "type": one}) for one in kind)
    if kind == "array":
        return f"list[{python_type(schema.get('items') or {'type': 'object'})}]"  # no items: objects, as written
    if kind == "object" or (kind is None and ("properties" in schema or "additionalProperties" in schema)):
        return "dict[str, Any]"
    if kind is None:  # any JSON value
        return "Any"
    return _SCALARS[kind]


def typed_dict(name: str, schema: dict[str, Any]) -> str:
    """A TypedDict of the schema's properties; a schema with none that takes any property (a body forwarded as
    sent, e.g. CDP's onboarding) is a plain JSON object, which no TypedDict can type."""
    sentence = " ".join((schema.get("description") or name).split()).split(". ")[0].rstrip(".")
    if not schema.get("properties") and schema.get("additionalProperties") is True:
        comment = textwrap.fill(f"{sentence}.", width=116, initial_indent="# ", subsequent_indent="# ")
        return f"{comment}\n{name} = dict[str, Any]"
    required = set(schema.get("required") or [])
    fields = {
        field: f"Required[{python_type(subschema)}]" if field in required else python_type(subschema)
        for field, subschema in (schema.get("properties") or {}).items()
    }
    if not all(field.isidentifier() and not keyword.iskeyword(field) for field in fields):
        # a field no class attribute can be named (the audit search's `from`): TypedDict's functional form
        comment = textwrap.fill(f"{sentence}.", width=116, initial_indent="# ", subsequent_indent="# ")
        members = ", ".join(f"{json.dumps(field)}: {annotation}" for field, annotation in fields.items())
        return f"{comment}\n{name} = TypedDict({json.dumps(name)}, {{{members}}}, total=False)"
    lines = [f"class {name}(TypedDict, total=False):"]
    lines.append("    " + textwrap.fill(f'"""{sentence}."""', width=112, subsequent_indent="    "))
    lines.append("")
    for field, annotation in fields.items():
        lines.append(f"    {field}: {annotation}")
    return "\n".join(lines)


def caller_schemas(document: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The component schemas the caller routes take (request bodies) and answer (success bodies), each with the
    schemas it refers to. The public routes (connectFi's webhook) are not the callers'."""
    requests: set[str] = set()
    answers: set[str] = set()
    for operations in document["paths"].values():
        for operation in operations.values():
            if operation.get("security") == []:
                continue
            body = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
            requests |= _referred(body.get("schema", {}), document)
            for status, response in operation["responses"].items():
                if _SUCCESS.match(status):
                    answers |= _referred(response["content"]["application/json"]["schema"], document)
    return sorted(requests), sorted(answers)


def _referred(schema: Any, document: dict[str, Any], found: set[str] | None = None) -> set[str]:
    """The names of the component schemas `schema` refers to, directly or through them."""
    found = set() if found is None else found
    if isinstance(schema, dict):
        if "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[1]
            if name not in found:
                found.add(name)
                _referred(document["components"]["schemas"][name], document, found)
        for value in schema.values():
            _referred(value, document, found)
    elif isinstance(schema, list):
        for value in schema:
            _referred(value, document, found)
    return found


def _dependencies_first(names: list[str], document: dict[str, Any]) -> list[str]:
    ordered: list[str] = []

    def place(name: str) -> None:
        if name not in ordered:
            for dependency in sorted(_referred(document["components"]["schemas"][name], document) - {name}):
                place(dependency)
            ordered.append(name)

    for name in names:
        place(name)
    return ordered


def render(document: dict[str, Any]) -> dict[Path, str]:
    """Each generated module's text, formatted as `ruff format` formats the repository."""
    requests, answers = caller_schemas(document)
    return {
        REQUESTS: _module("Request bodies of the gateway's caller routes", requests, document),
        ANSWERS: _module("Success bodies of the gateway's caller routes", answers, document),
    }


def _module(title: str, names: list[str], document: dict[str, Any]) -> str:
    """Without `from __future__ import annotations`, which would leave a TypedDict's `__required_keys__` wrong at
    runtime: so each class comes after the classes its fields name."""
    schemas = document["components"]["schemas"]
    classes = "\n\n\n".join(typed_dict(name, schemas[name]) for name in _dependencies_first(names, document))
    typing_names = [name for name in ("Any", "Literal", "Required") if re.search(rf"\b{name}\b", classes)]
    text = "\n".join(
        [
            f'"""{title}, generated from openapi.json by generators/client_models.py."""',
            "",
            f"from typing import {', '.join([*typing_names, 'TypedDict'])}",
            "",
            "__all__ = [" + ", ".join(f'"{name}"' for name in names) + "]",
            "",
            "",
            classes,
        ]
    )
    formatted = subprocess.run(
        [str(Path(sys.executable).with_name("ruff")), "format", "--stdin-filename", str(REQUESTS), "-"],
        input=text,
        capture_output=True,
        text=True,
        check=True,
        cwd=cfn.ROOT,
    )
    return formatted.stdout


def main() -> int:
    for module, text in render(json.loads(OPENAPI.read_text())).items():
        module.write_text(text)
        print(f"wrote {module.relative_to(cfn.ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
