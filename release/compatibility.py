"""Whether openapi.json keeps what the last release promised: `python -m release.compatibility` (`make
compatibility`, a CI step) compares it with the openapi.json of the latest `v*` tag and fails on a breaking change
unless the major version (release/version.py) was raised above that tag's.
It compares with tags only, so it fails first while CHANGELOG.md dates a release that no tag marks.

Breaking, for a caller built against the last release:
- a route (method and path) or a success response removed; a route refusing callers it admitted (a security
  requirement it accepted, anonymous access included, no longer accepted). A path parameter renamed (`{id}` for
  `{applicationId}`) is a route removed too: the URL is the same, but generated clients name their arguments
  after it;
- a request field or parameter removed, made required, or accepting fewer JSON types (an untyped one typed); a
  request body made required or removed (a parameter's `schema` is compared as a request field's is);
- a request value accepted before and refused now: an enum value removed (or an enum imposed), a tighter length,
  item count or bound, another pattern, other fields no longer accepted (`additionalProperties: false`);
- an answer field removed, made required or no longer required, answering other JSON types (a typed one
  untyped), or answering enum values it did not list, in a success or in an error answer (callers read the error
  envelope's fields: its code, its correlation id), or an answer header removed or answering another value (callers
  read `X-Correlation-Id` and `Idempotent-Replayed`). No longer required: callers rely on it being there. Made
  required: clients generated in languages with optional types (Swift, Kotlin, Rust...) see the field's type change
  from optional to plain, and callers' code that unwraps it stops compiling;
- a security scheme removed or changed (its type, name, place or `x-amazon-apigateway-authtype`): clients generated
  from the document would stop signing, or sign otherwise.
Adding routes, optional request fields and answer fields (required or not) is not breaking; nor is an error answer
no longer given.
Each schema is compared field by field (release/schema_changes.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from project import ROOT
from release import artifacts, version
from release.schema_changes import Document, field_changes, resolve

DOCUMENT = "openapi.json"
_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


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
            changes += _security(where, (old, before), (new, after))
            changes += _parameters(where, (old, before), (new, after))
            changes += _request_body(where, (old, before), (new, after))
            changes += _responses(where, (old, before), (new, after))
    return changes + list(_security_schemes(old, new))


def _security_schemes(old: Document, new: Document) -> Iterator[str]:
    """Each security scheme released still declared, and declared alike (its description aside)."""
    before = old.get("components", {}).get("securitySchemes", {})
    after = new.get("components", {}).get("securitySchemes", {})
    for name, scheme in before.items():
        if name not in after:
            yield f"security scheme {name} removed"
        elif _scheme_terms(scheme) != _scheme_terms(after[name]):
            yield f"security scheme {name} changed: clients generated from the document would sign otherwise"


def _scheme_terms(scheme: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in scheme.items() if key != "description"}


def _security(where: str, old: tuple[Document, dict], new: tuple[Document, dict]) -> Iterator[str]:
    """Each way of calling the route accepted before (a set of security schemes; none: anonymous) still accepted."""
    accepted = _requirements(*new)
    for requirement in _requirements(*old) - accepted:
        if not any(other <= requirement for other in accepted):  # one needing fewer schemes still admits it
            yield f"{where}: no longer admits callers with {' and '.join(sorted(requirement)) or 'no credentials'}"


def _requirements(document: Document, operation: dict) -> set[frozenset[str]]:
    """The operation's alternative security requirements (its own, else the document's), each as scheme names."""
    listed = operation.get("security", document.get("security", []))
    return {frozenset(requirement) for requirement in listed} if listed else {frozenset()}


def _parameters(where: str, old: tuple[Document, dict], new: tuple[Document, dict]) -> Iterator[str]:
    """Parameters (path, query, header) matched by where they are and their name; each one's `schema` is held to
    what it accepted as a request field is (its JSON types, limits, pattern, enum)."""
    before, after = _by_place(old[0], old[1].get("parameters", [])), _by_place(new[0], new[1].get("parameters", []))
    for key, parameter in after.items():
        named = f"{key[0]} parameter {parameter['name']}"
        if parameter.get("required") and not before.get(key, {}).get("required"):
            yield f"{where}: {named} is now required"
        if key in before:
            yield from field_changes(
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
    for parameter in (resolve(document, item) for item in parameters):
        name = parameter["name"].lower() if parameter["in"] == "header" else parameter["name"]
        placed[(parameter["in"], name)] = parameter
    return placed


def _request_body(where: str, old: tuple[Document, dict], new: tuple[Document, dict]) -> Iterator[str]:
    before, after = old[1].get("requestBody"), new[1].get("requestBody")
    if after and after.get("required") and not (before or {}).get("required"):
        yield f"{where}: a request body is now required"
    if before and not after:
        yield f"{where}: request body removed"
    if before and after:
        yield from field_changes(
            f"{where} request", (old[0], _json_schema(before)), (new[0], _json_schema(after)), request=True
        )


def _responses(where: str, old: tuple[Document, dict], new: tuple[Document, dict]) -> Iterator[str]:
    """A success answer removed; the fields of each answer, success or error, still given."""
    for status, response in old[1].get("responses", {}).items():
        if status not in new[1].get("responses", {}):
            if status.startswith("2"):
                yield f"{where}: success response {status} removed"
            continue
        after = new[1]["responses"][status]
        yield from field_changes(
            f"{where} {status} answer", (old[0], _json_schema(response)), (new[0], _json_schema(after)), request=False
        )
        yield from _headers(f"{where} {status} answer", (old[0], response), (new[0], after))


def _headers(where: str, old: tuple[Document, dict], new: tuple[Document, dict]) -> Iterator[str]:
    """Each header of the answer (a reference followed; its name in any case) still given, its value as before:
    callers read them (the client: X-Correlation-Id, Idempotent-Replayed)."""
    before, after = (
        {name.lower(): (name, resolve(document, header)) for name, header in response.get("headers", {}).items()}
        for document, response in (old, new)
    )
    for key, (name, header) in before.items():
        if key not in after:
            yield f"{where}: header {name} removed"
            continue
        yield from field_changes(
            f"{where} header {name}",
            (old[0], header.get("schema", {})),
            (new[0], after[key][1].get("schema", {})),
            request=False,
        )


def _json_schema(content_holder: dict[str, Any]) -> dict[str, Any]:
    return content_holder.get("content", {}).get("application/json", {}).get("schema", {})


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


def untagged_releases(changelog: str, tags: set[str], current: str) -> list[str]:
    """What CHANGELOG.md says was released that no `v*` tag marks, one line each: the check compares with tags, so
    a release without its tag would leave its promises unchecked. The current version's own section may wait for its
    tag while it is being cut (its pull request: [Unreleased] then holds nothing); once notes gather after it, it
    was either released untagged or not released at all."""
    problems = []
    for release in artifacts.released_versions(changelog):
        if f"v{release}" in tags:
            continue
        if release != current:
            problems.append(f"CHANGELOG.md dates {release} as released, but no tag v{release} marks it")
        elif artifacts.unreleased_entries(changelog):
            problems.append(
                f"CHANGELOG.md has a section for the current version {release}, untagged, and notes under "
                "[Unreleased] after it"
            )
    return problems


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


def _is_version(tag: str) -> bool:
    try:
        version.parse(tag)
    except ValueError:
        return False
    return True


def main(arguments: list[str] | None = None) -> int:
    """`--before vX.Y.Z`: the release job, whose own tag is not the release to compare with."""
    arguments = sys.argv[1:] if arguments is None else arguments
    if arguments and (arguments[:1] != ["--before"] or len(arguments) != 2):
        print("usage: python -m release.compatibility [--before vMAJOR.MINOR.PATCH]")
        return 2
    before = arguments[1] if arguments else None
    if before is not None and not _is_version(before):
        print(f"--before {before}: not a release tag (vMAJOR.MINOR.PATCH); a release is tagged that way only")
        return 2
    if _git("rev-parse", "--is-shallow-repository").stdout.strip() == "true":  # its tags and history partial
        print("a shallow clone cannot say what was released: fetch the history and tags (fetch-depth: 0)")
        return 1
    tags = set(_git("tag", "--list", "v*").stdout.split())
    if untagged := untagged_releases(artifacts.CHANGELOG.read_text(), tags, version.current()):
        print("\n".join(untagged))
        print("tag each release's commit (git tag v<version> <commit>), or move its notes back under [Unreleased]")
        return 1
    released = last_release(before=before)
    ok, lines = verdict(version.current(), released, json.loads((ROOT / DOCUMENT).read_text()))
    print("\n".join(lines))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
