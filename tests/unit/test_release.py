"""Releases: the version every release artefact carries, and the release's text and bundle (the compatibility
check against the last release: test_compatibility.py)."""

from __future__ import annotations

import zipfile

import pytest

from generators import openapi
from release import artifacts, compatibility, version


def test_the_api_and_the_client_carry_one_version_and_the_changelog_no_release_without_its_tag():
    current = version.current()
    assert version.parse(current)
    assert openapi.build()["info"]["version"] == current
    changelog = artifacts.CHANGELOG.read_text()
    tags = set(compatibility._git("tag", "--list", "v*").stdout.split())
    assert compatibility.untagged_releases(changelog, tags, current) == []
    # the current version has its notes: under its own heading, or still under [Unreleased] (not yet released)
    assert current in artifacts.released_versions(changelog) or artifacts.unreleased_entries(changelog)


def test_a_release_text_is_its_changelog_section():
    changelog = "# Changelog\n\n## [Unreleased]\n\n## [1.1.0] - 2027-01-02\n\n### Added\n\n- b\n\n## [1.0.0]\n\n- a\n"

    assert artifacts.changelog_section(changelog, "1.1.0") == "### Added\n\n- b\n"
    assert artifacts.changelog_section(changelog, "1.0.0") == "- a\n"
    with pytest.raises(SystemExit, match=r"no section ## \[1.2.0\]"):
        artifacts.changelog_section(changelog, "1.2.0")
    with pytest.raises(SystemExit, match="empty"):
        artifacts.changelog_section(changelog, "Unreleased")


def test_a_release_leaves_nothing_unreleased():
    released = "# Changelog\n\n## [Unreleased]\n\n## [1.1.0] - 2027-01-02\n\n- b\n"
    artifacts.check_nothing_unreleased(released)
    artifacts.check_nothing_unreleased("# Changelog\n\n## [1.1.0] - 2027-01-02\n\n- b\n")
    artifacts.check_nothing_unreleased(
        "# Changelog\n\n## [Unreleased]\n\n### Added\n\n### Fixed\n\n## [1.1.0]\n\n- b\n"
    )

    forgotten = "# Changelog\n\n## [Unreleased]\n\n### Fixed\n\n- c\n- d\n\n## [1.1.0] - 2027-01-02\n\n- b\n"
    with pytest.raises(SystemExit, match=r"\[Unreleased\] section still holds 2 entries"):
        artifacts.check_nothing_unreleased(forgotten)


def test_a_tag_must_name_the_version():
    artifacts.check_tag("v1.2.3", "1.2.3")
    with pytest.raises(SystemExit, match=r"tag v1\.2\.3$"):
        artifacts.check_tag("v1.2.4", "1.2.3")


def test_the_bundle_holds_the_build_and_samconfig_and_zips_to_the_same_bytes(tmp_path):
    # Given a build (template and a function) and samconfig.toml
    built = tmp_path / "build"
    (built / "CladfyKraPinFunction").mkdir(parents=True)
    (built / "template.yaml").write_text("Resources: {}\n")
    (built / "CladfyKraPinFunction" / "app.py").write_text("lambda_handler = None\n")
    samconfig = tmp_path / "samconfig.toml"
    samconfig.write_text("version = 0.1\n")

    # When it is bundled twice
    first = artifacts.bundle(built, [samconfig], tmp_path / "first.zip")
    second = artifacts.bundle(built, [samconfig], tmp_path / "second.zip")

    # Then the bundle holds the built template at its top, the code and samconfig.toml, and is reproducible
    with zipfile.ZipFile(first) as archive:
        assert archive.namelist() == ["CladfyKraPinFunction/app.py", "template.yaml", "samconfig.toml"]
        assert archive.read("template.yaml") == b"Resources: {}\n"
    assert first.read_bytes() == second.read_bytes()


def test_nothing_built_is_nothing_to_bundle(tmp_path):
    with pytest.raises(SystemExit, match="make build"):
        artifacts.bundle(tmp_path, [], tmp_path / "bundle.zip")
