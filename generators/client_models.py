"""The caller kit's request models (clients/python/src/kyc_gateway_client/models.py), generated from openapi.json.

`python -m generators.client_models` rewrites the file (`make openapi` runs it after the OpenAPI document); a test fails
when it is stale. TypedDicts, not classes: a request is the JSON object the route takes, so the client sends what
the caller built and type checkers see each field; the gateway stays the one validator. A hand-written generator
for the small subset of JSON Schema the document uses, rather than datamodel-code-generator: that would add a
pinned tool to the venv and pydantic to every caller's install.
"""

from __future__ import annotations

import json
import keyword
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from generators.openapi import DOCUMENT as OPENAPI
from project import template as cfn

MODULE = cfn.ROOT / "clients" / "python" / "src" / "kyc_gateway_client" / "models.py"
_SCALARS = {"string": "str", "integer": "int", "number": "float", "boolean": "bool", "null": "None"}


def python_type(schema: dict[str, Any]) -> str:
    """The annotation of a JSON Schema: refs by name, enums as Literal, unions, lists and objects."""
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[1]
    if "enum" in schema:
        return "Literal[" + ", ".join(json.dumps(value) for value in schema["enum"]) + "]"
    if "anyOf" in schema:
        return " | ".join(dict.fromkeys(python_type(option) for option in schema["anyOf"]))
    kind = schema.get("type")
    if isinstance(kind, list):
        return " | ".join(python_type({**schema, "type": one}) for one in kind)
    if kind == "array":
        return f"list[{python_type(schema.get('items') or {})}]"
    if kind == "object" or kind is None:
        return "dict[str, Any]"
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


def render(document: dict[str, Any]) -> str:
    """The module's text, formatted as `ruff format` formats the repository."""
    schemas = document["components"]["schemas"]
    request_models = sorted(name for name in schemas if name not in ("ErrorEnvelope", "Signal", "SignalData"))
    classes = "\n\n\n".join(typed_dict(name, schemas[name]) for name in request_models)
    names = ["Any"] if "Any]" in classes or "Any " in classes else []
    text = "\n".join(
        [
            '"""Request bodies of the gateway\'s routes, generated from openapi.json by '
            'generators/client_models.py."""',
            "",
            "from __future__ import annotations",
            "",
            f"from typing import {', '.join([*names, 'Literal', 'Required', 'TypedDict'])}",
            "",
            "__all__ = [" + ", ".join(f'"{name}"' for name in request_models) + "]",
            "",
            "",
            classes,
        ]
    )
    formatted = subprocess.run(
        [str(Path(sys.executable).with_name("ruff")), "format", "--stdin-filename", str(MODULE), "-"],
        input=text,
        capture_output=True,
        text=True,
        check=True,
        cwd=cfn.ROOT,
    )
    return formatted.stdout


def main() -> int:
    MODULE.write_text(render(json.loads(OPENAPI.read_text())))
    print(f"wrote {MODULE.relative_to(cfn.ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
