"""One reconciliation run, application by application: when it stops for time, when connectFi's failures fail it,
and what it counts and logs for each application it checks."""

from __future__ import annotations

import pytest

from project import template as cfn
from tests.integration.routes.test_connectfi import LOGIN, STATUS, connectfi_error, login_reply
from tests.integration.routes.test_connectfi_reconciliation import AFTER, state_of
from tests.integration.routes.test_connectfi_reconciliation_ageing import MAX_AGE
from tests.integration.test_deployed_template import transformed
from tests.integration.test_rollback_drill import ENVIRONMENT, breaches, watched
from tests.support import emf
from tests.support.emf import log_lines
from tests.support.fake_provider import Reply

CONNECTFI_FAILING = Reply(500, b'{"code": "internal"}')
UNKNOWN = connectfi_error(404, "applicationNotFound", "Application not found")


class Invocation:
    """A Lambda context whose remaining time is read off a list, one value per application the run looks at."""

    aws_request_id = "run-7"

    def __init__(self, *remaining_ms: int) -> None:
        self.remaining = list(remaining_ms)

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining.pop(0) if len(self.remaining) > 1 else self.remaining[0]


@pytest.fixture
def run(gateway, clock, monkeypatch):
    """A run over applications started under review (oldest first), `waited` seconds after the last (by then all
    due); the run's counts."""
    from kyc_gateway import clock as gateway_clock
    from kyc_gateway.clock import start_request
    from kyc_gateway.providers.connectfi import applications, reconciliation

    monkeypatch.setattr(gateway_clock, "sleep", clock.advance)  # connectFi's failures are retried without waiting
    gateway.provider.reply(LOGIN, login_reply())

    def start(*application_ids: str, context=None, waited: float = AFTER) -> dict:
        for application_id in application_ids:
            applications.record_and_announce(state_of(application_id, "waiting_review")["data"])
            clock.advance(1)
        clock.advance(waited)
        start_request(None)  # no deadline but the run's own context (not one an earlier test left on this thread)
        return dict(reconciliation.reconcile(context or Invocation(900_000)))

    return start


def checked(gateway) -> list[str]:
    return [request.json()["applicationId"] for request in gateway.provider.requests(STATUS)]


def test_a_run_stops_taking_applications_once_less_than_30_s_of_its_invocation_is_left(gateway, run):
    gateway.provider.reply(STATUS, *(state_of(f"iapp_time{n}", "waiting_review") for n in range(3)))

    counts = run("iapp_time0", "iapp_time1", "iapp_time2", context=Invocation(40_000, 30_000, 29_999))

    assert counts["checked"] == 2
    assert checked(gateway) == ["iapp_time0", "iapp_time1"]


def test_two_failures_do_not_fail_a_run(gateway, run):
    gateway.provider.reply(STATUS, CONNECTFI_FAILING)

    assert run("iapp_fails0", "iapp_fails1") == {"checked": 2, "changed": 0, "failed": 2, "retired": 0}


def test_failures_after_a_success_do_not_fail_a_run(gateway, run):
    # Given connectFi answering the first application, then failing on every other
    answered = state_of("iapp_mixed0", "completed", "Approved")
    gateway.provider.reply(STATUS, answered, CONNECTFI_FAILING)

    counts = run(*(f"iapp_mixed{n}" for n in range(4)))

    # Then the run goes on: connectFi answered, it is not failing on everything
    assert counts == {"checked": 4, "changed": 1, "failed": 3, "retired": 0}


def test_a_third_failure_in_a_row_fails_the_run_and_leaves_the_rest_for_the_next(gateway, run):
    from kyc_gateway.errors import ProviderFailed

    gateway.provider.reply(STATUS, CONNECTFI_FAILING)

    with pytest.raises(ProviderFailed):
        run(*(f"iapp_down{n}" for n in range(4)))

    assert list(dict.fromkeys(checked(gateway))) == ["iapp_down0", "iapp_down1", "iapp_down2"]


def test_a_run_whose_first_three_applications_connectfi_does_not_know_fails_and_closes_none(gateway, run, logs):
    from kyc_gateway.errors import ProviderFailed
    from kyc_gateway.providers.connectfi import applications

    # Given connectFi knowing none of the applications (as with a wrong base URL or account)
    gateway.provider.reply(STATUS, UNKNOWN)

    # When a run checks them, Then it fails at the third, as connectFi's failure (its provider's alarm), saying why
    with pytest.raises(ProviderFailed) as failed:
        run(*(f"iapp_gone{n}" for n in range(4)))
    assert failed.value.provider == "connectfi"
    said = "connectFi failed on, or did not know, each of the first three applications the run asked it about"
    assert str(failed.value) == said

    # And none left the queue: the three went to its back (the next run starts with the fourth), each said
    assert checked(gateway) == ["iapp_gone0", "iapp_gone1", "iapp_gone2"]
    assert [due["applicationId"] for due in applications.due(checked_before=4e9)] == [
        "iapp_gone3",
        "iapp_gone0",
        "iapp_gone1",
        "iapp_gone2",
    ]
    written = logs()
    assert log_lines(written, "application unknown to connectFi: no longer checked") == []
    kept = log_lines(written, "application unknown to connectFi: checked again later")
    assert [line["application_id"] for line in kept] == ["iapp_gone0", "iapp_gone1", "iapp_gone2"]


def test_what_a_run_did_to_each_application_is_logged_by_its_id(gateway, run, logs):
    gateway.provider.reply(STATUS, UNKNOWN, CONNECTFI_FAILING)

    assert run("iapp_unknown", "iapp_failing") == {"checked": 2, "changed": 0, "failed": 2, "retired": 0}

    written = logs()
    (unknown,) = log_lines(written, "application unknown to connectFi: checked again later")
    (failing,) = log_lines(written, "application not reconciled")
    assert (unknown["level"], unknown["application_id"]) == ("WARNING", "iapp_unknown")
    assert (failing["level"], failing["application_id"]) == ("WARNING", "iapp_failing")
    assert failing["code"] == "provider_error"


@pytest.mark.parametrize(
    "customer", [{"NULL": True}, {"S": "not-a-connectfi-id"}], ids=["no customer id", "a customer id of no form"]
)
def test_a_row_the_gateway_cannot_check_goes_to_the_back_and_never_stops_the_others(
    gateway, run, clock, aws, physical_ids, logs, customer
):
    from kyc_gateway.providers.connectfi import applications

    # Given the longest-waiting application's row edited by hand (its customer id lost or mangled), and another due
    applications.record_and_announce(state_of("iapp_mangled", "waiting_review")["data"])
    aws.client("dynamodb").update_item(
        TableName=physical_ids["ApplicationsTable"],
        Key={"applicationId": {"S": "iapp_mangled"}},
        UpdateExpression="SET customerId = :customer",
        ExpressionAttributeValues={":customer": customer},
    )
    clock.advance(1)
    gateway.provider.reply(STATUS, state_of("iapp_fine", "completed"))

    # When a run comes
    counts = run("iapp_fine")

    # Then the row is not checked: the other application is, and stored, and the row goes to the queue's back
    assert counts == {"checked": 2, "changed": 1, "failed": 1, "retired": 0}
    assert checked(gateway) == ["iapp_fine"]
    assert applications.get("iapp_fine")["status"] == "completed"
    assert [due["applicationId"] for due in applications.due(checked_before=4e9)] == ["iapp_mangled"]
    # and it is logged by the application's id, never the row's values
    (line,) = log_lines(logs(), "application not reconciled")
    assert (line["application_id"], line["code"]) == ("iapp_mangled", "unreadable_row")
    assert "not-a-connectfi-id" not in logs()


def test_rows_the_gateway_cannot_check_are_not_counted_as_connectfi_failing_a_run(
    gateway, run, clock, aws, physical_ids
):
    from kyc_gateway.providers.connectfi import applications

    # Given the two longest-waiting rows edited by hand (no customer id), then two applications due
    for mangled in ("iapp_mangled0", "iapp_mangled1"):
        applications.record_and_announce(state_of(mangled, "waiting_review")["data"])
        aws.client("dynamodb").update_item(
            TableName=physical_ids["ApplicationsTable"],
            Key={"applicationId": {"S": mangled}},
            UpdateExpression="SET customerId = :customer",
            ExpressionAttributeValues={":customer": {"NULL": True}},
        )
        clock.advance(1)
    # and connectFi failing on the first of them (each of its attempts), then answering
    gateway.provider.reply(STATUS, *[CONNECTFI_FAILING] * 3, state_of("iapp_fine", "completed"))

    # When a run comes
    counts = run("iapp_failing", "iapp_fine")

    # Then connectFi failed on one application of the two it was asked about: the run goes on to the next
    assert counts == {"checked": 4, "changed": 1, "failed": 3, "retired": 0}
    assert list(dict.fromkeys(checked(gateway))) == ["iapp_failing", "iapp_fine"]


def test_an_application_retired_is_counted_for_connectfi_and_logged_with_its_status(gateway, run, logs):
    gateway.provider.reply(STATUS, state_of("iapp_still", "waiting_review"))

    assert run("iapp_still", waited=MAX_AGE)["retired"] == 1

    written = logs()
    assert emf.named(written)["ApplicationsNoLongerReconciled"]["Provider"] == "connectfi"
    (line,) = log_lines(written, "application unchanged for too long: no longer checked")
    assert (line["level"], line["application_id"], line["status"]) == ("WARNING", "iapp_still", "waiting_review")


def test_an_application_connectfi_did_not_know_three_times_leaves_the_queue_under_the_deployed_alarm(
    gateway, run, logs, physical_ids, monkeypatch
):
    from kyc_gateway import observability

    # Given the reconciler's deployed metric namespace, and one application connectFi does not know, checked by three
    # runs in a row
    deployed = cfn.function_environment("ConnectFiReconcilerFunction", physical_ids, {"Environment": ENVIRONMENT})
    monkeypatch.setattr(observability, "_NAMESPACE", deployed["POWERTOOLS_METRICS_NAMESPACE"])
    gateway.provider.reply(STATUS, UNKNOWN)
    run("iapp_lost")
    run(waited=AFTER)
    run(waited=AFTER)

    # Then it is no longer checked, and the metric the deployed alarm watches says so once, enough to alarm
    written = logs()
    (line,) = log_lines(written, "application unknown to connectFi: no longer checked")
    assert line["application_id"] == "iapp_lost"
    alarm = transformed(ENVIRONMENT)["Resources"]["ApplicationsNoLongerReconciledAlarm"]["Properties"]
    namespace, name, dimensions = watched(alarm)
    counted = [metric for metric in emf.metrics(written) if metric.name == name]
    assert [(metric.namespace, metric.dimension_values, sum(metric.values)) for metric in counted] == [
        (namespace, dimensions, 1.0)
    ]
    assert breaches(alarm, [[1.0]])


@pytest.mark.parametrize(
    ("answers", "waited", "expected"),
    [
        pytest.param(
            [state_of("iapp_one", "running"), state_of("iapp_two", "running")], AFTER, "changed", id="changed"
        ),
        pytest.param([CONNECTFI_FAILING] * 6, AFTER, "failed", id="failed"),  # each check's three attempts
        pytest.param([UNKNOWN, UNKNOWN], AFTER, "failed", id="unknown to connectFi"),
        pytest.param(
            [state_of("iapp_one", "waiting_review"), state_of("iapp_two", "waiting_review")],
            MAX_AGE,
            "retired",
            id="retired",
        ),
    ],
)
def test_a_run_counts_every_application_of_each_outcome(gateway, run, answers, waited, expected):
    gateway.provider.reply(STATUS, *answers)

    counts = run("iapp_one", "iapp_two", waited=waited)

    assert (counts["checked"], counts[expected]) == (2, 2)


def test_each_check_is_audited_under_the_runs_request_id_and_its_number_in_the_run(gateway, run, aws, physical_ids):
    from tests.support.audit import records

    gateway.provider.reply(STATUS, state_of("iapp_one", "running"), state_of("iapp_two", "running"))

    run("iapp_one", "iapp_two")

    checks = {item["correlationId"] for item in records(aws, physical_ids) if item["caller"] == "schedule"}
    assert checks == {f"{Invocation.aws_request_id}:1", f"{Invocation.aws_request_id}:2"}


def test_an_application_written_between_its_check_and_its_retirement_is_not_counted_as_retired(
    gateway, run, logs, monkeypatch
):
    from kyc_gateway.providers.connectfi import applications

    # Given an application that stood still for the maximum age, and a webhook's write landing right before the run
    # retires it (the conditional retirement refuses: it moved)
    gateway.provider.reply(STATUS, state_of("iapp_raced", "waiting_review"))
    refused = []
    monkeypatch.setattr(applications, "retire", lambda application_id, updated_at: refused.append(application_id))

    counts = run("iapp_raced", waited=MAX_AGE)

    # Then it is neither counted nor logged nor measured as retired
    assert refused == ["iapp_raced"] and counts["retired"] == 0
    written = logs()
    assert log_lines(written, "application unchanged for too long: no longer checked") == []
    assert "ApplicationsNoLongerReconciled" not in emf.named(written)


def test_a_checks_answer_is_dated_when_it_was_asked_and_does_not_undo_a_webhook_stored_meanwhile(
    gateway, run, clock, monkeypatch
):
    from kyc_gateway.providers.connectfi import applications, checks

    # Given a run's check answered "under review", and a webhook's newer check storing "running" before the run
    # stores that answer (a slow answer)
    gateway.provider.reply(STATUS, state_of("iapp_overtaken", "waiting_review"))
    check = checks.audited_state

    def overtaken_by_a_webhook(*args, **kwargs):
        observed = check(*args, **kwargs)
        clock.advance(5)
        applications.record_and_announce(state_of("iapp_overtaken", "running")["data"])
        clock.advance(1)
        return observed

    monkeypatch.setattr(checks, "audited_state", overtaken_by_a_webhook)

    # When the run stores its answer
    counts = run("iapp_overtaken")

    # Then the older answer is ignored: the application stays as the webhook left it
    assert counts["changed"] == 0
    assert applications.get("iapp_overtaken")["status"] == "running"
