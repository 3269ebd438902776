"""The check that openapi.json keeps the last release's promises: on small documents made to break one promise
each, and on a git repository with release tags."""

from __future__ import annotations

import copy
import functools
import json
import subprocess
from typing import Any

import pytest

from release import compatibility

THING = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 50, "pattern": "^[a-z]+$"},
        "kind": {"type": "string", "enum": ["a", "b"]},
        "note": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        "parts": {"type": "array", "items": {"$ref": "#/components/schemas/Part"}},
    },
    "required": ["name"],
}
ANSWER = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "status": {"type": ["string", "null"]},
        "state": {"type": "string", "enum": ["open", "done"]},
        "sides": {"type": "array", "items": {"type": "object", "properties": {"side": {"type": "string"}}}},
    },
    "required": ["id"],
}
KEY = {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._:-]{0,254}$"}
THING_ID = {"type": "string", "pattern": "^t_[a-z0-9]+$", "maxLength": 36}
RELEASED: dict[str, Any] = {
    "openapi": "3.1.0",
    "paths": {
        "/things": {
            "post": {
                "parameters": [{"name": "Idempotency-Key", "in": "header", "required": False, "schema": KEY}],
                "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}}},
                "responses": {
                    "200": {
                        "headers": {"Idempotent-Replayed": {"$ref": "#/components/headers/Replayed"}},
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Answer"}}},
                    },
                    "400": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
                },
            }
        },
        "/things/{id}": {
            "get": {
                "parameters": [{"name": "id", "in": "path", "required": True, "schema": THING_ID}],
                "responses": {"200": {"content": {}}},
            }
        },
    },
    "components": {
        "schemas": {
            "Thing": THING,
            "Answer": ANSWER,
            "Part": {"type": "object", "properties": {"side": {"type": "string"}}},
            "Id": {"type": "string"},
            "Error": {
                "type": "object",
                "properties": {"code": {"type": "string"}, "correlationId": {"type": "string"}},
                "required": ["code", "correlationId"],
            },
        },
        "headers": {"Replayed": {"schema": {"type": "string", "enum": ["true", "false"]}}},
        "securitySchemes": {
            "sigv4": {
                "type": "apiKey",
                "name": "Authorization",
                "in": "header",
                "x-amazon-apigateway-authtype": "awsSigv4",
                "description": "AWS Signature Version 4",
            }
        },
    },
}


def changed(edit) -> dict[str, Any]:
    document = copy.deepcopy(RELEASED)
    edit(document)
    return document


def schemas(document: dict[str, Any]) -> dict[str, Any]:
    return document["components"]["schemas"]


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda d: d["paths"].pop("/things/{id}"), "GET /things/{id}: route removed"),
        (  # the same URL, but generated clients name their argument after the path parameter
            lambda d: d["paths"].update({"/things/{thingId}": d["paths"].pop("/things/{id}")}),
            "GET /things/{id}: route removed",
        ),
        (
            lambda d: schemas(d)["Thing"]["properties"]["kind"].update(enum=["a"]),
            'POST /things request.kind: no longer accepts "b"',
        ),
        (
            lambda d: schemas(d)["Thing"]["properties"]["note"]["anyOf"][0].update(enum=["x"]),
            'POST /things request.note: no longer accepts any value but "x"',
        ),
        (
            lambda d: schemas(d)["Thing"]["properties"]["name"].update(maxLength=20),
            "POST /things request.name: maxLength 50 -> 20",
        ),
        (
            lambda d: schemas(d)["Thing"]["properties"]["name"].update(minLength=2),
            "POST /things request.name: minLength None -> 2",
        ),
        (
            lambda d: schemas(d)["Thing"]["properties"]["name"].update(pattern="^[a-z]{2,}$"),
            "POST /things request.name: pattern ^[a-z]+$ -> ^[a-z]{2,}$",
        ),
        (
            lambda d: schemas(d)["Thing"].update(additionalProperties=False),
            "POST /things request: no longer accepts fields it does not name",
        ),
        (
            lambda d: schemas(d)["Answer"]["properties"]["state"].update(enum=["open", "done", "lost"]),
            'POST /things 200 answer.state: may now answer "lost"',
        ),
        (lambda d: schemas(d)["Thing"]["properties"].pop("note"), "POST /things request: request field note removed"),
        (
            lambda d: schemas(d)["Thing"]["required"].append("note"),
            "POST /things request: request field note is now required",
        ),
        (
            lambda d: schemas(d)["Part"]["properties"].pop("side"),
            "POST /things request.parts[]: request field side removed",
        ),
        (
            lambda d: schemas(d)["Thing"]["properties"].update(name={"type": "integer"}),
            "POST /things request.name: no longer accepts string",
        ),
        (
            lambda d: schemas(d)["Answer"]["properties"].pop("status"),
            "POST /things 200 answer: answer field status removed",
        ),
        (
            lambda d: schemas(d)["Answer"]["properties"]["sides"]["items"]["properties"].pop("side"),
            "POST /things 200 answer.sides[]: answer field side removed",
        ),
        (
            lambda d: schemas(d)["Answer"].update(required=[]),
            "POST /things 200 answer: answer field id is no longer required",
        ),
        (
            lambda d: schemas(d)["Answer"].update(required=["id", "status"]),
            "POST /things 200 answer: answer field status is now required",
        ),
        (
            lambda d: schemas(d)["Answer"]["properties"].update(status={"type": ["string", "integer", "null"]}),
            "POST /things 200 answer.status: may now answer integer",
        ),
        (
            lambda d: d["paths"]["/things"]["post"]["responses"].pop("200"),
            "POST /things: success response 200 removed",
        ),
        (
            lambda d: schemas(d)["Answer"]["properties"].update(id={}),
            "POST /things 200 answer.id: may now answer any type, not only string",
        ),
        (
            lambda d: schemas(d)["Thing"]["properties"].update(
                name={"allOf": [{"type": "string", "maxLength": 50, "pattern": "^[a-z]+$"}, {"maxLength": 3}]}
            ),
            "POST /things request.name: maxLength 50 -> 3",
        ),
        (
            lambda d: d["paths"]["/things"]["post"].pop("requestBody"),
            "POST /things: request body removed",
        ),
        (
            lambda d: d["paths"]["/things"]["post"].update(security=[{"sigv4": []}]),
            "POST /things: no longer admits callers with no credentials",
        ),
        (
            lambda d: d["paths"]["/things"]["post"]["parameters"][0].update(required=True),
            "POST /things: header parameter Idempotency-Key is now required",
        ),
        (
            lambda d: d["paths"]["/things"]["post"].pop("parameters"),
            "POST /things: header parameter Idempotency-Key removed",
        ),
        (
            lambda d: schemas(d)["Error"]["properties"].pop("correlationId"),
            "POST /things 400 answer: answer field correlationId removed",
        ),
        (
            lambda d: d["components"]["securitySchemes"]["sigv4"].pop("x-amazon-apigateway-authtype"),
            "security scheme sigv4 changed: clients generated from the document would sign otherwise",
        ),
        (
            lambda d: d["components"].pop("securitySchemes"),
            "security scheme sigv4 removed",
        ),
        (
            lambda d: d["paths"]["/things"]["post"]["responses"]["200"].pop("headers"),
            "POST /things 200 answer: header Idempotent-Replayed removed",
        ),
        (
            lambda d: d["components"]["headers"]["Replayed"]["schema"]["enum"].append("maybe"),
            'POST /things 200 answer header Idempotent-Replayed: may now answer "maybe"',
        ),
    ],
    ids=[
        "removed route",
        "path parameter renamed",
        "request enum value removed",
        "request enum imposed",
        "request length tightened",
        "request minimum raised",
        "request pattern changed",
        "request closed to other fields",
        "answer enum value added",
        "removed request field",
        "newly required request field",
        "removed nested request field",
        "request field narrowed",
        "removed answer field",
        "removed nested answer field",
        "answer field no longer required",
        "answer field made required",
        "answer field widened",
        "removed success response",
        "answer field untyped",
        "request constraint inside allOf",
        "request body removed",
        "anonymous callers refused",
        "newly required parameter",
        "removed parameter",
        "removed error answer field",
        "signing scheme changed",
        "signing scheme removed",
        "answer header removed",
        "answer header answering another value",
    ],
)
def test_each_broken_promise_is_named(edit, expected):
    assert compatibility.breaking_changes(RELEASED, changed(edit)) == [expected]


@pytest.mark.parametrize(
    "edit",
    [
        lambda d: schemas(d)["Thing"]["properties"].update(extra={"type": "string"}),
        lambda d: schemas(d)["Answer"]["properties"].update(extra={"type": "string"}),
        lambda d: (
            schemas(d)["Answer"]["properties"].update(extra={"type": "string"}),
            schemas(d)["Answer"]["required"].append("extra"),
        ),
        lambda d: schemas(d)["Thing"]["properties"].update(name={"type": ["string", "null"]}),
        lambda d: d["paths"].update({"/others": {"post": {"responses": {}}}}),
        lambda d: d["paths"]["/things"]["post"]["responses"].pop("400"),
        lambda d: schemas(d)["Thing"]["properties"]["kind"].update(enum=["a", "b", "c"]),
        lambda d: schemas(d)["Thing"]["properties"]["name"].update(maxLength=80),
        lambda d: schemas(d)["Thing"]["properties"]["name"].pop("pattern"),
        lambda d: schemas(d)["Answer"]["properties"]["state"].update(enum=["open"]),
        lambda d: schemas(d)["Thing"]["properties"].update(
            name={"allOf": [{"type": "string"}, {"maxLength": 50, "pattern": "^[a-z]+$"}]}
        ),
        lambda d: schemas(d)["Answer"]["properties"].update(id={"allOf": [{"$ref": "#/components/schemas/Id"}]}),
        lambda d: d["paths"]["/things"]["post"].update(security=[{"sigv4": []}, {}]),
        lambda d: schemas(d)["Error"]["properties"].update(details={"type": "array"}),
        lambda d: d["components"]["securitySchemes"]["sigv4"].update(description="SigV4, checked by API Gateway"),
        lambda d: d["paths"]["/things"]["post"]["responses"]["200"].update(
            headers={"idempotent-replayed": {"schema": {"type": "string", "enum": ["true", "false"]}}}
        ),
    ],
    ids=[
        "added optional request field",
        "added answer field",
        "added required answer field",
        "request field widened",
        "added route",
        "removed error response",
        "request enum value added",
        "request length loosened",
        "request pattern dropped",
        "answer enum value dropped",
        "request field split into allOf parts",
        "answer field by reference in allOf",
        "signing offered beside anonymous calls",
        "added error answer field",
        "security scheme described otherwise",
        "answer header named in another case, given in place",
    ],
)
def test_additions_break_nothing(edit):
    assert compatibility.breaking_changes(RELEASED, changed(edit)) == []


def parameter(document: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    return document["paths"][path][method]["parameters"][0]["schema"]


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            lambda d: parameter(d, "/things/{id}", "get").update(pattern="^t_[a-z]+$"),
            "GET /things/{id} path parameter id: pattern ^t_[a-z0-9]+$ -> ^t_[a-z]+$",
        ),
        (
            lambda d: parameter(d, "/things/{id}", "get").update(maxLength=20),
            "GET /things/{id} path parameter id: maxLength 36 -> 20",
        ),
        (
            lambda d: parameter(d, "/things/{id}", "get").update(type="integer"),
            "GET /things/{id} path parameter id: no longer accepts string",
        ),
        (
            lambda d: parameter(d, "/things", "post").update(pattern="^[A-Za-z0-9-]{1,64}$"),
            "POST /things header parameter Idempotency-Key: pattern ^[A-Za-z0-9][A-Za-z0-9._:-]{0,254}$ -> "
            "^[A-Za-z0-9-]{1,64}$",
        ),
    ],
    ids=[
        "path parameter pattern changed",
        "path parameter length tightened",
        "path parameter narrowed",
        "header parameter pattern changed",
    ],
)
def test_a_parameter_accepting_fewer_values_is_named(edit, expected):
    # Given the released document, When a parameter's schema refuses a value it accepted, Then that is breaking
    assert compatibility.breaking_changes(RELEASED, changed(edit)) == [expected]


@pytest.mark.parametrize(
    "edit",
    [
        lambda d: parameter(d, "/things/{id}", "get").update(maxLength=64),
        lambda d: parameter(d, "/things/{id}", "get").pop("pattern"),
        lambda d: parameter(d, "/things/{id}", "get").update(type=["string", "integer"]),
    ],
    ids=["path parameter length loosened", "path parameter pattern dropped", "path parameter widened"],
)
def test_a_parameter_accepting_more_values_breaks_nothing(edit):
    assert compatibility.breaking_changes(RELEASED, changed(edit)) == []


def test_a_header_parameter_is_the_same_in_any_case_and_a_referenced_one_is_compared_too():
    # Given the released document's Idempotency-Key header, then spelt in lower case and moved to a component
    def as_component(document: dict[str, Any], pattern: str) -> None:
        (header,) = document["paths"]["/things"]["post"]["parameters"]
        document["components"]["parameters"] = {"Key": {**header, "name": "idempotency-key", "schema": {**KEY}}}
        document["components"]["parameters"]["Key"]["schema"]["pattern"] = pattern
        document["paths"]["/things"]["post"]["parameters"] = [{"$ref": "#/components/parameters/Key"}]

    same = changed(lambda d: as_component(d, KEY["pattern"]))
    tighter = changed(lambda d: as_component(d, "^[a-z]{1,8}$"))

    # Then the same header, by reference and in another case, breaks nothing, and its tighter pattern is named
    assert compatibility.breaking_changes(RELEASED, same) == []
    (change,) = compatibility.breaking_changes(RELEASED, tighter)
    assert change.startswith("POST /things header parameter idempotency-key: pattern")


BROKEN = changed(lambda d: d["paths"].pop("/things/{id}"))


def test_a_breaking_change_fails_unless_the_major_version_was_raised():
    ok, lines = compatibility.verdict("1.4.0", ("v1.3.2", RELEASED), BROKEN)
    assert not ok and "GET /things/{id}: route removed" in "\n".join(lines)

    ok, lines = compatibility.verdict("2.0.0", ("v1.3.2", RELEASED), BROKEN)
    assert ok and lines[-1] == "allowed: the major version was raised (v1.3.2 -> 2.0.0)"


def test_no_release_yet_skips_the_check_and_a_lowered_version_fails_it():
    assert compatibility.verdict("1.0.0", None, BROKEN) == (
        True,
        ["no release (v* tag) with an openapi.json yet: nothing to compare with, check skipped"],
    )
    assert compatibility.verdict("1.0.0", ("v1.1.0", RELEASED), RELEASED)[0] is False


def git(repository, *arguments: str) -> None:
    subprocess.run(["git", "-C", str(repository), *arguments], check=True, capture_output=True)  # noqa: S603, S607


def test_the_last_release_is_the_highest_version_tag_and_its_openapi_document(tmp_path):
    # Given a repository with tags v1.9.0 and v1.10.0 (and others that name no version), each with its document
    git(tmp_path, "init", "--quiet")
    git(tmp_path, "config", "user.email", "ci@example.com")
    git(tmp_path, "config", "user.name", "CI")
    for tag, title in (("v1.10.0", "ten"), ("v1.9.0", "nine"), ("vnext", "next"), ("latest", "latest")):
        (tmp_path / "openapi.json").write_text(json.dumps({"info": {"title": title}}))
        git(tmp_path, "add", "openapi.json")
        git(tmp_path, "commit", "--quiet", "-m", title)
        git(tmp_path, "tag", tag)

    # When the last release is read, Then it is v1.10.0 (by version, not by name) with the document it tagged
    assert compatibility.last_release(tmp_path) == ("v1.10.0", {"info": {"title": "ten"}})
    # And for the release job of v1.10.0 itself, the release before it
    assert compatibility.last_release(tmp_path, before="v1.10.0") == ("v1.9.0", {"info": {"title": "nine"}})


def test_without_tags_there_is_no_last_release(tmp_path):
    git(tmp_path, "init", "--quiet")
    assert compatibility.last_release(tmp_path) is None


def test_a_security_requirement_still_accepted_by_a_looser_one_breaks_nothing():
    # Given a route taking either of two schemes
    before = changed(lambda d: d["paths"]["/things"]["post"].update(security=[{"a": []}, {"b": []}]))

    # When one is dropped, Then its callers are refused; When one needing fewer schemes admits them, nothing breaks
    dropped = changed(lambda d: d["paths"]["/things"]["post"].update(security=[{"a": []}]))
    assert compatibility.breaking_changes(before, dropped) == ["POST /things: no longer admits callers with b"]
    anonymous = changed(lambda d: d["paths"]["/things"]["post"].update(security=[{"a": []}, {}]))
    assert compatibility.breaking_changes(before, anonymous) == []


@pytest.mark.parametrize("tag", ["v1.1.0-rc1", "release-1", "v1.1"])
def test_a_release_being_made_under_a_tag_that_is_no_version_is_refused_plainly(tag, capsys):
    assert compatibility.main(["--before", tag]) == 2
    assert f"--before {tag}: not a release tag (vMAJOR.MINOR.PATCH)" in capsys.readouterr().out


CUT = (
    "# Changelog\n\n## [Unreleased]\n\n### Added\n\n## [1.1.0] - 2027-01-02\n\n- b\n\n## [1.0.0] - 2027-01-01\n\n- a\n"
)


@pytest.mark.parametrize(
    ("changelog", "tags", "current", "expected"),
    [
        # every release tagged, and the current version's notes since gathering under [Unreleased]
        (CUT.replace("### Added\n", "- c\n"), {"v1.0.0", "v1.1.0"}, "1.1.0", []),
        # the current version being cut: its pull request, before the tag is pushed
        (CUT, {"v1.0.0"}, "1.1.0", []),
        # nothing released yet: every note under [Unreleased]
        ("# Changelog\n\n## [Unreleased]\n\n- a\n", set(), "1.0.0", []),
        # an older release never tagged: the check would compare with v1.0.0's promises, or with none
        (CUT, {"v1.0.0"}, "1.2.0", ["CHANGELOG.md dates 1.1.0 as released, but no tag v1.1.0 marks it"]),
        (CUT, {"v1.1.0"}, "1.1.0", ["CHANGELOG.md dates 1.0.0 as released, but no tag v1.0.0 marks it"]),
        # the current version dated, untagged, and notes after it: released untagged, or never released
        (
            CUT.replace("### Added\n", "- c\n"),
            {"v1.0.0"},
            "1.1.0",
            [
                "CHANGELOG.md has a section for the current version 1.1.0, untagged, and notes under [Unreleased] "
                "after it"
            ],
        ),
    ],
)
def test_a_release_the_changelog_dates_without_its_tag_is_named(changelog, tags, current, expected):
    assert compatibility.untagged_releases(changelog, tags, current) == expected


def test_the_check_fails_while_a_dated_release_has_no_tag(tmp_path, monkeypatch, capsys):
    # Given a repository without tags whose changelog dates a release older than the current version
    git(tmp_path, "init", "--quiet")
    changelog = tmp_path / "CHANGELOG.md"
    changelog.write_text(CUT)
    monkeypatch.setattr(compatibility.artifacts, "CHANGELOG", changelog)
    monkeypatch.setattr(compatibility.version, "current", lambda: "1.2.0")
    monkeypatch.setattr(compatibility, "_git", functools.partial(compatibility._git, cwd=tmp_path))

    # When the check runs, Then it fails naming each untagged release, never "nothing to compare with"
    assert compatibility.main([]) == 1
    printed = capsys.readouterr().out
    assert "no tag v1.1.0 marks it" in printed and "no tag v1.0.0 marks it" in printed
    assert "check skipped" not in printed


def test_a_shallow_clone_is_refused_even_when_it_holds_a_release_tag(tmp_path, monkeypatch, capsys):
    # Given a repository with two releases, and a shallow clone of it holding only the last one's tag
    origin, clone = tmp_path / "origin", tmp_path / "clone"
    origin.mkdir()
    git(origin, "init", "--quiet")
    git(origin, "config", "user.email", "ci@example.com")
    git(origin, "config", "user.name", "CI")
    for tag in ("v1.0.0", "v1.1.0"):
        (origin / "openapi.json").write_text(json.dumps({"info": {"version": tag}}))
        git(origin, "add", "openapi.json")
        git(origin, "commit", "--quiet", "-m", tag)
        git(origin, "tag", tag)
    git(tmp_path, "clone", "--quiet", "--depth", "1", "--branch", "v1.1.0", f"file://{origin}", str(clone))
    monkeypatch.setattr(compatibility, "_git", functools.partial(compatibility._git, cwd=clone))

    # When the check runs there, Then it refuses to judge: the clone cannot say what was released
    assert compatibility.main([]) == 1
    assert "a shallow clone cannot say what was released" in capsys.readouterr().out
