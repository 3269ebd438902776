"""The audit trail's tamper-evident archive (docs/audit.md): every change of the audit table, read from the table's
stream in the emulator and handed to `AuditArchiveFunction` as Lambda hands a stream on, is in the archive bucket
once, locked for the retention the template deploys; no one deletes or replaces it; a change no gateway code makes
is archived as it was and as it became and trips its alarm; a change the bucket refuses stops the batch there and
is archived, in order, when Lambda hands it on again; and the archive falling behind alarms long before the stream
drops a change."""

from __future__ import annotations

import base64
import datetime
import decimal
import json
from typing import Any
from urllib.parse import quote

import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError

from local.aws_resources import REGION
from local.functions import cold_start, invoke
from local.stream_poller import as_lambda_gives
from project import template as cfn
from tests.integration import test_rollback_drill
from tests.integration.test_metric_alarm_drills import assert_trips, own_metric_alarms
from tests.integration.test_rollback_drill import ENVIRONMENT, breaches, watched
from tests.support import emf
from tests.support.audit import call_as, records_of
from tests.support.aws_faults import AnswerBody
from tests.support.emf import log_lines

ARCHIVER = "AuditArchiveFunction"
CALLER = "arn:aws:sts::123456789012:assumed-role/onboarding-service/task-7"
TTL = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}  # how a stream marks DynamoDB's TTL deletions
STREAM_KEEPS_SECONDS = 24 * 3600  # DynamoDB keeps a stream record 24 hours

# The template as deployed, and a function's metric namespace and service name as deployed there
deployed = test_rollback_drill.deployed
as_deployed = test_rollback_drill.as_deployed


class Stream:
    """The audit table's stream in the emulator, from when the test began, as Lambda hands it to a function."""

    def __init__(self, aws: Any, physical_ids: dict[str, str]) -> None:
        # moto serves DynamoDB Streams at its classic endpoint only
        self._client = aws.client("dynamodbstreams", endpoint_url=f"https://streams.dynamodb.{REGION}.amazonaws.com")
        self.arn = physical_ids["AuditTable.StreamArn"]
        (shard,) = self._client.describe_stream(StreamArn=self.arn)["StreamDescription"]["Shards"]
        self._iterator = self._client.get_shard_iterator(
            StreamArn=self.arn, ShardId=shard["ShardId"], ShardIteratorType="LATEST"
        )["ShardIterator"]

    def changes(self) -> list[dict[str, Any]]:
        """The changes made since the last call, as Lambda's event records (its time in epoch seconds, its ARN)."""
        got = self._client.get_records(ShardIterator=self._iterator)
        self._iterator = got["NextShardIterator"]
        return [as_lambda_gives(record, self.arn) for record in got["Records"]]


@pytest.fixture
def stream(aws, physical_ids) -> Stream:
    return Stream(aws, physical_ids)


@pytest.fixture
def archive(sandboxed_gateway):
    def run(changes: list[dict[str, Any]]) -> list[str]:
        """Hand `changes` to the archive function as one batch; the sequence numbers it reports failed."""
        result = invoke(cfn.functions()[ARCHIVER], {"Records": changes})
        return [failure["itemIdentifier"] for failure in result["batchItemFailures"]]

    return run


def deployed_bucket(physical_ids: dict[str, str]) -> tuple[str, str, int]:
    """The archive bucket's name, and its Object Lock mode and days as the template deploys them by default."""
    bucket = cfn.resources()["AuditArchiveBucket"]["Properties"]
    retention = cfn.resolve(bucket["ObjectLockConfiguration"], cfn.parameter_values({"Environment": ENVIRONMENT}))
    default = retention["Rule"]["DefaultRetention"]
    return physical_ids["AuditArchiveBucket"], default["Mode"], int(default["Days"])


def versions(aws: Any, bucket: str, item: dict[str, Any]) -> list[dict[str, Any]]:
    """Every object version archived for one record (each change of it), by key."""
    prefix = f"records/{quote(item['fingerprint'], safe='')}/{quote(item['at'], safe='')}/"
    found = aws.client("s3").list_object_versions(Bucket=bucket, Prefix=prefix).get("Versions", [])
    return sorted(found, key=lambda version: version["Key"])


def archived(aws: Any, bucket: str, item: dict[str, Any]) -> list[dict[str, Any]]:
    """Every archived change of one record, oldest first, as JSON."""
    s3 = aws.client("s3")
    return [
        json.loads(s3.get_object(Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"])["Body"].read())
        for version in versions(aws, bucket, item)
    ]


def plain(item: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(item, default=lambda number: int(number) if number % 1 == 0 else float(number)))


def lookup(correlation_id: str) -> None:
    answer = call_as("CladfyKraPinFunction", {"pinnumber": "A004416331M"}, caller=CALLER, correlation_id=correlation_id)
    assert answer["statusCode"] == 200, answer["body"]


def test_each_record_written_is_archived_once_as_written_and_locked_for_the_retention(
    aws, physical_ids, stream, archive
):
    # Given a provider route's audit record, and the change the table's stream gives for it
    lookup("archive-written")
    (item,) = records_of(aws, physical_ids, "archive-written")
    changes = stream.changes()
    assert [change["eventName"] for change in changes] == ["INSERT"]

    # When the archive function gets it, twice (Lambda hands a batch on again after a failure)
    assert archive(changes) == []
    assert archive(changes) == []

    # Then the archive holds it once, as written, with when and what changed
    bucket, mode, days = deployed_bucket(physical_ids)
    (copy,) = archived(aws, bucket, item)
    assert copy["record"] == plain(item) and copy["keys"] == {"fingerprint": item["fingerprint"], "at": item["at"]}
    assert (copy["event"], copy["sequenceNumber"]) == ("INSERT", changes[0]["dynamodb"]["SequenceNumber"])
    assert copy["changedAt"].endswith("Z") and "before" not in copy
    # And locked as deployed: no one may remove or change it for the retention
    (key,) = [version["Key"] for version in versions(aws, bucket, item)]
    head = aws.client("s3").head_object(Bucket=bucket, Key=key)
    retained = head["ObjectLockRetainUntilDate"] - datetime.datetime.now(datetime.UTC)
    assert head["ObjectLockMode"] == mode == "COMPLIANCE"
    assert datetime.timedelta(days=days - 1) < retained <= datetime.timedelta(days=days)


def test_no_one_can_delete_or_replace_an_archived_record(aws, physical_ids, stream, archive):
    # Given an archived record
    lookup("archive-locked")
    (item,) = records_of(aws, physical_ids, "archive-locked")
    assert archive(stream.changes()) == []
    bucket, _, _ = deployed_bucket(physical_ids)
    s3 = aws.client("s3")
    (version,) = versions(aws, bucket, item)

    # When anyone deletes that version, even bypassing governance, Then the lock refuses it
    for bypass in (False, True):
        with pytest.raises(ClientError, match="AccessDenied"):
            s3.delete_object(
                Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"], BypassGovernanceRetention=bypass
            )
    # And writing over it leaves the archived version as it was
    s3.put_object(Bucket=bucket, Key=version["Key"], Body=b"{}")
    kept = s3.get_object(Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"])
    assert json.loads(kept["Body"].read())["record"] == plain(item)


def test_a_record_changed_or_removed_by_hand_is_archived_as_it_was_and_trips_its_alarm(
    aws, physical_ids, stream, archive, deployed, as_deployed, logs
):
    # Given two archived records, and the alarm as deployed
    alarm = own_metric_alarms(deployed)["AuditRecordsChangedAlarm"]
    lookup("archive-changed-1")
    lookup("archive-changed-2")
    changed, removed = records_of(aws, physical_ids, "archive-changed-1") + records_of(
        aws, physical_ids, "archive-changed-2"
    )
    assert archive(stream.changes()) == []
    as_deployed(ARCHIVER)
    logs()

    # When a role that may put items writes over one, and something deletes the other (not TTL)
    table = aws.resource("dynamodb").Table(physical_ids["AuditTable"])
    table.put_item(Item={**changed, "status": 403, "code": "forbidden"})
    table.delete_item(Key={"fingerprint": removed["fingerprint"], "at": removed["at"]})
    changes = stream.changes()
    assert [change["eventName"] for change in changes] == ["MODIFY", "REMOVE"]
    assert archive(changes) == []

    # Then the archive holds each as it was and as it became, beside its first copy
    first, modified = archived(aws, physical_ids["AuditArchiveBucket"], changed)
    assert first["record"] == modified["before"] == plain(changed)
    assert (modified["event"], modified["record"]["status"]) == ("MODIFY", 403)
    _, deleted = archived(aws, physical_ids["AuditArchiveBucket"], removed)
    assert (deleted["event"], deleted["before"]) == ("REMOVE", plain(removed)) and "removedBy" not in deleted
    # And each is logged by its event and keys and counted on the series the alarm watches, which fires
    written = logs()
    logged = [(line["event"], line["fingerprint"], line["at"]) for line in log_lines(written, "audit record changed")]
    assert logged == [
        (event, item["fingerprint"], item["at"]) for event, item in (("MODIFY", changed), ("REMOVE", removed))
    ]
    assert_trips(alarm, written, 2)


def test_a_removal_by_ttl_is_archived_as_its_keys_only_and_alarms_nothing(
    aws, physical_ids, stream, archive, as_deployed, logs
):
    # Given an archived record whose time is up, removed by DynamoDB's TTL (the stream marks it as TTL's)
    lookup("archive-expired")
    (item,) = records_of(aws, physical_ids, "archive-expired")
    assert archive(stream.changes()) == []
    aws.resource("dynamodb").Table(physical_ids["AuditTable"]).delete_item(
        Key={"fingerprint": item["fingerprint"], "at": item["at"]}
    )
    (removal,) = stream.changes()
    as_deployed(ARCHIVER)
    logs()

    # When the archive function gets the removal
    assert archive([{**removal, "userIdentity": TTL}]) == []

    # Then it is archived as keys and TTL's mark, the record itself kept only in its first copy, and nothing counted
    _, copy = archived(aws, physical_ids["AuditArchiveBucket"], item)
    assert copy["removedBy"] == "ttl" and "before" not in copy and "record" not in copy
    assert not [metric for metric in emf.metrics(logs()) if metric.name == "AuditRecordsChanged"]


def refuse_puts_of(sequence_numbers: set[str]) -> None:
    """The instance's S3 client has PutObject of these changes refused (403 AccessDenied, as a bucket or key policy
    that no longer admits the role would): the rest go to the emulator."""
    from kyc_gateway import aws

    def answer(request: Any, **_: Any) -> Any:
        if not any(f"/{number.zfill(40)}.json" in request.url for number in sequence_numbers):
            return None
        body = b"<?xml version='1.0' encoding='UTF-8'?><Error><Code>AccessDenied</Code><Message>no</Message></Error>"
        request.url = "https://fault.invalid/"  # the emulator's own before-send hook (after this one) leaves it
        return AWSResponse(request.url, 403, {"Content-Type": "application/xml"}, AnswerBody(body))

    aws.quick_client("s3").meta.events.register_first("before-send", answer)


def test_a_change_the_bucket_refuses_stops_the_batch_there_and_nothing_is_skipped(
    aws, physical_ids, stream, archive, as_deployed, logs
):
    # Given three records' changes, the second of which the bucket refuses
    for number in (1, 2, 3):
        lookup(f"archive-refused-{number}")
    items = [records_of(aws, physical_ids, f"archive-refused-{number}")[0] for number in (1, 2, 3)]
    changes = stream.changes()
    sequence = [change["dynamodb"]["SequenceNumber"] for change in changes]
    as_deployed(ARCHIVER)
    assert archive([]) == []  # the instance's clients made, before the fault is set on them
    refuse_puts_of({sequence[1]})
    logs()

    # When the batch comes, Then the function reports the refused change, and archives nothing after it
    assert archive(changes) == [sequence[1]]
    bucket = physical_ids["AuditArchiveBucket"]
    assert [len(archived(aws, bucket, item)) for item in items] == [1, 0, 0]
    assert [m.name for m in emf.metrics(logs()) if m.name in ("RecordFailures", "GatewayFaults")] == [
        "RecordFailures",
        "GatewayFaults",
    ]

    # When the bucket takes it again (a new instance: new clients) and Lambda hands the stream on from the refused
    # change, Then every change is archived once, none skipped
    cold_start()
    assert archive(changes[1:]) == []
    assert [len(archived(aws, bucket, item)) for item in items] == [1, 1, 1]


def test_the_archive_falling_behind_alarms_hours_before_the_stream_drops_a_change(deployed):
    # Given the archive's event source and its alarm, as deployed
    (mapping,) = [
        resource["Properties"]
        for resource in deployed["Resources"].values()
        if resource["Type"] == "AWS::Lambda::EventSourceMapping"
        and resource["Properties"]["FunctionName"] == {"Ref": f"{ARCHIVER}Aliaslive"}
    ]
    alarm = deployed["Resources"]["AuditArchiveBehindAlarm"]["Properties"]

    # Then it reads the audit table's stream from its oldest change, retries a failed change without end (never
    # skipping it), and is told which change failed
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": ["AuditTable", "StreamArn"]}
    assert mapping["StartingPosition"] == "TRIM_HORIZON"
    assert (mapping["MaximumRetryAttempts"], mapping["MaximumRecordAgeInSeconds"]) == (-1, -1)
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    # And its alarm watches the age of the oldest change the live alias has not archived
    assert watched(alarm) == (
        "AWS/Lambda",
        "IteratorAge",
        {"FunctionName": {"Ref": ARCHIVER}, "Resource": {"Fn::Sub": f"${{{ARCHIVER}}}:live"}},
    )
    assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]

    # When a change fails from time 0, retried every minute (each retry reports the iterator's age in ms)
    period = alarm["Period"]

    def periods_until_alarm(stuck_from: int) -> int:
        ages: list[list[float]] = []
        for end in range(period, STREAM_KEEPS_SECONDS + period, period):
            ages.append(
                [1000.0 * (second - stuck_from) for second in range(end - period, end, 60) if second >= stuck_from]
            )
            if breaches(alarm, ages):
                return end
        return STREAM_KEEPS_SECONDS * 2

    # Then the alarm fires within two hours, leaving most of the stream's day to mend it
    assert periods_until_alarm(0) <= 2 * 3600
    # And a healthy archive, a few seconds behind, never fires it
    healthy = [[5000.0] * (period // 60) for _ in range(STREAM_KEEPS_SECONDS // period)]
    assert not breaches(alarm, healthy)


def test_a_records_changes_are_listed_in_the_streams_order_whatever_their_sequence_numbers_length():
    # Given two changes of one record whose sequence numbers (21 to 40 digits) differ in length
    from kyc_gateway.audit_archive import object_key

    def change(sequence: str) -> dict[str, Any]:
        keys = {"fingerprint": {"S": "f1"}, "at": {"S": "2026-12-05T00:00:00Z#c1"}}
        return {"eventName": "MODIFY", "dynamodb": {"Keys": keys, "SequenceNumber": sequence}}

    earlier, later = "9" * 21, "1" + "0" * 21

    # Then their objects list (S3 lists by key) in the stream's order
    assert sorted([object_key(change(later)), object_key(change(earlier))]) == [
        object_key(change(earlier)),
        object_key(change(later)),
    ]


def test_a_batch_too_long_for_the_invocation_stops_in_time_and_is_handed_on_from_the_next_change(
    aws, physical_ids, stream, sandboxed_gateway, monkeypatch
):
    # Given three changes, and an invocation with time for one put only before its margin
    from kyc_gateway import aws as clients
    from kyc_gateway import sqs
    from local.functions import LambdaContext, load_handler

    for number in (1, 2, 3):
        lookup(f"archive-late-{number}")
    items = [records_of(aws, physical_ids, f"archive-late-{number}")[0] for number in (1, 2, 3)]
    changes = stream.changes()
    left = {"ms": 30_000}
    monkeypatch.setattr(LambdaContext, "get_remaining_time_in_millis", lambda self: left["ms"])

    def first_put_done(**_: Any) -> None:
        left["ms"] = sqs.STREAM_TIME_MARGIN_SECONDS * 1000 - 1

    clients.quick_client("s3").meta.events.register("after-call.s3.PutObject", first_put_done)

    # When the batch comes
    result = load_handler(cfn.functions()[ARCHIVER])({"Records": changes}, LambdaContext(function_name=ARCHIVER))

    # Then it archives the first, and hands the stream on from the second, which has not failed
    assert result == {"batchItemFailures": [{"itemIdentifier": changes[1]["dynamodb"]["SequenceNumber"]}]}
    bucket = physical_ids["AuditArchiveBucket"]
    assert [len(archived(aws, bucket, item)) for item in items] == [1, 0, 0]


def test_a_record_written_by_hand_of_any_type_and_key_is_archived_as_it_is(aws, physical_ids, stream, archive):
    # Given an item written to the audit table by hand (a role with PutItem may write anything): every DynamoDB type,
    # and a slash in its sort key
    from boto3.dynamodb.types import Binary

    item = {
        "fingerprint": "f-by-hand",
        "at": "2026-12-05T00:00:00Z#a/b",
        "ratio": decimal.Decimal("1.5"),
        "count": 3,
        "tags": {"b", "a"},
        "sizes": {3, 1},
        "blob": Binary(b"\x00\x01"),
        "blobs": {Binary(b"\x02"), Binary(b"\x01")},
        "flag": True,
        "nothing": None,
        "nested": {"list": [1, "x", {"deep": False}]},
    }
    aws.resource("dynamodb").Table(physical_ids["AuditTable"]).put_item(Item=item)
    (change,) = stream.changes()

    # When it is archived, as Lambda's JSON event gives it (binaries as base64 text, where boto3 gives bytes)
    as_json = json.loads(json.dumps(change, default=lambda raw: base64.b64encode(raw).decode()))
    assert archive([as_json]) == []

    # Then its object sits under its keys, the slash encoded, and holds it as written, in sorted JSON
    bucket, s3 = physical_ids["AuditArchiveBucket"], aws.client("s3")
    (version,) = versions(aws, bucket, item)
    assert "/2026-12-05T00%3A00%3A00Z%23a%2Fb/" in version["Key"]
    stored = s3.get_object(Bucket=bucket, Key=version["Key"])
    assert stored["ContentType"] == "application/json"
    text = stored["Body"].read().decode()
    copy = json.loads(text)
    assert text == json.dumps(copy, sort_keys=True)
    assert copy["eventId"] == change["eventID"]
    assert copy["record"] == {
        **item,
        "ratio": 1.5,
        "tags": ["a", "b"],
        "sizes": [1, 3],
        "blob": "AAE=",
        "blobs": ["AQ==", "Ag=="],
    }
