"""`make dist` as a release runs it: from a build, the caller kit's sdist and wheel (built offline with the lock's
setuptools), the bundle, openapi.json and the release's text, all at the release's version."""

from __future__ import annotations

import json
import tarfile
import zipfile

import pytest

from release import artifacts, version


def test_a_release_writes_the_client_the_bundle_the_document_and_its_text(tmp_path, monkeypatch):
    # Given a build, and dist/ in a place of this test's own
    built = tmp_path / "build"
    (built / "GatewayLayer" / "python" / "kyc_gateway").mkdir(parents=True)
    (built / "template.yaml").write_text("Resources: {}\n")
    (built / "GatewayLayer" / "python" / "kyc_gateway" / "__init__.py").write_text("")
    monkeypatch.setattr(artifacts, "BUILT", built)
    monkeypatch.setattr(artifacts, "DIST", tmp_path / "dist")
    current = version.current()
    changelog = tmp_path / "CHANGELOG.md"  # as a release commit has it: its notes under its version
    changelog.write_text(f"# Changelog\n\n## [Unreleased]\n\n## [{current}] - 2027-01-02\n\n### Added\n\n- a\n")
    monkeypatch.setattr(artifacts, "CHANGELOG", changelog)

    # When the release's files are written for its tag
    assert artifacts.main(["--tag", f"v{current}"]) == 0

    # Then dist/ holds the client's sdist and wheel at the version, the bundle, openapi.json and the notes
    dist = tmp_path / "dist"
    assert sorted(path.name for path in dist.iterdir()) == [
        f"kyc-gateway-{current}-bundle.zip",
        f"kyc-gateway-{current}-openapi.json",
        f"kyc_gateway_client-{current}-py3-none-any.whl",
        f"kyc_gateway_client-{current}.tar.gz",
        "release-notes.md",
    ]
    with zipfile.ZipFile(dist / f"kyc_gateway_client-{current}-py3-none-any.whl") as wheel:
        names = wheel.namelist()
        metadata = wheel.read(f"kyc_gateway_client-{current}.dist-info/METADATA").decode()
    assert {"kyc_gateway_client/answers.py", "kyc_gateway_client/models.py", "kyc_gateway_client/py.typed"} <= set(
        names
    )
    assert f"\nVersion: {current}\n" in metadata
    assert "\nClassifier: Typing :: Typed\n" in metadata  # type checkers and indexes know it ships its types
    with tarfile.open(dist / f"kyc_gateway_client-{current}.tar.gz") as sdist:
        assert f"kyc_gateway_client-{current}/src/kyc_gateway_client/answers.py" in sdist.getnames()
    with zipfile.ZipFile(dist / f"kyc-gateway-{current}-bundle.zip") as bundle:
        assert {"template.yaml", "samconfig.toml", "GatewayLayer/python/kyc_gateway/__init__.py"} == set(
            bundle.namelist()
        )
    assert json.loads((dist / f"kyc-gateway-{current}-openapi.json").read_text())["info"]["version"] == current
    assert (dist / "release-notes.md").read_text() == "### Added\n\n- a\n"


def test_a_tag_that_does_not_name_the_version_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(artifacts, "DIST", tmp_path / "dist")

    with pytest.raises(SystemExit, match="does not name the version"):
        artifacts.main(["--tag", "v0.0.1"])

    assert not (tmp_path / "dist").exists()


def test_a_tag_with_notes_left_unreleased_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(artifacts, "DIST", tmp_path / "dist")
    current = version.current()
    changelog = tmp_path / "CHANGELOG.md"
    changelog.write_text(f"# Changelog\n\n## [Unreleased]\n\n- new\n\n## [{current}] - 2027-01-02\n\n- a\n")
    monkeypatch.setattr(artifacts, "CHANGELOG", changelog)

    with pytest.raises(SystemExit, match=r"\[Unreleased\] section still holds"):
        artifacts.main(["--tag", f"v{current}"])

    assert not (tmp_path / "dist").exists()
