"""A tiny ajv-style JSON Schema checker: the subset connectFi's schemas use, with ajv's error objects and
JavaScript's regular expression semantics (ajv runs on Node)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

_JSON_TYPES: dict[str, Callable[[Any], bool]] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
}


def _ajv_error(keyword: str, params: dict, message: str, instance_path: str, schema_path: str) -> dict:
    return {
        "instancePath": instance_path,
        "schemaPath": f"{schema_path}/{keyword}",
        "keyword": keyword,
        "params": params,
        "message": message,
    }


def ajv_errors(schema: dict, value: Any, instance_path: str = "", schema_path: str = "#") -> list[dict]:
    """Validate like ajv (allErrors) and return its error objects."""
    if value is None and schema.get("nullable"):
        return []
    kind = schema.get("type")
    if kind and not _JSON_TYPES[kind](value):
        return [_ajv_error("type", {"type": kind}, f"must be {kind}", instance_path, schema_path)]
    if "enum" in schema and value not in schema["enum"]:
        params = {"allowedValues": schema["enum"]}
        return [_ajv_error("enum", params, "must be equal to one of the allowed values", instance_path, schema_path)]
    checks = {"object": _object_errors, "array": _array_errors, "string": _string_errors}
    return checks[kind](schema, value, instance_path, schema_path) if kind in checks else []


def _array_errors(schema: dict, value: list, instance_path: str, schema_path: str) -> list[dict]:
    errors = []
    if "minItems" in schema and len(value) < (limit := schema["minItems"]):
        message = f"must NOT have fewer than {limit} items"
        errors.append(_ajv_error("minItems", {"limit": limit}, message, instance_path, schema_path))
    for index, item in enumerate(value):
        errors += ajv_errors(schema.get("items", {}), item, f"{instance_path}/{index}", f"{schema_path}/items")
    return errors


def _object_errors(schema: dict, value: dict, instance_path: str, schema_path: str) -> list[dict]:
    def error(keyword: str, params: dict, message: str) -> dict:
        return _ajv_error(keyword, params, message, instance_path, schema_path)

    properties = schema.get("properties", {})
    errors = [
        error("required", {"missingProperty": name}, f"must have required property '{name}'")
        for name in schema.get("required", [])
        if name not in value
    ]
    if schema.get("additionalProperties") is False:
        errors += [
            error("additionalProperties", {"additionalProperty": name}, "must NOT have additional properties")
            for name in value
            if name not in properties
        ]
    for name, subschema in properties.items():
        if name in value:
            errors += ajv_errors(subschema, value[name], f"{instance_path}/{name}", f"{schema_path}/properties/{name}")
    return errors


def js_regex(pattern: str) -> re.Pattern[str]:
    """`pattern` with JavaScript's meaning (ajv runs on Node): outside a character class, `.` matches no line
    terminator (\\n, \\r, U+2028, U+2029) and `$` only the end of the text (Python's also matches before a final
    newline); `\\d` and `\\w` are ASCII."""
    out, in_class, escaped = [], False, False
    for char in pattern:
        if escaped:
            out.append(char)
            escaped = False
        elif char == "\\":
            out.append(char)
            escaped = True
        elif in_class:
            out.append(char)
            in_class = char != "]"
        elif char == "[":
            out.append(char)
            in_class = True
        elif char == ".":
            out.append("[^\\n\\r\\u2028\\u2029]")
        elif char == "$":
            out.append("\\Z")
        else:
            out.append(char)
    return re.compile("".join(out), re.ASCII)  # JavaScript's \d and \w are ASCII-only


def _string_errors(schema: dict, value: str, instance_path: str, schema_path: str) -> list[dict]:
    def error(keyword: str, params: dict, message: str) -> dict:
        return _ajv_error(keyword, params, message, instance_path, schema_path)

    errors = []
    if "minLength" in schema and len(value) < (limit := schema["minLength"]):
        errors.append(error("minLength", {"limit": limit}, f"must NOT have fewer than {limit} characters"))
    if "maxLength" in schema and len(value) > (limit := schema["maxLength"]):
        errors.append(error("maxLength", {"limit": limit}, f"must NOT have more than {limit} characters"))
    if "pattern" in schema and not js_regex(pattern := schema["pattern"]).search(value):
        errors.append(error("pattern", {"pattern": pattern}, f'must match pattern "{pattern}"'))
    if schema.get("isNotOnlyWhitespace") and not value.strip(_JS_WHITESPACE):
        errors.append(error("isNotOnlyWhitespace", {}, "must not be only whitespace"))
    if schema.get("format") == "email" and not _AJV_EMAIL.match(value):
        errors.append(error("format", {"format": "email"}, 'must match format "email"'))
    return errors


# JavaScript's String.prototype.trim() whitespace; and an e-mail pattern in the style of ajv-formats', with domain
# labels of at most 63 characters: stricter than the gateway's, as a witness may be (the gateway must never refuse
# what connectFi would accept; connectFi may refuse more).
_JS_WHITESPACE = "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"  # noqa: E501
_AJV_EMAIL = re.compile(
    r"^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+"
    r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\Z",
    re.IGNORECASE | re.ASCII,
)
