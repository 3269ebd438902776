"""CI/CD as written in .github: pull requests check openapi.json against the last release and run .ci/run; main
does the same, builds once, deploys dev, smoke-tests it, and deploys prod only behind its approval environment; a
`v*` tag publishes a release built by a read-only job. (make workflows checks their schema and runs zizmor's
audits.)"""

from __future__ import annotations

import re
import tomllib

import pytest
import yaml

from operations import smoke
from project import template as cfn

WORKFLOWS = cfn.ROOT / ".github" / "workflows"
PULL_REQUEST = yaml.safe_load((WORKFLOWS / "pull-request.yml").read_text())
MAIN = yaml.safe_load((WORKFLOWS / "main.yml").read_text())
RELEASE = yaml.safe_load((WORKFLOWS / "release.yml").read_text())
CHECKS = ["make compatibility", ".ci/run"]  # what every change is held to, in that order
SAMCONFIG = tomllib.loads((cfn.ROOT / "samconfig.toml").read_text())


def triggers(workflow: dict) -> dict:
    return workflow[True]  # PyYAML reads the key `on` as a boolean


def runs(job: dict) -> list[str]:
    return [step["run"] for step in job["steps"] if "run" in step]


def uses(job: dict) -> list[str]:
    return [step["uses"].split("@")[0] for step in job["steps"] if "uses" in step]


def test_every_action_is_pinned_by_commit_sha_with_its_version_named():
    references = re.findall(r"uses: (\S+)@(\S+)(.*)", "".join(p.read_text() for p in WORKFLOWS.glob("*.yml")))
    assert references
    pinned: dict[str, str] = {}
    for action, reference, comment in references:
        assert re.fullmatch(r"[0-9a-f]{40}", reference), action
        assert re.fullmatch(r" # v\d+\.\d+\.\d+", comment), action
        assert pinned.setdefault(action, reference) == reference, f"{action} pinned at two commits"


def test_pull_requests_run_what_ci_runs_with_read_only_rights():
    assert list(triggers(PULL_REQUEST)) == ["pull_request"]
    assert PULL_REQUEST["permissions"] == {}
    (job,) = PULL_REQUEST["jobs"].values()
    assert job["permissions"] == {"contents": "read"}
    assert runs(job) == CHECKS
    assert "make test" in (cfn.ROOT / ".ci" / "run").read_text()


@pytest.mark.parametrize("job", [next(iter(PULL_REQUEST["jobs"].values())), MAIN["jobs"]["build"]])
def test_the_compatibility_check_sees_the_release_tags(job):
    checkout = next(step for step in job["steps"] if step.get("uses", "").startswith("actions/checkout@"))
    assert checkout["with"]["fetch-depth"] == 0  # a shallow clone has no tags: the check would fail, not skip


def test_main_builds_once_and_deploys_that_build_to_dev_then_to_prod_after_approval():
    assert "push" in triggers(MAIN) and triggers(MAIN)["push"]["branches"] == ["main"]
    assert MAIN["permissions"] == {}
    assert MAIN["concurrency"]["cancel-in-progress"] is False
    build, dev, prod = (MAIN["jobs"][name] for name in ("build", "deploy-dev", "deploy-prod"))
    assert runs(build) == CHECKS and "actions/upload-artifact" in uses(build)
    assert "id-token" not in build["permissions"]
    assert dev["needs"] == "build" and prod["needs"] == "deploy-dev"
    assert (dev["environment"], prod["environment"]) == ("dev", "prod")


@pytest.mark.parametrize(("job", "environment"), [("deploy-dev", "dev"), ("deploy-prod", "prod")])
def test_each_deploy_assumes_its_environment_role_by_oidc_deploys_the_ci_profile_and_smoke_tests(job, environment):
    steps = MAIN["jobs"][job]
    assert steps["permissions"] == {"contents": "read", "id-token": "write"}
    assert uses(steps) == [
        "actions/checkout",
        "actions/setup-python",
        "actions/download-artifact",
        "aws-actions/configure-aws-credentials",
    ]
    credentials = next(s for s in steps["steps"] if s.get("uses", "").startswith("aws-actions/"))["with"]
    assert credentials["role-to-assume"] == "${{ vars.AWS_DEPLOY_ROLE_ARN }}"
    assert "aws-access-key-id" not in credentials  # no long-lived keys
    commands = runs(steps)
    assert commands[0].startswith(f"make deploy ENV=ci-{environment} ")
    assert commands[1] == f"make smoke ENV={environment}"
    # The region the role is assumed in is the one samconfig deploys to
    assert MAIN["env"]["AWS_REGION"] == SAMCONFIG[f"ci-{environment}"]["deploy"]["parameters"]["region"]


def test_dev_is_smoke_tested_with_valid_reads_and_prod_with_refusals_unless_given_test_identifiers(monkeypatch):
    monkeypatch.delenv(smoke.IDENTIFIERS_VARIABLE, raising=False)
    for job in ("deploy-dev", "deploy-prod"):
        (step,) = (step for step in MAIN["jobs"][job]["steps"] if step.get("run", "").startswith("make smoke"))
        assert step["env"]["SMOKE_IDENTIFIERS"] == "${{ secrets.SMOKE_IDENTIFIERS }}"  # the environment's, if set
    # smoke.toml gives dev test identifiers (so its smoke test sends valid reads), and prod none
    assert smoke.identifiers("dev") and smoke.identifiers("prod") == {}


def test_dependabot_updates_the_locks_and_the_actions():
    config = yaml.safe_load((cfn.ROOT / ".github" / "dependabot.yml").read_text())
    ecosystems = {update["package-ecosystem"]: update for update in config["updates"]}
    assert set(ecosystems["pip"]["directories"]) == {"/", "/layers/gateway"}
    assert "github-actions" in ecosystems


def test_mutation_testing_runs_weekly_and_on_demand_and_uploads_its_report():
    workflow = yaml.safe_load((WORKFLOWS / "mutation.yml").read_text())
    assert set(triggers(workflow)) == {"schedule", "workflow_dispatch"}
    assert workflow["permissions"] == {}
    (job,) = workflow["jobs"].values()
    assert job["permissions"] == {"contents": "read"}
    assert any(command.startswith("make mutation") for command in runs(job))
    (upload,) = [step for step in job["steps"] if step.get("uses", "").startswith("actions/upload-artifact@")]
    assert upload["if"] == "always()" and ".mutation/report.md" in upload["with"]["path"]


def test_a_version_tag_publishes_what_a_read_only_job_tested_and_built():
    assert triggers(RELEASE) == {"push": {"tags": ["v*"]}}
    assert RELEASE["permissions"] == {}
    build, publish = RELEASE["jobs"]["build"], RELEASE["jobs"]["publish"]
    assert build["permissions"] == {"contents": "read"}
    assert runs(build) == ['make compatibility BEFORE="$TAG"', ".ci/run", 'make dist TAG="$TAG"']
    for command in ("make compatibility", "make dist"):
        step = next(step for step in build["steps"] if step.get("run", "").startswith(command))
        assert step["env"]["TAG"] == "${{ github.ref_name }}", command  # the tag names the version released
    # the compatibility check reads the release before the tag from the tags: the whole history is checked out
    checkout = next(step for step in build["steps"] if step.get("uses", "").startswith("actions/checkout"))
    assert checkout["with"]["fetch-depth"] == 0
    # only the publishing job may write, and it runs nothing of the repository: it attaches what the build made
    assert publish["needs"] == "build" and publish["permissions"] == {"contents": "write"}
    assert uses(publish) == ["actions/download-artifact"]
    (command,) = runs(publish)
    assert command.startswith('gh release create "$TAG"') and "--notes-file dist/release-notes.md" in command
    assert "dist/kyc_gateway_client-*" in command and "dist/kyc-gateway-*" in command
