"""How the compatibility check reads a schema: as the values a validator accepts, whatever way it is written (allOf
parts, anyOf alternatives, type lists, booleans, references, recursion), on one field of a request and an answer,
then on a whole document's component."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from release import compatibility
from tests.unit.test_compatibility import changed, schemas


def request_field(schema: Any, schemas: dict[str, Any] | None = None) -> dict[str, Any]:
    body = {"type": "object", "properties": {"f": schema}}
    return {
        "paths": {"/x": {"post": {"requestBody": {"content": {"application/json": {"schema": body}}}}}},
        "components": {"schemas": schemas or {}},
    }


def answer_field(schema: Any, schemas: dict[str, Any] | None = None) -> dict[str, Any]:
    body = {"type": "object", "properties": {"f": schema}}
    return {
        "paths": {"/x": {"get": {"responses": {"200": {"content": {"application/json": {"schema": body}}}}}}},
        "components": {"schemas": schemas or {}},
    }


STRING = {"type": "string"}
OBJECT = {"type": "object", "properties": {"a": STRING, "b": STRING}}


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        (OBJECT, {"allOf": [OBJECT, {"required": ["a"]}]}, "POST /x request.f: request field a is now required"),
        (
            OBJECT,
            {"allOf": [OBJECT, {"properties": {"a": {"maxLength": 3}}}]},
            "POST /x request.f.a: maxLength None -> 3",
        ),
        (
            {"type": ["string", "integer"]},
            {"allOf": [{"type": ["string", "integer"]}, STRING]},
            "POST /x request.f: no longer accepts integer",
        ),
        (
            {"enum": ["a", "b"]},
            {"allOf": [{"enum": ["a", "b"]}, {"enum": ["a", "c"]}]},
            'POST /x request.f: no longer accepts "b"',
        ),
        (
            {"type": "string", "pattern": "^a"},
            {"allOf": [{"type": "string", "pattern": "^a"}, {"pattern": "b$"}]},
            "POST /x request.f: pattern ^a -> ^a and b$",
        ),
        (
            OBJECT,
            {"allOf": [OBJECT, {"additionalProperties": False}]},
            "POST /x request.f: no longer accepts fields it does not name",
        ),
        (
            {"type": "array", "items": STRING},
            {"allOf": [{"type": "array", "items": STRING}, {"items": {"maxLength": 3}}]},
            "POST /x request.f[]: maxLength None -> 3",
        ),
        (
            {"type": "string", "maxLength": 9},
            {"allOf": [{"maxLength": 9}, {"anyOf": [{"type": "string", "maxLength": 3}, {"type": "null"}]}]},
            "POST /x request.f: maxLength 9 -> 3",
        ),
        (
            {**OBJECT, "required": ["a"]},
            {"allOf": [{**OBJECT, "required": ["a"]}, {"required": ["b"]}]},
            "POST /x request.f: request field b is now required",
        ),
        (
            {"type": "number"},
            {"allOf": [{"type": "number"}, {"type": "integer"}]},
            "POST /x request.f: no longer accepts number",
        ),
        (
            {**OBJECT, "additionalProperties": STRING},
            {"allOf": [{**OBJECT, "additionalProperties": STRING}, {"additionalProperties": False}]},
            "POST /x request.f: no longer accepts fields it does not name",
        ),
        (
            {"type": "array", "items": STRING},
            {"allOf": [{"type": "array", "items": STRING}, {"items": False}]},
            "POST /x request.f[]: no longer accepts any value",
        ),
        (
            {"properties": OBJECT["properties"]},
            {"properties": OBJECT["properties"], "required": ["a"]},
            "POST /x request.f: request field a is now required",
        ),
        (
            {"type": "number", "enum": [1, 1.5]},
            {"type": "number", "enum": [1.5]},
            "POST /x request.f: no longer accepts 1",
        ),
        (True, STRING, "POST /x request.f: now accepts only string"),
        (STRING, False, "POST /x request.f: no longer accepts any value"),
        (
            {"enum": ["a", "b", 1, 2]},
            {"anyOf": [{"enum": ["a"]}, {"type": "integer", "maximum": 1}]},
            "POST /x request.f: maximum None -> 1",
        ),
    ],
    ids=[
        "a part's requirement",
        "a part's limit on a property both name",
        "the type both parts allow",
        "the values both parts list",
        "every part's pattern",
        "a part closed to other fields",
        "a part's items",
        "a limit inside one part's alternatives",
        "a requirement of each part",
        "an integer part of a number",
        "a part closed to fields another part types",
        "a part allowing no item",
        "an untyped schema with properties",
        "an integer listed for a number",
        "true typed",
        "false",
        "a mixed enum split into alternatives",
    ],
)
def test_a_request_field_accepting_less_however_written_is_named(before, after, expected):
    assert expected in compatibility.breaking_changes(request_field(before), request_field(after))


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (
            {"allOf": [{"type": "string", "pattern": "^a"}, {"pattern": "b$"}]},
            {"allOf": [{"pattern": "b$"}, {"type": "string", "pattern": "^a"}]},
        ),
        (
            {
                "allOf": [
                    {"anyOf": [{"type": "string", "maxLength": 5}, {"type": "null"}]},
                    {"anyOf": [STRING, {"type": "integer"}]},
                ]
            },
            {
                "allOf": [
                    {"anyOf": [STRING, {"type": "integer"}]},
                    {"anyOf": [{"type": "string", "maxLength": 5}, {"type": "null"}]},
                ]
            },
        ),
        (
            {"type": ["string", "null"], "enum": ["a", "b", None]},
            {"anyOf": [{"type": "string", "enum": ["a", "b"]}, {"type": "null"}]},
        ),
        ({"type": "number", "enum": [1]}, {"type": "number", "enum": [1.0]}),
        ({"allOf": [{"const": "a"}, {"enum": ["a", "b"]}]}, {"const": "a"}),
        (STRING, True),
        (
            {"anyOf": [{"type": "string", "maxLength": 9}, {"type": "string", "maxLength": 3}]},
            {"anyOf": [{"type": "string", "maxLength": 3}, {"type": "string", "maxLength": 9}]},
        ),
        ({"type": ["string", "integer"], "enum": ["a"]}, {"type": "string", "enum": ["a"]}),
        ({"enum": [1]}, {"enum": [1.0]}),
    ],
    ids=[
        "patterns of parts in another order",
        "parts with alternatives in another order",
        "nullable as a type list or an alternative",
        "1 written 1.0",
        "a value both parts allow, written once",
        "any value",
        "two alternatives of one type in another order",
        "a type no listed value has",
        "untyped 1 written 1.0",
    ],
)
def test_a_request_field_accepting_the_same_or_more_breaks_nothing(before, after):
    assert compatibility.breaking_changes(request_field(before), request_field(after)) == []


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        (STRING, True, ["GET /x 200 answer.f: may now answer any type, not only string"]),
        ({"type": "number"}, {"type": "integer"}, []),  # an integer is a number
        ({"type": "integer"}, {"type": "number"}, ["GET /x 200 answer.f: may now answer number"]),
        ({"type": ["string", "null"]}, {"anyOf": [STRING, {"type": "null"}]}, []),
        (STRING, {"allOf": [STRING, {"type": "integer"}]}, []),  # answers nothing: nothing a caller must handle
        (False, STRING, ["GET /x 200 answer.f: may now answer string"]),
        ({"enum": [1]}, {"enum": [1.0]}, []),
    ],
    ids=[
        "true",
        "number to integer",
        "integer to number",
        "nullable written another way",
        "no value at all",
        "a value where there was none",
        "untyped 1 written 1.0",
    ],
)
def test_an_answer_field_giving_more_is_named_and_giving_less_is_not(before, after, expected):
    assert compatibility.breaking_changes(answer_field(before), answer_field(after)) == expected


def test_recursive_schemas_are_compared_without_looping_however_they_recurse():
    # Given a node whose next is itself or null (as pydantic writes an optional self-reference, a default beside
    # the alternatives), and schemas that are their own part or alternative
    node = {
        "type": "object",
        "properties": {
            "next": {"anyOf": [{"$ref": "#/components/schemas/Node"}, {"type": "null"}], "default": None},
            "name": {"type": "string", "maxLength": 9},
        },
    }
    schemas = {
        "Node": node,
        "Twice": {"allOf": [{"$ref": "#/components/schemas/Twice"}, {"$ref": "#/components/schemas/Twice"}]},
        "Either": {"anyOf": [{"$ref": "#/components/schemas/Either"}, {"type": "string"}]},
        "Tree": {"allOf": [{"$ref": "#/components/schemas/Tree"}, {"type": "object", "properties": {"label": STRING}}]},
    }
    reference = {"anyOf": [{"$ref": f"#/components/schemas/{name}"} for name in schemas]}
    before = answer_field(reference, schemas)

    # When it is compared with itself, Then nothing breaks; and a change deep in the recursion is still named
    assert compatibility.breaking_changes(before, copy.deepcopy(before)) == []
    after = copy.deepcopy(before)
    after["components"]["schemas"]["Node"]["properties"].pop("name")
    assert sorted(compatibility.breaking_changes(before, after)) == [
        "GET /x 200 answer.f.next: answer field name removed",  # the node one level down, then the recursion ends
        "GET /x 200 answer.f: answer field name removed",
    ]
    # And a part that is the schema itself adds nothing but holds the other parts
    after = copy.deepcopy(before)
    after["components"]["schemas"]["Tree"]["allOf"][1]["properties"].pop("label")
    assert compatibility.breaking_changes(before, after) == ["GET /x 200 answer.f: answer field label removed"]


# --- on the whole document ------------------------------------------------------------------------------------------


def test_a_recursive_schema_is_compared_without_looping():
    def recursive(document):
        schemas(document)["Part"]["properties"]["parts"] = {
            "type": "array",
            "items": {"$ref": "#/components/schemas/Part"},
        }

    before, after = changed(recursive), changed(recursive)
    schemas(after)["Part"]["properties"].pop("side")

    assert compatibility.breaking_changes(before, after) == ["POST /things request.parts[]: request field side removed"]


def test_an_untyped_request_field_typed_accepts_fewer_values():
    # Given a released request field that takes any JSON value
    before = changed(lambda d: schemas(d)["Thing"]["properties"].update(free={}))

    # When it is given a type, Then that is breaking; When it is typed as it was, nothing is
    after = changed(lambda d: schemas(d)["Thing"]["properties"].update(free={"type": "integer"}))
    assert compatibility.breaking_changes(before, after) == ["POST /things request.free: now accepts only integer"]
    assert compatibility.breaking_changes(before, before) == []


def test_alternatives_are_compared_kind_by_kind():
    # Given a request field that is a string, an integer or null
    def alternatives(string: dict[str, Any]) -> dict[str, Any]:
        return changed(
            lambda d: schemas(d)["Thing"]["properties"].update(
                note={"anyOf": [string, {"type": "integer", "maximum": 9}, {"type": "null"}]}
            )
        )

    before = alternatives({"type": "string", "maxLength": 40})

    # When its string alternative is shortened, or its alternatives are listed in another order
    shorter = alternatives({"type": "string", "maxLength": 4})
    reordered = copy.deepcopy(before)
    schemas(reordered)["Thing"]["properties"]["note"]["anyOf"].reverse()

    # Then the shorter string is named, and the order breaks nothing
    assert compatibility.breaking_changes(before, shorter) == ["POST /things request.note: maxLength 40 -> 4"]
    assert compatibility.breaking_changes(before, reordered) == []


def test_a_keyword_beside_alternatives_holds_in_each():
    # Given a request field that is a string or null, then limited beside its alternatives
    before = changed(
        lambda d: schemas(d)["Thing"]["properties"].update(note={"anyOf": [{"type": "string"}, {"type": "null"}]})
    )
    after = copy.deepcopy(before)
    schemas(after)["Thing"]["properties"]["note"]["maxLength"] = 5

    assert compatibility.breaking_changes(before, after) == ["POST /things request.note: maxLength None -> 5"]
