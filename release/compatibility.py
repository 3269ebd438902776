"""Whether openapi.json keeps what the last release promised: `python -m release.compatibility` (`make
compatibility`, a CI step) compares it with the openapi.json of the latest `v*` tag and fails on a breaking change
unless the major version (release/version.py) was raised above that tag's.

Breaking, for a caller built against the last release:
- a route (method and path) or a success response removed;
- a request field or parameter removed, made required, or accepting fewer JSON types; a request body made required
  (a parameter's `schema` is compared as a request field's is);
- a request value accepted before and refused now: an enum value removed (or an enum imposed), a tighter length,
  item count or bound, another pattern, other fields no longer accepted (`additionalProperties: false`);
- an answer field removed, made required or no longer required, answering other JSON types, or answering enum
  values it did not list. No longer required: callers rely on it being there. Made required: clients generated in
  languages with optional types (Swift, Kotlin, Rust...) see the field's type change from optional to plain, and
  callers' code that unwraps it stops compiling.
Adding routes, optional request fields and answer fields (required or not) is not breaking.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from project import ROOT
from release import version

DOCUMENT = "openapi.json"
_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
Document = dict[str, Any]


def breaking_changes(old: Document, new: Document) -> list[str]:
    """What `new` breaks of `old`'s promises, one line each."""
    changes: list[str] = []
    for path, operations in old.get("paths", {}).items():
        for method in (name for name in operations if name in _METHODS):
            where = f"{method.upper()} {path}"
            before, after = operations[method], new.get("paths", {}).get(path, {}).get(method)
            if after is None:
                changes.append(f"{where}: route removed")
                continue
            changes += _parameters(where, (old, before), (new, after))
            changes += _request_body(where, (old, before), (new, after))
            changes += _responses(where, (old, before), (new, after))
    return changes


def _parameters(where: str, old: tuple[Document, dict], new: tuple[Document, dict]) -> Iterator[str]:
    """Parameters (path, query, header) matched by where they are and their name; each one's `schema` is held to
    what it accepted as a request field is (its JSON types, limits, pattern, enum)."""
    before, after = _by_place(old[0], old[1].get("parameters", [])), _by_place(new[0], new[1].get("parameters", []))
    for key, parameter in after.items():
        named = f"{key[0]} parameter {parameter['name']}"
        if parameter.get("required") and not before.get(key, {}).get("required"):
            yield f"{where}: {named} is now required"
        if key in before:
            yield from _fields(
                f"{where} {named}",
                (old[0], before[key].get("schema", {})),
                (new[0], parameter.get("schema", {})),
                request=True,
            )
    for key in before.keys() - after.keys():
        yield f"{where}: {key[0]} parameter {before[key]['name']} removed"


def _by_place(document: Document, parameters: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """Each parameter (a reference followed) by where it is and its name; a header's name in any case is the same
    header."""
    placed = {}
    for parameter in (_resolve(document, item) for item in parameters):
        name = parameter["name"].lower() if parameter["in"] == "header" else parameter["name"]
        placed[(parameter["in"], name)] = parameter
    return placed


def _request_body(where: str, old: tuple[Document, dict], new: tuple[Document, dict]) -> Iterator[str]:
    before, after = old[1].get("requestBody"), new[1].get("requestBody")
    if after and after.get("required") and not (before or {}).get("required"):
        yield f"{where}: a request body is now required"
    if before and after:
        yield from _fields(
            f"{where} request", (old[0], _json_schema(before)), (new[0], _json_schema(after)), request=True
        )


def _responses(where: str, old: tuple[Document, dict], new: tuple[Document, dict]) -> Iterator[str]:
    for status, response in old[1].get("responses", {}).items():
        if not status.startswith("2"):
            continue
        if status not in new[1].get("responses", {}):
            yield f"{where}: success response {status} removed"
            continue
        after = new[1]["responses"][status]
        yield from _fields(
            f"{where} {status} answer", (old[0], _json_schema(response)), (new[0], _json_schema(after)), request=False
        )


def _json_schema(content_holder: dict[str, Any]) -> dict[str, Any]:
    return content_holder.get("content", {}).get("application/json", {}).get("schema", {})


def _fields(
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
    old_types, new_types = _types(before), _types(after)
    if old_types and new_types:
        narrower = old_types - new_types if request else new_types - old_types
        if narrower:
            kind = "no longer accepts" if request else "may now answer"
            yield f"{where}: {kind} {', '.join(sorted(narrower))}"
    yield from _limits(where, before, after, request=request)
    old_properties, new_properties = _properties(before), _properties(after)
    old_required, new_required = _required(before), _required(after)
    label = "request field" if request else "answer field"
    for name in old_properties:
        if name not in new_properties:
            yield f"{where}: {label} {name} removed"
        else:
            yield from _fields(
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
        yield from _fields(f"{where}[]", (old[0], old_items), (new[0], new_items), request=request, seen=seen)


# Keywords whose new value refuses what the old accepted: a lower maximum, a higher minimum.
_LOWER_REFUSES = ("maxLength", "maxItems", "maxProperties", "maximum", "exclusiveMaximum")
_HIGHER_REFUSES = ("minLength", "minItems", "minProperties", "minimum", "exclusiveMinimum")


def _limits(where: str, before: list[dict[str, Any]], after: list[dict[str, Any]], *, request: bool) -> Iterator[str]:
    """Values a request could send and may not now, or an answer may now give that it did not list: compared on
    the one branch that is not null on each side (a field with alternatives of several kinds is left to _types)."""
    old, new = _single(before), _single(after)
    if old is None or new is None:
        return
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


def _resolve(document: Document, schema: Any) -> Any:
    """What a local reference (`#/components/...`) points at, followed until it is not one."""
    while isinstance(schema, dict) and "$ref" in schema:
        target: Any = document
        for part in schema["$ref"].removeprefix("#/").split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        schema = target
    return schema


def _branches(document: Document, schema: Any) -> list[dict[str, Any]]:
    """The alternatives a schema allows (anyOf/oneOf flattened, references resolved)."""
    schema = _resolve(document, schema)
    if not isinstance(schema, dict):
        return []
    options = schema.get("anyOf") or schema.get("oneOf")
    if options:
        return [branch for option in options for branch in _branches(document, option)]
    return [schema]


def _types(branches: list[dict[str, Any]]) -> set[str]:
    """The JSON types the branches allow; empty when one allows any."""
    found: set[str] = set()
    for branch in branches:
        kind = branch.get("type") or ("object" if "properties" in branch else None)
        if kind is None:
            if "const" in branch or "enum" in branch:
                values = [branch["const"]] if "const" in branch else branch["enum"]
                found |= {_json_type(value) for value in values}
                continue
            return set()
        found |= set(kind) if isinstance(kind, list) else {kind}
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


# --- against the last release -------------------------------------------------------------------------------------


def _git(*arguments: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - git, with our own arguments
        ["git", *arguments],  # noqa: S607 - git from PATH, as a developer runs it
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )


def last_release(cwd: Path = ROOT, *, before: str | None = None) -> tuple[str, Document] | None:
    """The highest `vMAJOR.MINOR.PATCH` tag (below the version `before`, when given: the release being made) and its
    openapi.json, if there is such a tag and it has one."""
    tags = []
    for tag in _git("tag", "--list", "v*", cwd=cwd).stdout.split():
        try:
            tags.append((version.parse(tag), tag))
        except ValueError:
            continue
    if before is not None:
        tags = [(number, tag) for number, tag in tags if number < version.parse(before)]
    if not tags:
        return None
    tag = max(tags)[1]
    shown = _git("show", f"{tag}:{DOCUMENT}", cwd=cwd)
    return (tag, json.loads(shown.stdout)) if shown.returncode == 0 else None


def verdict(current: str, released: tuple[str, Document] | None, new: Document) -> tuple[bool, list[str]]:
    """Whether the current document and version may ship, and why, against the last release (tag, document)."""
    if released is None:
        return True, ["no release (v* tag) with an openapi.json yet: nothing to compare with, check skipped"]
    tag, old = released
    if version.parse(current) < version.parse(tag):
        return False, [f"the version {current} is below the last release's, {tag}"]
    changes = breaking_changes(old, new)
    if not changes:
        return True, [f"openapi.json keeps every promise of {tag}"]
    lines = [f"openapi.json breaks what {tag} promised:", *(f"  - {change}" for change in changes)]
    if version.parse(current)[0] > version.parse(tag)[0]:
        return True, [*lines, f"allowed: the major version was raised ({tag} -> {current})"]
    hint = f"keep the promise, or raise the major version ({version.CLIENT_INIT.relative_to(ROOT)}, CHANGELOG.md)"
    return False, [*lines, hint]


def main(arguments: list[str] | None = None) -> int:
    """`--before vX.Y.Z`: the release job, whose own tag is not the release to compare with."""
    arguments = sys.argv[1:] if arguments is None else arguments
    if arguments and (arguments[:1] != ["--before"] or len(arguments) != 2):
        print("usage: python -m release.compatibility [--before vMAJOR.MINOR.PATCH]")
        return 2
    before = arguments[1] if arguments else None
    released = last_release(before=before)
    if released is None and _git("rev-parse", "--is-shallow-repository").stdout.strip() == "true":
        print("a shallow clone cannot say what was released: fetch the history and tags (fetch-depth: 0)")
        return 1
    ok, lines = verdict(version.current(), released, json.loads((ROOT / DOCUMENT).read_text()))
    print("\n".join(lines))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
