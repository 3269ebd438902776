"""The webhook processor's exactly-once claim (kyc_gateway.claims.run_once), against the idempotency table: work done
once per content within its window, a claim held elsewhere sending the record back, a claim left by an ended
invocation taken over, a failure releasing it, and records Powertools Idempotency reads (and wrote) the same way."""

from __future__ import annotations

import re
from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from local.functions import cold_start
from tests.support.aws_faults import LOST, inject, on_table
from tests.support.dynamodb import cut_off, plain

PREFIX = "webhooks.connectfi"
WINDOW = 24 * 3600
REMAINING_MS = 30_000  # of the claiming invocation
# Insertion order not sorted: the record's id hashes the content as sorted JSON, as Powertools does
CONTENT = {"status": "completed", "applicationId": "iapp_1", "outcome": "Approved", "customerId": "cstap_1"}


@pytest.fixture
def table(physical_ids, monkeypatch) -> Iterator[str]:
    monkeypatch.setenv("IDEMPOTENCY_TABLE_NAME", physical_ids["IdempotencyTable"])
    cold_start()
    yield physical_ids["IdempotencyTable"]
    cold_start()  # no client a test cut off outlives it


@pytest.fixture
def dynamodb(aws):
    return aws.client("dynamodb")


def invocation(remaining_ms: int = REMAINING_MS) -> SimpleNamespace:
    return SimpleNamespace(get_remaining_time_in_millis=lambda: remaining_ms)


class Work:
    """Work to do once; records each run, and what the table held for it while it ran."""

    def __init__(self, dynamodb, table: str, fails: bool = False) -> None:
        self.dynamodb, self.table, self.fails = dynamodb, table, fails
        self.runs = 0
        self.record_while_running: dict | None = None

    def __call__(self) -> str:
        self.runs += 1
        self.record_while_running = stored(self.dynamodb, self.table)
        if self.fails:
            raise RuntimeError("connectFi failed")
        return "done"


def run_once(work, *, remaining_ms: int = REMAINING_MS):
    from kyc_gateway.claims import run_once

    return run_once(PREFIX, CONTENT, work, window_seconds=WINDOW, context=invocation(remaining_ms))


def record_id() -> str:
    from kyc_gateway.claims import key_of

    return key_of(PREFIX, CONTENT)


def stored(dynamodb, table: str) -> dict | None:
    """The content's record, as plain values."""
    reply = dynamodb.get_item(TableName=table, Key={"id": {"S": record_id()}}, ConsistentRead=True)
    return None if "Item" not in reply else plain(reply["Item"])


def put_record(dynamodb, table: str, **values: str | int) -> None:
    item = {name: {"N": str(value)} if isinstance(value, int) else {"S": value} for name, value in values.items()}
    dynamodb.put_item(TableName=table, Item={"id": {"S": record_id()}, **item})


# --- once per window -------------------------------------------------------------------------------------------------


def test_work_runs_under_a_claim_until_the_invocation_ends_then_is_completed_for_the_window(table, dynamodb, clock):
    now = clock.stop()
    work = Work(dynamodb, table)

    result = run_once(work)

    # While it ran, its claim held until the invocation's end, under the claim's own id, and the record expires after
    # the window
    assert re.fullmatch("[0-9a-f]{32}", work.record_while_running.pop("claimOwner"))
    assert work.record_while_running == {
        "id": record_id(),
        "status": "INPROGRESS",
        "expiration": str(int(now) + WINDOW),
        "in_progress_expiration": str(int(now * 1000) + REMAINING_MS),
    }
    # Then its result is answered and its record completed, for the window from when it completed
    clock.advance(7)
    assert result == "done"
    assert stored(dynamodb, table) == {"id": record_id(), "status": "COMPLETED", "expiration": str(int(now) + WINDOW)}


def test_work_whose_result_says_it_is_not_done_yet_releases_its_claim_and_runs_again(table, dynamodb, clock):
    from kyc_gateway.claims import run_once as run

    # Given work that finds its content not done yet (connectFi's status does not confirm the webhook)
    clock.stop()
    first, again = Work(dynamodb, table), Work(dynamodb, table)
    judged: list[str] = []

    def not_done(result: str) -> bool:
        judged.append(result)
        return False

    # When it runs, Then its result is answered and its claim released: the same content runs again
    context = invocation(REMAINING_MS)
    assert run(PREFIX, CONTENT, first, window_seconds=WINDOW, context=context, done=not_done) == "done"
    assert judged == ["done"]  # the work's own result decided it
    assert stored(dynamodb, table) is None
    assert run_once(again) == "done"
    assert (first.runs, again.runs) == (1, 1)


def test_content_done_within_its_window_is_not_done_again(table, dynamodb, clock):
    now = clock.stop()
    first, again = Work(dynamodb, table), Work(dynamodb, table)
    run_once(first)

    clock.advance(WINDOW)  # the record's last second
    assert run_once(again) is None

    assert (first.runs, again.runs) == (1, 0)
    assert stored(dynamodb, table)["expiration"] == str(int(now) + WINDOW)


def test_completion_starts_the_window_when_the_work_ends(table, dynamodb, clock):
    now = clock.stop()

    def slow_work() -> None:
        clock.advance(40)

    run_once(slow_work)

    assert stored(dynamodb, table)["expiration"] == str(int(now) + 40 + WINDOW)


def test_content_done_before_its_window_ended_is_done_again(table, dynamodb, clock):
    now = clock.stop()
    put_record(dynamodb, table, status="COMPLETED", expiration=int(now) - 1)  # not yet removed by the table's TTL
    work = Work(dynamodb, table)

    assert run_once(work) == "done"
    assert work.runs == 1


# --- claims held elsewhere -------------------------------------------------------------------------------------------


def test_content_another_invocation_is_doing_is_sent_back_without_running(table, dynamodb):
    from kyc_gateway.claims import ClaimedElsewhere

    # Given an invocation doing the work; when the same content comes to another while it runs
    outcomes = []

    def work_meeting_a_duplicate() -> str:
        with pytest.raises(ClaimedElsewhere):
            run_once(lambda: outcomes.append("duplicate ran"))
        outcomes.append("sent back")
        return "done"

    # Then the duplicate is refused (its record goes back to the queue), and the first completes
    assert run_once(work_meeting_a_duplicate) == "done"
    assert outcomes == ["sent back"]
    assert stored(dynamodb, table)["status"] == "COMPLETED"


def test_a_claim_the_table_applied_whose_answer_was_lost_is_the_invocations_own(table, dynamodb):
    # Given the claim's put applied by DynamoDB and its answer lost: botocore sends the same put again
    made = inject("dynamodb", "PutItem", on_table(table, LOST, times=1))
    work = Work(dynamodb, table)

    # When the record is processed
    result = run_once(work)

    # Then the invocation holding the claim does the work and completes it: its own claim is not "in progress
    # elsewhere" (which would send the record back for the queue's whole visibility timeout, as a failure)
    assert made[:2] == [LOST, None]
    assert (result, work.runs) == ("done", 1)
    assert stored(dynamodb, table)["status"] == "COMPLETED" and "claimOwner" not in stored(dynamodb, table)


@pytest.mark.parametrize(("ended_ms_ago", "taken_over"), [(0, False), (1, True), (60_000, True)])
def test_a_claim_is_taken_over_only_once_its_invocation_has_ended(table, dynamodb, clock, ended_ms_ago, taken_over):
    from kyc_gateway.claims import ClaimedElsewhere

    # Given a claim of an invocation that ends (or ended) at a given millisecond, still within the window
    now = clock.stop()
    until_ms = int(now * 1000) - ended_ms_ago
    put_record(dynamodb, table, status="INPROGRESS", expiration=int(now) + 3600, in_progress_expiration=until_ms)
    work = Work(dynamodb, table)

    # When the content comes to another invocation
    if taken_over:
        assert run_once(work) == "done"
        assert stored(dynamodb, table)["status"] == "COMPLETED"
    else:
        with pytest.raises(ClaimedElsewhere):
            run_once(work)
        assert stored(dynamodb, table)["in_progress_expiration"] == str(until_ms)
    assert work.runs == (1 if taken_over else 0)


def test_a_claim_without_the_end_of_its_invocation_holds_until_its_window_ends(table, dynamodb, clock):
    from kyc_gateway.claims import ClaimedElsewhere

    now = clock.stop()
    put_record(dynamodb, table, status="INPROGRESS", expiration=int(now) + 60)

    with pytest.raises(ClaimedElsewhere):
        run_once(Work(dynamodb, table))


def test_a_failure_releases_the_claim_so_a_retry_runs_at_once(table, dynamodb):
    failing, retry = Work(dynamodb, table, fails=True), Work(dynamodb, table)

    with pytest.raises(RuntimeError, match="connectFi failed"):
        run_once(failing)

    assert stored(dynamodb, table) is None
    assert run_once(retry) == "done"
    assert (failing.runs, retry.runs) == (1, 1)


def test_a_failure_that_cannot_release_its_claim_is_still_reported_as_itself(table, dynamodb):
    # Given work that fails as the invocation's DynamoDB client stops working
    def failing_with_dynamodb() -> None:
        cut_off()
        raise RuntimeError("connectFi failed")

    # Then the failure reported is the work's (what the record's retry and the alarms go by), and the claim is
    # left to lapse when the invocation ends
    with pytest.raises(RuntimeError, match="connectFi failed"):
        run_once(failing_with_dynamodb)
    assert stored(dynamodb, table)["status"] == "INPROGRESS"


# --- Powertools Idempotency's records --------------------------------------------------------------------------------


@pytest.fixture
def powertools(table, aws):
    """Powertools Idempotency's persistence layer on the same table and prefix (which the processor used before)."""
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, IdempotencyConfig

    layer = DynamoDBPersistenceLayer(table_name=table, boto3_client=aws.client("dynamodb"))
    layer.configure(IdempotencyConfig(expires_after_seconds=WINDOW), key_prefix=PREFIX)
    return layer


def test_powertools_reads_a_claim_and_its_completion_as_its_own_records(powertools, dynamodb, table):
    while_running = []

    def work() -> None:
        while_running.append((powertools.get_record(CONTENT), stored(dynamodb, table)))

    run_once(work)

    # Powertools finds the claim under the content's id, in progress until the claiming invocation's end...
    ((claimed, claim),) = while_running
    assert (claimed.status, claimed.in_progress_expiry_timestamp) == (
        "INPROGRESS",
        int(claim["in_progress_expiration"]),
    )
    # ...then completed, expiring when the window ends
    completed = powertools.get_record(CONTENT)
    assert (completed.status, completed.expiry_timestamp) == ("COMPLETED", int(stored(dynamodb, table)["expiration"]))


def test_content_powertools_recorded_as_done_is_not_done_again(powertools, dynamodb, table, clock):
    # Given a delivery Powertools Idempotency processed (its completed record keeps its in-progress end)
    powertools.save_inprogress(CONTENT, remaining_time_in_millis=0)
    powertools.save_success(CONTENT, result={})
    clock.advance(1)  # that invocation has ended
    work = Work(dynamodb, table)

    assert run_once(work) is None
    assert work.runs == 0


def test_content_powertools_holds_in_progress_is_sent_back(powertools, dynamodb, table):
    from kyc_gateway.claims import ClaimedElsewhere

    powertools.save_inprogress(CONTENT, remaining_time_in_millis=60_000)

    with pytest.raises(ClaimedElsewhere):
        run_once(Work(dynamodb, table))
