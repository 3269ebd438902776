"""Reconciliation: a webhook is a signal, and signals get lost (a provider outage, a misconfigured URL). Every run
re-checks the applications that are still not final some time after their last change, with /akepa/status, and
stores and announces what changed through the same path as the webhook processor (once, whoever sees it first)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from kyc_gateway import clock
from kyc_gateway.errors import GatewayError, ProviderFailed, SubjectNotFound
from kyc_gateway.observability import count, logger
from kyc_gateway.providers.connectfi import applications, checks
from kyc_gateway.providers.connectfi.client import StatusRequest
from kyc_gateway.providers.connectfi.common import PROVIDER
from kyc_gateway.settings import get_settings

RESERVED_MILLISECONDS = 30_000  # a run stops taking applications this long before its invocation's timeout
ROUTE = "connectfi.reconciler"


def reconcile(context: Any) -> Mapping[str, int]:
    """One run: check every due application while time is left; counts of what it did. An application connectFi
    fails on goes to the back of the queue (the next runs try it again), one it does not know too, and it leaves the
    queue the third time in a row, counted in ApplicationsNoLongerReconciled as a retired one is
    (applications.unknown_again: a wrong base URL or account, fixed meanwhile, closes nothing); one whose state has
    not changed for RECONCILE_MAX_AGE_SECONDS leaves it (counted: connectFi's only final status is `completed`, so
    one that ends otherwise would be checked forever); a row without ids in connectFi's forms (edited by hand) goes
    to the back unchecked; connectFi failing on, or not knowing, the first three it is asked about in a run fails
    the run (rows left unchecked are not connectFi's failures)."""
    settings = get_settings()
    now = clock.now()
    cutoff, too_old = now - settings.reconcile_after_seconds, now - settings.reconcile_max_age_seconds
    counts = {"checked": 0, "changed": 0, "failed": 0, "retired": 0}
    asked = refused = 0  # applications connectFi was asked about, and those it failed on or did not know
    for due in applications.due(checked_before=cutoff):
        if context.get_remaining_time_in_millis() < RESERVED_MILLISECONDS:
            break
        counts["checked"] += 1
        application_id = due["applicationId"]
        if not _checkable(due):  # a row edited by hand: never holds up the applications behind it
            counts["failed"] += 1
            applications.postpone(application_id)
            logger.warning("application not reconciled", application_id=application_id, code="unreadable_row")
            continue
        asked += 1
        try:
            # each check's audit record: the run's request id and the check's number in the run
            correlation_id = f"{context.aws_request_id}:{counts['checked']}"
            observed = checks.audited_state(
                due["customerId"], application_id, caller="schedule", route=ROUTE, correlation_id=correlation_id
            )
            stored = applications.record_and_announce(observed.state, observed_at=observed.at)
        except SubjectNotFound:
            counts["failed"] += 1
            refused += 1
            closed = applications.unknown_again(application_id, due["checkedAt"])
            if closed:  # as one retired: only a webhook, or an operator, brings it back
                count("ApplicationsNoLongerReconciled", Provider=PROVIDER)
            fate = "no longer checked" if closed else "checked again later"
            logger.warning(f"application unknown to connectFi: {fate}", application_id=application_id)
            if refused == asked >= 3:
                raise ProviderFailed(
                    "connectFi failed on, or did not know, each of the first three applications the run asked it about",
                    provider=PROVIDER,
                ) from None
            continue
        except GatewayError as error:
            counts["failed"] += 1
            refused += 1
            applications.postpone(application_id)
            logger.warning("application not reconciled", application_id=application_id, code=error.code)
            if refused == asked >= 3:
                raise  # connectFi fails on everything: this run is a failure, worth its alarm
            stored = applications.get(application_id)  # one connectFi always fails on ages out too
        else:
            if stored is not None and stored["announced"]:
                counts["changed"] += 1
        if stored is not None and _retired(stored, too_old):
            counts["retired"] += 1
    return counts


def _checkable(due: Mapping[str, str]) -> bool:
    """Whether a due row holds ids in connectFi's forms, which its status check needs (never logged: its values)."""
    try:
        StatusRequest(customerId=due.get("customerId"), applicationId=due["applicationId"])
    except ValidationError:
        return False
    return True


def _retired(stored: dict[str, Any], too_old: float) -> bool:
    """Retire an application whose state has not changed since before `too_old` (and did not change meanwhile)."""
    since = applications.stood_still_since(stored)
    if not stored.get("open") or since is None or since >= too_old:
        return False
    if not applications.retire(stored["applicationId"], stored["updatedAt"]):
        return False  # written since: it moved, or left the queue otherwise
    count("ApplicationsNoLongerReconciled", Provider=PROVIDER)
    logger.warning(
        "application unchanged for too long: no longer checked",
        application_id=stored["applicationId"],
        status=stored.get("status"),
    )
    return True
