"""The breaking differences between two JSON schemas of one place in openapi.json (a request body, a parameter, an
answer), field by field: what release/compatibility.py reports for each schema it compares.

Each schema is first read as the alternatives a validator would accept, each of one JSON type ("branches"):
references followed; a list of types (`["string", "null"]`) or an untyped `enum` split into one alternative per
type; `allOf` parts merged into one schema (every limit, pattern, property and requirement of each part holding);
keywords beside an `anyOf`/`oneOf` holding in each of its alternatives; `true` any value, `false` none. Two schemas
are then compared alternative by alternative of the same type, whatever their order or how they were written.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

Document = dict[str, Any]
Branch = dict[str, Any]

# Keywords whose new value refuses what the old accepted: a lower maximum, a higher minimum.
_LOWER_REFUSES = ("maxLength", "maxItems", "maxProperties", "maximum", "exclusiveMaximum")
_HIGHER_REFUSES = ("minLength", "minItems", "minProperties", "minimum", "exclusiveMinimum")
_COMBINATORS = ("allOf", "anyOf", "oneOf")
_DEEPEST = 64  # fields nested deeper are not compared: a guard for schemas recursive through merged parts


def field_changes(
    where: str,
    old: tuple[Document, Any],
    new: tuple[Document, Any],
    *,
    request: bool,
    seen: frozenset[tuple[int, int]] = frozenset(),
) -> Iterator[str]:
    """The breaking differences between two schemas of the same place, field by field, nested ones included."""
    pair = (id(resolve(*old)), id(resolve(*new)))  # the documents' own schemas: a recursive one ends here
    if pair in seen or len(seen) > _DEEPEST:
        return
    seen = seen | {pair}
    before, after = branches(*old), branches(*new)
    if not before or not after:  # `false`, or parts no value satisfies: nothing is accepted
        if request and before and not after:
            yield f"{where}: no longer accepts any value"
        elif not request and after and not before:
            yield f"{where}: may now answer {', '.join(sorted(_types(after) or {'any type'}))}"
        return
    yield from _type_changes(where, _types(before), _types(after), request=request)
    yield from _limits(where, before, after, request=request)
    old_properties, new_properties = _properties(before), _properties(after)
    old_required, new_required = _required(before), _required(after)
    label = "request field" if request else "answer field"
    for name in old_properties:
        if name not in new_properties:
            yield f"{where}: {label} {name} removed"
        else:
            place = f"{where}.{name}"
            old_field, new_field = (old[0], old_properties[name]), (new[0], new_properties[name])
            yield from field_changes(place, old_field, new_field, request=request, seen=seen)
    newly = new_required - old_required
    for name in sorted(newly if request else newly & old_properties.keys()):  # a new answer field breaks no code
        yield f"{where}: {label} {name} is now required"
    if not request:
        for name in sorted((old_required - new_required) & new_properties.keys()):
            yield f"{where}: {label} {name} is no longer required"
    old_items, new_items = _items(before), _items(after)
    if old_items is not None and new_items is not None:
        yield from field_changes(f"{where}[]", (old[0], old_items), (new[0], new_items), request=request, seen=seen)


def _type_changes(where: str, old: set[str] | None, new: set[str] | None, *, request: bool) -> Iterator[str]:
    """A request taking fewer JSON types, or an answer giving more (None: any type)."""
    wider, narrower = (old, new) if request else (new, old)
    if wider is None and narrower is not None:
        yield f"{where}: {'now accepts only' if request else 'may now answer any type, not only'} " + ", ".join(
            sorted(narrower)
        )
    elif wider is not None and narrower is not None and wider - narrower:
        yield f"{where}: {'no longer accepts' if request else 'may now answer'} {', '.join(sorted(wider - narrower))}"


def _limits(where: str, before: list[Branch], after: list[Branch], *, request: bool) -> Iterator[str]:
    """Values a request could send and may not now, or an answer may now give that it did not list: compared on
    the one alternative that is not null on each side, else alternative by alternative of the same type."""
    old, new = _single(before), _single(after)
    if old is not None and new is not None:
        yield from _branch_limits(where, old, new, request=request)
        return
    old_kinds, new_kinds = _by_kind(before), _by_kind(after)
    for kind in sorted(old_kinds.keys() & new_kinds.keys()):
        yield from _branch_limits(where, old_kinds[kind], new_kinds[kind], request=request)


def _by_kind(alternatives: list[Branch]) -> dict[str, Branch]:
    """The alternatives that are not null, by their JSON type, where no other alternative has the same."""
    kinds: dict[str, list[Branch]] = {}
    for branch in alternatives:
        if branch.get("type", "null") != "null":
            kinds.setdefault(branch["type"], []).append(branch)
    return {kind: found[0] for kind, found in kinds.items() if len(found) == 1}


def _branch_limits(where: str, old: Branch, new: Branch, *, request: bool) -> Iterator[str]:
    old_values, new_values = old.get("_values"), new.get("_values")
    if request:
        if new_values is not None and old_values is None:
            yield f"{where}: no longer accepts any value but {', '.join(sorted(new_values))}"
        elif new_values is not None and old_values is not None and old_values - new_values:
            yield f"{where}: no longer accepts {', '.join(sorted(old_values - new_values))}"
        for keyword in _LOWER_REFUSES + _HIGHER_REFUSES:
            was, now = old.get(keyword), new.get(keyword)
            lower = keyword in _LOWER_REFUSES
            if now is not None and (was is None or (now < was if lower else now > was)):
                yield f"{where}: {keyword} {was} -> {now}"
        old_patterns, new_patterns = old.get("_patterns", frozenset()), new.get("_patterns", frozenset())
        if new_patterns - old_patterns:
            yield f"{where}: pattern {_listed(old_patterns)} -> {_listed(new_patterns)}"
        if new.get("additionalProperties") is False and old.get("additionalProperties") is not False:
            yield f"{where}: no longer accepts fields it does not name"
    elif old_values is not None and new_values is not None and new_values - old_values:
        yield f"{where}: may now answer {', '.join(sorted(new_values - old_values))}"


def _listed(patterns: frozenset[str]) -> str | None:
    return " and ".join(sorted(patterns)) or None


def _single(alternatives: list[Branch]) -> Branch | None:
    """The one alternative that is not null, if there is exactly one."""
    kept = [branch for branch in alternatives if branch.get("type") != "null"]
    return kept[0] if len(kept) == 1 else None


def resolve(document: Document, schema: Any) -> Any:
    """What a local reference (`#/components/...`) points at, followed until it is not one."""
    while isinstance(schema, dict) and "$ref" in schema:
        target: Any = document
        for part in schema["$ref"].removeprefix("#/").split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        schema = target
    return schema


def branches(
    document: Document, schema: Any, path: frozenset[int] = frozenset(), cycle: tuple[Branch, ...] = ()
) -> list[Branch]:
    """The alternatives `schema` accepts, each of one JSON type or of any (no `type`); none when it accepts nothing.
    A schema met again inside itself (`cycle`) adds nothing: no constraint within `allOf`, no alternative within
    `anyOf`."""
    schema = resolve(document, schema)
    if schema is False:
        return []
    if not isinstance(schema, dict):  # `true`
        return [{}]
    if id(schema) in path:
        return list(cycle)
    path = path | {id(schema)}
    found = _split({key: value for key, value in schema.items() if key not in _COMBINATORS})
    options = schema.get("anyOf") or schema.get("oneOf")
    if options:
        alternatives = [branch for option in options for branch in branches(document, option, path)]
        found = _combined(found, alternatives)
    for part in schema.get("allOf", ()):
        found = _combined(found, branches(document, part, path, cycle=({},)))
    return found


def _combined(first: list[Branch], second: list[Branch]) -> list[Branch]:
    """What satisfies one alternative of each list: each pair merged, those no value satisfies left out."""
    merged = (_merge(one, other) for one in first for other in second)
    return [branch for branch in merged if branch is not None]


def _split(schema: dict[str, Any]) -> list[Branch]:
    """A schema without combinators as alternatives of one type each: its listed values (enum, const) kept as
    JSON text per type, its pattern as a set of patterns."""
    branch = {key: value for key, value in schema.items() if key not in ("type", "enum", "const", "pattern")}
    if "pattern" in schema:
        branch["_patterns"] = frozenset({schema["pattern"]})
    listed = [schema["const"]] if "const" in schema else schema.get("enum")
    if "type" in schema:
        kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    elif listed is not None:
        kinds = sorted({_json_type(value) for value in listed})
    elif "properties" in schema:
        kinds = ["object"]  # read as an object's schema, as a generator reads it
    else:
        return [branch]
    found = []
    for kind in kinds:
        values = None if listed is None else frozenset(_text(v) for v in listed if _fits(_json_type(v), kind))
        if values is None or values:
            found.append({**branch, "type": kind} | ({} if values is None else {"_values": values}))
    return found


def _merge(first: Branch, second: Branch) -> Branch | None:
    """One alternative holding what both require (None if no value can): the type both allow, the listed values
    both list, every pattern, the tighter limit, the properties and requirements of both, closed to other fields if
    either is; a property, `items` or `additionalProperties` schema both give is both schemas' `allOf`."""
    merged = {**second, **first}
    if "type" in first and "type" in second:
        kinds = {first["type"], second["type"]}
        if len(kinds) > 1 and kinds != {"integer", "number"}:
            return None
        merged["type"] = "integer" if "integer" in kinds else first["type"]
    if "_values" in first and "_values" in second:
        merged["_values"] = first["_values"] & second["_values"]
        if not merged["_values"]:
            return None
    merged["_patterns"] = first.get("_patterns", frozenset()) | second.get("_patterns", frozenset())
    for keyword in _LOWER_REFUSES + _HIGHER_REFUSES:  # of two limits, the tighter holds
        if keyword in first and keyword in second:
            merged[keyword] = (min if keyword in _LOWER_REFUSES else max)(first[keyword], second[keyword])
    if "properties" in first and "properties" in second:
        merged["properties"] = {**second["properties"], **first["properties"]}
        for name in first["properties"].keys() & second["properties"].keys():
            merged["properties"][name] = {"allOf": [first["properties"][name], second["properties"][name]]}
    if "required" in first and "required" in second:
        merged["required"] = sorted(set(first["required"]) | set(second["required"]))
    for keyword in ("items", "additionalProperties"):
        one, other = first.get(keyword), second.get(keyword)
        if one is False or other is False:
            merged[keyword] = False
        elif isinstance(one, dict) and isinstance(other, dict):
            merged[keyword] = {"allOf": [one, other]}
    return merged


def _types(alternatives: list[Branch]) -> set[str] | None:
    """The JSON types the alternatives allow; None when one allows any."""
    if any("type" not in branch for branch in alternatives):
        return None
    found = {branch["type"] for branch in alternatives}
    return found | {"integer"} if "number" in found else found  # an integer is a number


def _json_type(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return "integer"  # JSON has numbers: 1.0 is the integer 1
    kinds = ((bool, "boolean"), (int, "integer"), (float, "number"), (str, "string"), (list, "array"))
    return next((name for kind, name in kinds if isinstance(value, kind)), "null" if value is None else "object")


def _fits(value_type: str, kind: str) -> bool:
    return value_type == kind or (value_type, kind) == ("integer", "number")


def _text(value: Any) -> str:
    """A listed value as JSON text, the same for values JSON does not tell apart (1 and 1.0)."""
    return json.dumps(int(value) if isinstance(value, float) and value.is_integer() else value, sort_keys=True)


def _properties(alternatives: list[Branch]) -> dict[str, Any]:
    return {name: schema for branch in alternatives for name, schema in branch.get("properties", {}).items()}


def _required(alternatives: list[Branch]) -> set[str]:
    objects = [branch for branch in alternatives if branch.get("type") == "object"]
    sets = [set(branch.get("required", [])) for branch in objects]
    return set.intersection(*sets) if sets else set()


def _items(alternatives: list[Branch]) -> Any:
    return next((branch["items"] for branch in alternatives if "items" in branch), None)
