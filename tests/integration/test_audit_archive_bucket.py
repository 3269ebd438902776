"""The audit archive bucket as deployed (the transformed template), beyond its Object Lock: its policy evaluated as S3
evaluates a bucket policy's denials, whatever IAM grants elsewhere in the account (an admin, a break-glass role):
only the archive function writes, never over an object, no one deletes one, nothing travels in plain HTTP; and its
lifecycle removes a version only once its lock has ended."""

from __future__ import annotations

import fnmatch
import re
from typing import Any

import pytest

from project import template as cfn
from tests.integration.test_codedeploy_role import allows, listed
from tests.integration.test_deployed_template import transformed

ACCOUNT_ROLE = "arn:aws:iam::123456789012:role/{}"
BUCKET = "kyc-gateway-dev-audit-archive-123456789012-us-east-1"
KEY = f"arn:aws:s3:::{BUCKET}/records/f1/2026-12-05T00%3A00%3A00Z%23c1/0000000000000000001100000000017454423009.json"


@pytest.fixture(scope="module")
def deployed() -> dict:
    return transformed("dev")


def values(deployed: dict) -> dict[str, str]:
    found = cfn.parameter_values({"Environment": "dev"}, deployed)
    return found | {
        "AuditArchiveBucket": BUCKET,
        "AuditArchiveBucket.Arn": f"arn:aws:s3:::{BUCKET}",
        "AuditArchiveFunctionRole.Arn": ACCOUNT_ROLE.format("kyc-gateway-dev-AuditArchiveFunctionRole-AbC"),
        "DataKey.Arn": "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    }


def denied_by(deployed: dict) -> Any:
    """`denied(principal, action, resource, **context)`: whether one of the bucket policy's statements denies the
    request. Condition operators it does not know fail the test rather than pass the request."""
    (policy,) = [r for r in deployed["Resources"].values() if r["Type"] == "AWS::S3::BucketPolicy"]
    assert policy["Properties"]["Bucket"] == {"Ref": "AuditArchiveBucket"}
    statements = cfn.resolve(policy["Properties"]["PolicyDocument"]["Statement"], values(deployed), deployed)
    assert all(statement["Effect"] == "Deny" and statement["Principal"] == "*" for statement in statements)

    def matches(patterns: Any, value: str) -> bool:
        listed = patterns if isinstance(patterns, list) else [patterns]
        return any(fnmatch.fnmatchcase(value.lower(), pattern.lower()) for pattern in listed)

    def holds(condition: dict[str, dict[str, Any]], context: dict[str, Any]) -> bool:
        for operator, tests in condition.items():
            for key, expected in tests.items():
                given = context.get(key)
                if operator == "Bool":
                    held = given is not None and str(given).lower() == str(expected).lower()
                elif operator == "ArnNotEquals":
                    held = given is None or given != expected
                elif operator == "Null":
                    held = (given is None) == (str(expected).lower() == "true")
                else:
                    pytest.fail(f"the bucket policy uses {operator}, which this evaluation does not know")
                if not held:
                    return False
        return True

    def denied(principal: str, action: str, resource: str, **context: Any) -> bool:
        context = {"aws:PrincipalArn": principal, "aws:SecureTransport": True} | context
        return any(
            matches(statement["Action"], action)
            and matches(statement["Resource"], resource)
            and holds(statement.get("Condition") or {}, context)
            for statement in statements
        )

    return denied


def test_only_the_archive_function_writes_and_never_over_an_object(deployed):
    denied = denied_by(deployed)
    archiver = values(deployed)["AuditArchiveFunctionRole.Arn"]
    admin = ACCOUNT_ROLE.format("platform-admin")
    # The archive function's conditional put (If-None-Match: *) over TLS is the one write allowed
    assert not denied(archiver, "s3:PutObject", KEY, **{"s3:if-none-match": "*"})
    # Not without the condition (it would replace what a reader sees), and not by anyone else, however admitted
    assert denied(archiver, "s3:PutObject", KEY)
    assert denied(admin, "s3:PutObject", KEY, **{"s3:if-none-match": "*"})
    assert denied(ACCOUNT_ROLE.format("kyc-gateway-dev-CladfyKraPinFunctionRole-X"), "s3:PutObject", KEY)
    # And plain HTTP not at all
    assert denied(archiver, "s3:PutObject", KEY, **{"s3:if-none-match": "*", "aws:SecureTransport": False})


@pytest.mark.parametrize("action", ["s3:DeleteObject", "s3:DeleteObjectVersion"])
def test_no_one_deletes_an_archived_record_not_even_a_plain_delete_that_only_hides_it(deployed, action):
    denied = denied_by(deployed)
    for role in ("platform-admin", "kyc-gateway-dev-AuditArchiveFunctionRole-AbC", "compliance-auditor"):
        assert denied(ACCOUNT_ROLE.format(role), action, KEY), role


def test_a_compliance_role_reads_it_over_tls_only(deployed):
    denied = denied_by(deployed)
    auditor = ACCOUNT_ROLE.format("compliance-auditor")
    assert not denied(auditor, "s3:GetObject", KEY) and not denied(auditor, "s3:ListBucketVersions", KEY)
    assert denied(auditor, "s3:GetObject", KEY, **{"aws:SecureTransport": False})


def test_the_lifecycle_removes_a_version_only_once_its_lock_has_ended(deployed):
    # Given the bucket's Object Lock and lifecycle, for any retention the parameter allows
    bucket = deployed["Resources"]["AuditArchiveBucket"]["Properties"]
    parameter = deployed["Parameters"]["AuditRetentionDays"]
    for days in (parameter["MinValue"], parameter["Default"], parameter["MaxValue"]):
        resolved = cfn.resolve(bucket, values(deployed) | {"AuditRetentionDays": days}, deployed)
        locked = resolved["ObjectLockConfiguration"]["Rule"]["DefaultRetention"]
        assert locked["Mode"] == "COMPLIANCE" and int(locked["Days"]) == days
        assert resolved["VersioningConfiguration"] == {"Status": "Enabled"}
        # Then each rule expires the current version no sooner than its lock ends (a delete marker, which would hide
        # it, only then), and removes a version only after that (S3 never removes a locked version early)
        for rule in resolved["LifecycleConfiguration"]["Rules"]:
            assert rule["Status"] == "Enabled"
            assert "ExpirationDate" not in rule and "Prefix" not in rule and "TagFilters" not in rule
            assert int(rule.get("ExpirationInDays", days)) >= days, rule
            assert "Transitions" not in rule and "NoncurrentVersionTransitions" not in rule
        assert {rule.get("ExpirationInDays") for rule in resolved["LifecycleConfiguration"]["Rules"]} == {days}


# What each `aws s3api` command the archive's runbooks give compliance readers needs (S3's API reference:
# ListObjectVersions needs s3:ListBucketVersions, and GetObject of a version s3:GetObjectVersion, not s3:GetObject)
READS = {
    "list-object-versions": ("s3:ListBucketVersions", f"arn:aws:s3:::{BUCKET}"),
    "list-objects-v2": ("s3:ListBucket", f"arn:aws:s3:::{BUCKET}"),
    "get-object": ("s3:GetObject", KEY),
    "get-object --version-id": ("s3:GetObjectVersion", KEY),
}


def archive_reads_in_the_runbooks() -> set[str]:
    """The `aws s3api` commands on the archive bucket that docs/ give compliance readers."""
    found = set()
    for doc in (cfn.ROOT / "docs").glob("*.md"):
        for command, rest in re.findall(
            r"aws s3api ([a-z0-9-]+) --bucket <AuditArchiveBucketName>([^\n]*)", doc.read_text()
        ):
            found.add(f"{command} --version-id" if "--version-id" in rest else command)
    return found


def test_the_archive_readers_policy_runs_every_read_of_the_runbooks_and_writes_nothing(deployed):
    # Given the managed policy the stack gives compliance roles that read the archive, as deployed
    assert deployed["Outputs"]["AuditArchiveReadPolicyArn"]["Value"] == {"Ref": "AuditArchiveReadPolicy"}
    document = deployed["Resources"]["AuditArchiveReadPolicy"]["Properties"]["PolicyDocument"]
    statements = cfn.resolve(document["Statement"], values(deployed), deployed)
    auditor = ACCOUNT_ROLE.format("compliance-auditor")

    # (the decrypt's condition is checked on its own below: IAM's evaluation here models none)
    allowed = allows([statement for statement in statements if "Condition" not in statement])

    # When a compliance role holding it runs the reads the tamper check and the AuditRecordsChanged runbook give
    reads = archive_reads_in_the_runbooks()
    assert {"list-object-versions", "get-object --version-id"} <= reads <= set(READS)

    # Then each is allowed by the policy and denied by no statement of the bucket's
    for read in reads:
        action, resource = READS[read]
        assert allowed(action, resource), read
        assert not denied_by(deployed)(auditor, action, resource), read
    # and the objects it reads can be decrypted, through S3 only
    (decrypt,) = [statement for statement in statements if statement["Action"] == "kms:Decrypt"]
    assert decrypt["Resource"] == values(deployed)["DataKey.Arn"]
    assert decrypt["Condition"] == {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}
    # and nothing it allows writes, deletes, or changes a lock or a policy
    actions = [action for statement in statements for action in listed(statement["Action"])]
    assert all(re.fullmatch(r"s3:(List|Get)[A-Za-z]+|kms:Decrypt", action) for action in actions), actions
