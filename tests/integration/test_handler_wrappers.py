"""What the queue, stream and schedule handler wrappers hand on besides running their records or jobs: the route they
serve, which the deploy check and the snapshot read to know what to load, their registration with Lambda's SnapStart
hooks, and the time rules and hand-back they are built with. Each wrapper is built here, as a function's module builds
it at import."""

from __future__ import annotations

from typing import Any

import pytest

from kyc_gateway import snapstart
from kyc_gateway.providers.connectfi import reconciliation, webhooks
from kyc_gateway.registry import BY_LOGICAL_ID
from kyc_gateway.scheduled import scheduled_handler
from kyc_gateway.sqs import sqs_batch_handler, stream_batch_handler
from tests.support.deploy_drill import become, environments_as_deployed
from tests.support.emf import log_lines

FUNCTIONS = {"queue": "ConnectFiWebhookProcessorFunction", "schedule": "ConnectFiReconcilerFunction"}
WRAPPERS = {
    "queue": lambda: sqs_batch_handler(
        webhooks.ROUTE,
        webhooks.process_record,
        plan_retry=webhooks.plan_retry,
        margin_seconds=webhooks.BATCH_MARGIN_SECONDS,
        hand_back=webhooks.hand_back,
    ),
    "schedule": lambda: scheduled_handler(reconciliation.ROUTE, reconciliation.reconcile),
}
ROUTES = {"queue": webhooks.ROUTE, "schedule": reconciliation.ROUTE}


class RuntimeHooks:
    """Lambda's snapshot_restore_py, recording what is registered."""

    def __init__(self) -> None:
        self.before: list[tuple[Any, ...]] = []
        self.after: list[tuple[Any, ...]] = []

    def register_before_snapshot(self, hook: Any, *arguments: Any) -> None:
        self.before.append((hook, *arguments))

    def register_after_restore(self, hook: Any, *arguments: Any) -> None:
        self.after.append((hook, *arguments))

    def get_after_restore(self) -> list[tuple[Any, ...]]:
        return self.after


@pytest.mark.parametrize("kind", sorted(WRAPPERS))
def test_a_wrapped_handler_registers_its_snapshot_priming_and_one_renewal(kind, monkeypatch):
    # Given Lambda's SnapStart hooks, as its runtime offers them
    hooks = RuntimeHooks()
    monkeypatch.setattr(snapstart, "_runtime_hooks", hooks)

    # When two handlers are built
    first, second = WRAPPERS[kind](), WRAPPERS[kind]()

    # Then each is primed before the snapshot, and instances renew once after each restore
    assert hooks.before == [(snapstart.prime, first), (snapstart.prime, second)]
    assert hooks.after == [(snapstart.renew,)]


@pytest.mark.parametrize("kind", sorted(WRAPPERS))
def test_what_a_wrapped_handlers_snapshot_and_deploy_check_load_is_its_own_routes(kind, physical_ids, monkeypatch):
    from kyc_gateway.settings import get_settings

    # Given a handler built by its wrapper, in its function's environment as deployed
    become(FUNCTIONS[kind], environments_as_deployed(physical_ids), monkeypatch)
    handler = WRAPPERS[kind]()

    # Then what its snapshot and its deploy check load (snapstart.load) is its own route's first request's
    preload = snapstart.preload_of(handler, get_settings())
    assert preload.route == ROUTES[kind] == BY_LOGICAL_ID[FUNCTIONS[kind]].route


class ShrinkingTime:
    """A Lambda context whose remaining time each record's processing sets (`left_after`: seconds, by record)."""

    def __init__(self, left_after: dict[str, float]) -> None:
        self.left_ms = 60_000
        self.left_after = left_after

    def get_remaining_time_in_millis(self) -> int:
        return self.left_ms

    def process(self, record: dict[str, Any], _context: Any) -> None:
        self.left_ms = int(self.left_after[record.get("messageId") or record["dynamodb"]["SequenceNumber"]] * 1000)


MESSAGES = [{"messageId": name, "receiptHandle": f"handle-{name}", "body": "{}"} for name in ("m1", "m2", "m3", "m4")]


def test_a_queue_handler_starts_a_record_only_with_its_margin_left_and_hands_the_rest_back_at_once(logs):
    # Given a queue handler with a 2 s margin, whose records leave 2.5 s, then 1 s of the invocation
    time_left = ShrinkingTime({"m1": 2.5, "m2": 1.0, "m3": 60, "m4": 60})
    handed_back: list[list[dict]] = []
    handler = sqs_batch_handler("test.queue", time_left.process, margin_seconds=2.0, hand_back=handed_back.append)

    # When a batch of four comes
    result = handler({"Records": MESSAGES}, time_left)

    # Then the second started (2.5 s left), the third did not (1 s): it and the fourth are reported and handed back
    # at once, in one call, and logged with their number and route
    assert result == {"batchItemFailures": [{"itemIdentifier": "m3"}, {"itemIdentifier": "m4"}]}
    assert handed_back == [MESSAGES[2:]]
    (line,) = log_lines(logs(), "records left for another invocation: too little time left")
    assert (line["records"], line["route"]) == (2, "test.queue")


def test_records_a_hand_back_fails_on_are_still_reported_and_the_failure_logged(logs):
    # Given a queue handler whose hand-back fails
    time_left = ShrinkingTime({"m1": 0.5, "m2": 60, "m3": 60, "m4": 60})

    def refused(_records: list[dict]) -> None:
        raise ConnectionError("SQS unreachable")

    handler = sqs_batch_handler("test.queue", time_left.process, margin_seconds=1.0, hand_back=refused)

    # When the batch runs out of time after its first record
    result = handler({"Records": MESSAGES}, time_left)

    # Then the others are reported all the same (they come back after the queue's visibility timeout), and the
    # hand-back's failure is logged by its kind
    assert [failure["itemIdentifier"] for failure in result["batchItemFailures"]] == ["m2", "m3", "m4"]
    (line,) = log_lines(logs(), "records not handed back")
    assert line["error"] == "ConnectionError"


def test_a_stream_handler_keeps_its_margin_and_hands_the_stream_on_from_its_first_untried_change(logs):
    # Given the stream handler (a 5 s margin), whose first change leaves 4 s of the invocation
    from kyc_gateway.sqs import STREAM_TIME_MARGIN_SECONDS

    changes = [{"eventID": str(n), "dynamodb": {"SequenceNumber": f"{n:021d}"}} for n in (1, 2, 3)]
    left_after = {change["dynamodb"]["SequenceNumber"]: 60 for change in changes}
    left_after[changes[0]["dynamodb"]["SequenceNumber"]] = STREAM_TIME_MARGIN_SECONDS - 1
    time_left = ShrinkingTime(left_after)
    handler = stream_batch_handler("test.stream", time_left.process)

    # When the batch comes, Then the stream is handed on from the second change alone (the third with it), both
    # logged as left under the handler's route
    assert handler({"Records": changes}, time_left) == {
        "batchItemFailures": [{"itemIdentifier": changes[1]["dynamodb"]["SequenceNumber"]}]
    }
    (line,) = log_lines(logs(), "records left for another invocation: too little time left")
    assert (line["records"], line["route"]) == (2, "test.stream")


def test_a_record_starts_with_exactly_its_margin_left_not_with_a_millisecond_less(monkeypatch):
    # Given records that take no time at all (a clock that stands still), a 2 s margin, and records leaving exactly
    # 2 s, then 1.999 s of the invocation
    from kyc_gateway import sqs

    monkeypatch.setattr(sqs.time, "perf_counter", lambda: 100.0)
    time_left = ShrinkingTime({"m1": 2.0, "m2": 1.999, "m3": 60, "m4": 60})
    handler = sqs_batch_handler("test.queue", time_left.process, margin_seconds=2.0)

    # When a batch of four comes, Then the second starts and the third does not
    result = handler({"Records": MESSAGES}, time_left)
    assert result == {"batchItemFailures": [{"itemIdentifier": "m3"}, {"itemIdentifier": "m4"}]}


def test_a_context_that_tells_no_remaining_time_lets_every_record_start():
    # Given a context without Lambda's remaining time (as a test or a tool may pass)
    class Timeless:
        function_name, memory_limit_in_mb, aws_request_id = "test", 128, "request-1"
        invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:test"

    processed: list[str] = []
    handler = sqs_batch_handler("test.queue", lambda record, _: processed.append(record["messageId"]), margin_seconds=2)

    # When a batch comes, Then every record is processed
    assert handler({"Records": MESSAGES}, Timeless()) == {"batchItemFailures": []}
    assert processed == ["m1", "m2", "m3", "m4"]


def test_a_queue_handler_plans_the_retry_of_each_record_that_failed_and_of_no_other():
    # Given a queue handler built with a retry planner, whose second record fails
    planned: list[tuple[str, str]] = []
    refused = RuntimeError("connectFi down")

    def process(record: dict[str, Any], _context: Any) -> None:
        if record["messageId"] == "m2":
            raise refused

    handler = sqs_batch_handler(
        "test.queue", process, plan_retry=lambda record, error: planned.append((record["messageId"], error))
    )

    # When a batch comes, Then only the failed record is reported, and its retry planned with its error
    assert handler({"Records": MESSAGES}, ShrinkingTime({})) == {"batchItemFailures": [{"itemIdentifier": "m2"}]}
    assert planned == [("m2", refused)]
