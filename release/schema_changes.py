"""The breaking differences between two JSON schemas of one place in openapi.json (a request body, a parameter, an
answer), field by field: what release/compatibility.py reports for each schema it compares.

A schema's `allOf` parts are read together, as one schema; keywords beside an `anyOf`/`oneOf` hold in each of its
alternatives; alternatives are compared kind by kind (a string alternative with the string alternative).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

Document = dict[str, Any]


def field_changes(
    where: str,
    old: tuple[Document, Any],
    new: tuple[Document, Any],
    *,
    request: bool,
    seen: frozenset[tuple[tuple[int, ...], tuple[int, ...]]] = frozenset(),
) -> Iterator[str]:
    """The breaking differences between two schemas of the same place, field by field, nested ones included."""
    before, after = _branches(old[0], old[1]), _branches(new[0], new[1])
    pair = (tuple(map(id, before)), tuple(map(id, after)))  # the documents' own schemas: a recursive one ends here
    if pair in seen or not before or not after:
        return
    seen = seen | {pair}
    yield from _type_changes(where, _types(before), _types(after), request=request)
    yield from _limits(where, before, after, request=request)
    old_properties, new_properties = _properties(before), _properties(after)
    old_required, new_required = _required(before), _required(after)
    label = "request field" if request else "answer field"
    for name in old_properties:
        if name not in new_properties:
            yield f"{where}: {label} {name} removed"
        else:
            yield from field_changes(
                f"{where}.{name}",
                (old[0], old_properties[name]),
                (new[0], new_properties[name]),
                request=request,
                seen=seen,
            )
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


# Keywords whose new value refuses what the old accepted: a lower maximum, a higher minimum.
_LOWER_REFUSES = ("maxLength", "maxItems", "maxProperties", "maximum", "exclusiveMaximum")
_HIGHER_REFUSES = ("minLength", "minItems", "minProperties", "minimum", "exclusiveMinimum")


def _limits(where: str, before: list[dict[str, Any]], after: list[dict[str, Any]], *, request: bool) -> Iterator[str]:
    """Values a request could send and may not now, or an answer may now give that it did not list: compared on
    the one branch that is not null on each side, else alternative by alternative of the same kind (JSON types)."""
    old, new = _single(before), _single(after)
    if old is not None and new is not None:
        yield from _branch_limits(where, old, new, request=request)
        return
    old_kinds, new_kinds = _by_kind(before), _by_kind(after)
    for kind in old_kinds.keys() & new_kinds.keys():
        yield from _branch_limits(where, old_kinds[kind], new_kinds[kind], request=request)


def _by_kind(branches: list[dict[str, Any]]) -> dict[frozenset[str], dict[str, Any]]:
    """The alternatives that are not null, by their JSON types, where no other alternative has the same."""
    kinds: dict[frozenset[str], list[dict[str, Any]]] = {}
    for branch in branches:
        types = _types([branch])
        if types and types != {"null"}:
            kinds.setdefault(frozenset(types), []).append(branch)
    return {kind: found[0] for kind, found in kinds.items() if len(found) == 1}


def _branch_limits(where: str, old: dict[str, Any], new: dict[str, Any], *, request: bool) -> Iterator[str]:
    old_values, new_values = _values(old), _values(new)
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
        if new.get("pattern") is not None and new.get("pattern") != old.get("pattern"):
            yield f"{where}: pattern {old.get('pattern')} -> {new['pattern']}"
        if new.get("additionalProperties") is False and old.get("additionalProperties") is not False:
            yield f"{where}: no longer accepts fields it does not name"
    elif old_values is not None and new_values is not None and new_values - old_values:
        yield f"{where}: may now answer {', '.join(sorted(new_values - old_values))}"


def _single(branches: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The one branch that is not null, if there is exactly one."""
    kept = [branch for branch in branches if branch.get("type") != "null"]
    return kept[0] if len(kept) == 1 else None


def _values(branch: dict[str, Any]) -> set[str] | None:
    """A branch's listed values (enum or const, as JSON text), or None when it takes any value of its type."""
    if "const" in branch:
        return {json.dumps(branch["const"])}
    if "enum" in branch:
        return {json.dumps(value) for value in branch["enum"]}
    return None


def resolve(document: Document, schema: Any) -> Any:
    """What a local reference (`#/components/...`) points at, followed until it is not one."""
    while isinstance(schema, dict) and "$ref" in schema:
        target: Any = document
        for part in schema["$ref"].removeprefix("#/").split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        schema = target
    return schema


def _branches(document: Document, schema: Any, depth: int = 0) -> list[dict[str, Any]]:
    """The alternatives a schema allows: references resolved, `allOf` parts merged into one schema, anyOf/oneOf
    flattened, with the keywords beside them merged into each alternative."""
    schema = resolve(document, schema)
    if not isinstance(schema, dict) or depth > _DEEPEST:
        return []
    if "allOf" in schema:
        merged = {key: value for key, value in schema.items() if key != "allOf"}
        for part in schema["allOf"]:
            alternatives = _branches(document, part, depth + 1)
            merged = _merge(merged, alternatives[0] if len(alternatives) == 1 else {"anyOf": alternatives})
        return _branches(document, merged, depth + 1)
    options = schema.get("anyOf") or schema.get("oneOf")
    if options:
        beside = {key: value for key, value in schema.items() if key not in ("anyOf", "oneOf")}
        return [
            _merge(beside, branch) if beside else branch
            for option in options
            for branch in _branches(document, option, depth + 1)
        ]
    return [schema]


_DEEPEST = 32  # nesting of allOf/anyOf read; deeper is not compared (no document of ours comes near)


def _merge(first: dict[str, Any], second: dict[str, Any]) -> dict[str, Any]:
    """One schema holding what both require: properties of both, every required name, the tighter limit, the types
    and listed values both allow, and closed to other fields if either is."""
    if "anyOf" in first or "oneOf" in first:
        first, second = second, first
    merged = {**first, **second}
    for keyword in _LOWER_REFUSES + _HIGHER_REFUSES:  # of two limits, the tighter holds
        if keyword in first and keyword in second:
            merged[keyword] = (min if keyword in _LOWER_REFUSES else max)(first[keyword], second[keyword])
    if "properties" in first and "properties" in second:
        merged["properties"] = {**first["properties"], **second["properties"]}
        for name in first["properties"].keys() & second["properties"].keys():
            merged["properties"][name] = {"allOf": [first["properties"][name], second["properties"][name]]}
    if "required" in first and "required" in second:
        merged["required"] = sorted(set(first["required"]) | set(second["required"]))
    if "type" in first and "type" in second:
        both = _as_set(first["type"]) & _as_set(second["type"])
        merged["type"] = sorted(both) if len(both) != 1 else next(iter(both))
    if "enum" in first and "enum" in second:
        merged["enum"] = [value for value in first["enum"] if value in second["enum"]]
    if "pattern" in first and "pattern" in second and first["pattern"] != second["pattern"]:
        merged["pattern"] = f"(?={first['pattern']})(?={second['pattern']})"
    if first.get("additionalProperties") is False or second.get("additionalProperties") is False:
        merged["additionalProperties"] = False
    return merged


def _as_set(kind: str | list[str]) -> set[str]:
    return set(kind) if isinstance(kind, list) else {kind}


def _types(branches: list[dict[str, Any]]) -> set[str] | None:
    """The JSON types the branches allow; None when one allows any."""
    found: set[str] = set()
    for branch in branches:
        kind = branch.get("type") or ("object" if "properties" in branch else None)
        if kind is None:
            if "const" in branch or "enum" in branch:
                values = [branch["const"]] if "const" in branch else branch["enum"]
                found |= {_json_type(value) for value in values}
                continue
            return None
        found |= _as_set(kind)
    if "number" in found:
        found.add("integer")  # an integer is a number
    return found


def _json_type(value: Any) -> str:
    kinds = ((bool, "boolean"), (int, "integer"), (float, "number"), (str, "string"), (list, "array"))
    return next((name for kind, name in kinds if isinstance(value, kind)), "null" if value is None else "object")


def _properties(branches: list[dict[str, Any]]) -> dict[str, Any]:
    return {name: schema for branch in branches for name, schema in branch.get("properties", {}).items()}


def _required(branches: list[dict[str, Any]]) -> set[str]:
    objects = [branch for branch in branches if "properties" in branch or branch.get("type") == "object"]
    sets = [set(branch.get("required", [])) for branch in objects]
    return set.intersection(*sets) if sets else set()


def _items(branches: list[dict[str, Any]]) -> Any:
    return next((branch["items"] for branch in branches if "items" in branch), None)
