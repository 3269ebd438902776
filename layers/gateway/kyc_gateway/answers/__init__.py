"""The success bodies of the gateway's routes as JSON Schema (2020-12, the dialect of OpenAPI 3.1), one module per
provider: `SCHEMAS` (named schemas) and `ANSWERS` (route name -> the schema of its success body). The module of a
route is the first part of its name (`cdp.customer_lookup` -> `answers/cdp.py`). generators/openapi.py puts them
in openapi.json, and the callers' typed answers are generated from there.

Documentation, never code a request runs: no handler imports this package (tests/unit/test_cold_imports.py), and
the gateway does not check answers against it (a provider's success passes on unchanged). What a client does check
is required here, from the client's own names where it has them (Cladfy's fields: providers/cladfy.py).

How each field is typed says how sure its source is:
- `documented(...)`: in the provider's field table, with its type; required only where the table says so;
- `by_example(...)`: shown only in an example body: the example's type or null, never required;
- a field the gateway guarantees (its client passes no success without it) is required, with what is checked.
Every object takes more properties than it names: providers add fields, and the gateway passes them on.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def answer(description: str, properties: dict[str, Schema], *, required: tuple[str, ...] = ()) -> Schema:
    """An object with `properties`, open to more."""
    schema: Schema = {"type": "object", "description": description, "properties": properties}
    if required:
        schema["required"] = list(required)
    schema["additionalProperties"] = True
    return schema


def documented(kind: str, description: str | None = None) -> Schema:
    """A field of the provider's own field table: its documented type."""
    return {"type": kind, **({"description": description} if description else {})}


def by_example(kind: str | Schema, description: str | None = None) -> Schema:
    """A field shown only in an example: the example's type (a JSON type, or a schema such as a `ref`), or null."""
    base: Schema = {"type": [kind, "null"]} if isinstance(kind, str) else {"anyOf": [kind, {"type": "null"}]}
    return {**base, **({"description": description} if description else {})}
