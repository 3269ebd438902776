"""Releases: the version, the artefacts a `v*` tag publishes (release/artifacts.py), and the check that openapi.json
breaks nothing the last release promised unless the major version says so (release/compatibility.py).
docs/releases.md says how to cut one."""
