"""`make redrive` against deployed SQS, whose message-move task moto lacks: a double that plays SQS's documented
StartMessageMoveTask / ListMessageMoveTasks answers. (The receive/send/delete path runs on the local stack's
emulator in tests/e2e.)"""

from __future__ import annotations

import re

import pytest
from botocore.exceptions import ClientError

from operations import redrive


class MoveTaskSqs:
    """A dead-letter queue holding `waiting` messages; the move task reports `statuses` one poll at a time."""

    def __init__(self, waiting: int, statuses: list[str], *, supported: bool = True, in_flight: int = 0) -> None:
        self.waiting, self.statuses, self.supported, self.in_flight = waiting, list(statuses), supported, in_flight
        self.started: list[dict] = []

    def get_queue_url(self, **request) -> dict:
        return {"QueueUrl": f"https://sqs/{request['QueueName']}"}

    def get_queue_attributes(self, **request) -> dict:
        if request["AttributeNames"] == ["QueueArn"]:
            return {"Attributes": {"QueueArn": request["QueueUrl"].replace("https://sqs/", "arn:aws:sqs:us-east-1:1:")}}
        return {
            "Attributes": {
                "ApproximateNumberOfMessages": str(self.waiting),
                "ApproximateNumberOfMessagesNotVisible": str(self.in_flight),
            }
        }

    def start_message_move_task(self, **request) -> dict:
        if not self.supported:
            raise ClientError({"Error": {"Code": "UnsupportedOperation", "Message": "no"}}, "StartMessageMoveTask")
        self.started.append(request)
        return {"TaskHandle": "task-1"}

    def list_message_move_tasks(self, **request) -> dict:
        status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        task = {"Status": status, "ApproximateNumberOfMessagesMoved": self.waiting if status == "COMPLETED" else 1}
        if status == "FAILED":
            task["FailureReason"] = "AccessDenied"
        return {"Results": [task]}

    def receive_message(self, **request) -> dict:
        return {"Messages": []}


def test_given_dead_letters_the_move_task_moves_them_back_to_their_own_queue_and_waits_for_it():
    sqs = MoveTaskSqs(3, ["RUNNING", "RUNNING", "COMPLETED"])
    assert redrive.redrive(sqs, "dev", by_hand=False, poll_seconds=0) == 3
    assert sqs.started == [
        {
            "SourceArn": "arn:aws:sqs:us-east-1:1:kyc-gateway-dev-connectfi-webhooks-dlq",
            "DestinationArn": "arn:aws:sqs:us-east-1:1:kyc-gateway-dev-connectfi-webhooks",
        }
    ]


def test_given_an_empty_dead_letter_queue_no_task_is_started():
    sqs = MoveTaskSqs(0, ["COMPLETED"])
    assert redrive.redrive(sqs, "dev", by_hand=False, poll_seconds=0) == 0
    assert sqs.started == []


def test_given_a_move_task_that_fails_the_redrive_fails_with_its_reason():
    with pytest.raises(RuntimeError, match="FAILED: AccessDenied"):
        redrive.redrive(MoveTaskSqs(2, ["RUNNING", "FAILED"]), "dev", by_hand=False, poll_seconds=0)


def test_given_no_move_task_the_messages_are_moved_by_hand():
    sqs = MoveTaskSqs(1, ["COMPLETED"], supported=False)
    assert redrive.redrive(sqs, "dev", by_hand=False, poll_seconds=0) == 0  # by hand: receive finds none here
    assert sqs.started == []


@pytest.mark.parametrize("supported", [True, False], ids=["move task", "by hand"])
def test_given_dead_letters_someone_received_the_redrive_says_it_left_them_in_flight(supported):
    # Given a dead-letter queue with 2 visible messages and 1 someone received (a look that hides it for 60 s)
    sqs = MoveTaskSqs(2, ["COMPLETED"], supported=supported, in_flight=1)

    # When the redrive runs, Then it fails naming the one left behind, with the number it moved
    with pytest.raises(
        redrive.LeftInFlight, match=re.escape("1 message(s) stay in the dead-letter queue, not visible")
    ) as left:
        redrive.redrive(sqs, "dev", by_hand=False, poll_seconds=0)
    assert (left.value.moved, left.value.in_flight) == ((2, 1) if supported else (0, 1))


def test_given_a_dead_letter_in_flight_the_redrive_says_so_and_exits_1(monkeypatch, capsys):
    # Given the local stack's dead-letter queue holding one message, hidden by a look just before
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    sqs = MoveTaskSqs(0, ["COMPLETED"], supported=False, in_flight=1)
    monkeypatch.setattr(redrive.boto3, "client", lambda service, region_name: sqs)

    # When the redrive runs
    code = redrive.main([])

    # Then it says it moved none and left one in flight, and exits 1, not 0 as if done
    said = capsys.readouterr()
    assert code == 1
    assert "moved 0 message(s) from the dead-letter queue back to kyc-gateway-local-connectfi-webhooks" in said.out
    assert "1 message(s) stay in the dead-letter queue, not visible" in said.err
    assert "run the redrive again once they are visible" in said.err


def test_given_no_environment_and_no_emulator_the_usage_names_both_ways(monkeypatch, capsys):
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)

    with pytest.raises(SystemExit) as stopped:
        redrive.main([])

    assert stopped.value.code == 2
    assert "give ENV=dev|prod, or set AWS_ENDPOINT_URL" in capsys.readouterr().err


def test_given_only_an_emulator_the_redrive_is_the_local_stacks(monkeypatch, capsys):
    # Given AWS_ENDPOINT_URL set and no ENV, as `AWS_ENDPOINT_URL=http://127.0.0.1:4566 make redrive` runs it
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    redriven = []
    monkeypatch.setattr(
        redrive, "redrive", lambda sqs, environment, *, by_hand: redriven.append((environment, by_hand)) or 3
    )

    assert redrive.main([]) == 0

    # Then the local stack's queues are redriven by hand (the emulator has no move task)
    assert redriven == [("local", True)]
    assert "moved 3 message(s) from the dead-letter queue back to kyc-gateway-local-connectfi-webhooks" in (
        capsys.readouterr().out
    )


@pytest.mark.parametrize("environment", ["dev", "prod"])
def test_given_an_emulator_a_deployed_environment_is_refused_before_any_call(environment, monkeypatch, capsys):
    # Given AWS_ENDPOINT_URL left set (from local work) and ENV=dev|prod, the deployed stack's
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    redriven = []
    monkeypatch.setattr(redrive, "redrive", lambda sqs, environment, *, by_hand: redriven.append(environment) or 0)

    # When the redrive runs, Then it stops with its usage, naming both ways out, and nothing is redriven
    with pytest.raises(SystemExit) as stopped:
        redrive.main([environment])
    assert stopped.value.code == 2 and redriven == []
    said = capsys.readouterr().err
    assert f"ENV={environment} is a deployed stack" in said and "unset AWS_ENDPOINT_URL" in said and "ENV=local" in said


def test_given_dead_letters_too_large_to_send_back_in_one_batch_each_is_moved_back_once():
    import boto3
    from moto import mock_aws

    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        source, dead = (sqs.create_queue(QueueName=name)["QueueUrl"] for name in redrive.queue_names("local"))
        # Given five webhooks of 240 KiB each (the webhook route takes up to 256 KiB), dead-lettered: ten of them
        # are more than SQS takes in one batch
        bodies = ['{"code":"0","pad":"' + marker * (240 * 1024) + '"}' for marker in "abcde"]
        for body in bodies:
            sqs.send_message(
                QueueUrl=dead,
                MessageBody=body,
                MessageAttributes={"origin": {"DataType": "String", "StringValue": "webhook"}},
            )

        # When the redrive runs by hand, as on the local stack
        moved = redrive.redrive(sqs, "local", by_hand=True)

        # Then all five are back on the webhook queue, once each, with their attributes, and none is left
        back = []
        while messages := sqs.receive_message(
            QueueUrl=source, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
        ).get("Messages", []):
            back += messages
            sqs.delete_message_batch(
                QueueUrl=source,
                Entries=[{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages)],
            )
        assert moved == 5
        assert sorted(message["Body"] for message in back) == bodies
        assert {message["MessageAttributes"]["origin"]["StringValue"] for message in back} == {"webhook"}
        assert sqs.receive_message(QueueUrl=dead, VisibilityTimeout=0).get("Messages", []) == []
