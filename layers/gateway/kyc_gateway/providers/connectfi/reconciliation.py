"""Reconciliation: a webhook is a signal, and signals get lost (a provider outage, a misconfigured URL). Every run
re-checks the applications that are still not final some time after their last change, with /akepa/status, and
stores and announces what changed through the same path as the webhook processor (once, whoever sees it first)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kyc_gateway import clock
from kyc_gateway.errors import GatewayError, SubjectNotFound
from kyc_gateway.observability import logger
from kyc_gateway.providers.connectfi import applications
from kyc_gateway.providers.connectfi import client as connectfi
from kyc_gateway.settings import get_settings

RESERVED_MILLISECONDS = 30_000  # a run stops taking applications this long before its invocation's timeout


def reconcile(context: Any) -> Mapping[str, int]:
    """One run: check every due application while time is left; counts of what it did. An application connectFi
    fails on is skipped (the next run tries it again); connectFi failing on every one fails the run."""
    cutoff = clock.now() - get_settings().reconcile_after_seconds
    counts = {"checked": 0, "changed": 0, "failed": 0}
    for due in applications.due(updated_before=cutoff):
        if context.get_remaining_time_in_millis() < RESERVED_MILLISECONDS:
            break
        counts["checked"] += 1
        try:
            request = connectfi.StatusRequest(customerId=due["customerId"], applicationId=due["applicationId"])
            state = connectfi.ConnectFiClient.instance().status(request).body["data"]
            stored = applications.record_and_announce(state)
        except SubjectNotFound:
            counts["failed"] += 1
            logger.warning("application unknown to connectFi", application_id=due["applicationId"])
            continue
        except GatewayError as error:
            counts["failed"] += 1
            logger.warning("application not reconciled", application_id=due["applicationId"], code=error.code)
            if counts["failed"] == counts["checked"] >= 3:
                raise  # connectFi fails on everything: this run is a failure, worth its alarm
            continue
        if stored is not None and stored["announced"]:
            counts["changed"] += 1
    return counts
