"""What a release publishes (.github/workflows/release.yml), written to dist/ by `make dist` after `make build`:

- the caller kit's sdist and wheel (`kyc_gateway_client-<version>.tar.gz`, `...-py3-none-any.whl`), built by uv
  with this venv's setuptools (the lock's), offline, the wheel from the sdist;
- the deployable bundle `kyc-gateway-<version>-bundle.zip`: `make build`'s output (the built template.yaml, each
  function's code, the layer with its locked packages, slimmed and compiled) with samconfig.toml beside it, so that
  `sam deploy --config-env <env>` run in the unzipped folder deploys it (SAM uploads the code itself: no `sam
  package`);
- `kyc-gateway-<version>-openapi.json`, for clients of other languages;
- `release-notes.md`: CHANGELOG.md's section of the version, the release's text.

With `--tag vX.Y.Z` the tag must name the version (release/version.py), and CHANGELOG.md's `[Unreleased]` section
must be empty: notes left there would be released under no version's text.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from project import ROOT
from release import version

DIST = ROOT / "dist"
BUILT = ROOT / ".aws-sam" / "build"
CHANGELOG = ROOT / "CHANGELOG.md"
NOTES = "release-notes.md"
_RELEASE_HEADING = re.compile(r"^## \[(\d+\.\d+\.\d+)\]", re.MULTILINE)
_EPOCH = (1980, 1, 1, 0, 0, 0)  # every entry's time in the bundle: the same build zips to the same bytes


def changelog_section(changelog: str, release: str) -> str:
    """The body of the `## [<release>]` section (Keep a Changelog), up to the next `## ` heading."""
    lines = changelog.splitlines()
    start = next((n for n, line in enumerate(lines) if line.startswith(f"## [{release}]")), None)
    if start is None:
        raise SystemExit(f"CHANGELOG.md has no section ## [{release}]: add one before releasing")
    end = next((n for n in range(start + 1, len(lines)) if lines[n].startswith("## ")), len(lines))
    body = "\n".join(lines[start + 1 : end]).strip()
    if not body:
        raise SystemExit(f"CHANGELOG.md's section [{release}] is empty")
    return body + "\n"


def unreleased_entries(changelog: str) -> int:
    """How many entries `[Unreleased]` holds (empty `### Added`-style headings are none; so is no such section)."""
    try:
        left = changelog_section(changelog, "Unreleased")
    except SystemExit:  # no such section, or an empty one
        return 0
    return sum(line.startswith(("- ", "* ")) for line in left.splitlines())


def released_versions(changelog: str) -> list[str]:
    """The versions with a section of their own (`## [1.2.0] - 2027-01-02`), newest first as written."""
    return [match.group(1) for match in _RELEASE_HEADING.finditer(changelog)]


def check_nothing_unreleased(changelog: str) -> None:
    """A release's notes were moved under its version: `[Unreleased]` holds no entry, or is gone."""
    if entries := unreleased_entries(changelog):
        raise SystemExit(
            f"CHANGELOG.md's [Unreleased] section still holds {entries} entries: move them under the release's "
            "## [<version>] heading (they would be in no release's text)"
        )


def check_tag(tag: str, release: str) -> None:
    if tag != f"v{release}":
        raise SystemExit(f"the tag {tag} does not name the version {release} (release/version.py): tag v{release}")


def bundle(built: Path, extras: list[Path], target: Path) -> Path:
    """`built`'s files (paths relative to it) and `extras` at the top, sorted, with fixed times and their modes."""
    if not (built / "template.yaml").is_file():
        raise SystemExit(f"{built} holds no built template: run make build first")
    files = sorted((path.relative_to(built).as_posix(), path) for path in built.rglob("*") if path.is_file())
    files += [(extra.name, extra) for extra in extras]
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, path in files:
            entry = zipfile.ZipInfo(name, _EPOCH)
            entry.external_attr = (path.stat().st_mode & 0xFFFF) << 16  # the file type and permissions
            entry.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(entry, path.read_bytes())
    return target


def client_distributions(target: Path) -> list[Path]:
    """The caller kit's sdist and wheel, built without reaching an index, from a copy of its sources (a build
    leaves its egg-info beside them, and one left by an earlier build must not find its way into the sdist)."""
    uv = Path(sys.executable).with_name("uv")
    with tempfile.TemporaryDirectory() as scratch:
        source = Path(scratch) / "client"
        ignored = shutil.ignore_patterns("build", "dist", "*.egg-info", "__pycache__")
        shutil.copytree(ROOT / "clients" / "python", source, ignore=ignored)
        subprocess.run(  # noqa: S603 - the lock's uv on our own package
            [str(uv), "build", "--offline", "--no-build-isolation", "--python", sys.executable, "--out-dir",
             str(target), str(source)],
            check=True,
        )  # fmt: skip
    (target / ".gitignore").unlink(missing_ok=True)  # uv's, for an out-dir inside a repository
    return sorted(target.glob("kyc_gateway_client-*"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write a release's files to dist/ (after make build).")
    parser.add_argument("--tag", help="the release's tag, vMAJOR.MINOR.PATCH: must name the version")
    arguments = parser.parse_args(argv)
    release = version.current()
    changelog = CHANGELOG.read_text()
    if arguments.tag is not None:
        check_tag(arguments.tag, release)
        check_nothing_unreleased(changelog)
    notes = changelog_section(changelog, release)
    shutil.rmtree(DIST, ignore_errors=True)
    DIST.mkdir()
    written = [
        *client_distributions(DIST),
        bundle(BUILT, [ROOT / "samconfig.toml"], DIST / f"kyc-gateway-{release}-bundle.zip"),
        Path(shutil.copyfile(ROOT / "openapi.json", DIST / f"kyc-gateway-{release}-openapi.json")),
    ]
    (DIST / NOTES).write_text(notes)
    for path in [*written, DIST / NOTES]:
        print(f"{path.relative_to(DIST.parent)}  {path.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
