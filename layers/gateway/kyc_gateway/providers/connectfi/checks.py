"""connectFi's state of one application, checked and audited: what the webhook processor confirms a webhook with and
what the reconciliation re-checks an application with (both store it through `applications`)."""

from __future__ import annotations

from typing import Any, NamedTuple

from kyc_gateway.errors import GatewayError
from kyc_gateway.provider_response import ProviderResponse
from kyc_gateway.providers.connectfi import client
from kyc_gateway.providers.connectfi.common import PROVIDER


class ObservedState(NamedTuple):
    state: dict[str, Any]  # connectFi's application envelope `data`
    at: float | None  # when it was asked for (epoch seconds): the state is at least as new as this


def audited_state(
    customer_id: str, application_id: str, *, caller: str, route: str, correlation_id: str
) -> ObservedState:
    """connectFi's current state of one application (/akepa/status), with the audit record of the check
    (kyc_gateway.audit) whatever its outcome: what the webhook processor (`caller` webhook) and the reconciliation
    (`schedule`) store. An answer about another application, or without a status, is connectFi failing (502),
    never stored."""
    from kyc_gateway import audit
    from kyc_gateway.observability import provider_calls

    failure: Exception | None = None
    answer: ProviderResponse | None = None  # its request id is the record's
    first_call = len(provider_calls())  # the calls before it (a reconciliation run's earlier checks) are not its own
    request = client.StatusRequest(customerId=customer_id, applicationId=application_id)
    try:
        answer = client.status(request)
        return ObservedState(answer.body["data"], answer.sent_at)
    except Exception as error:
        failure = error
        raise
    finally:
        gateway_error = failure if isinstance(failure, GatewayError) else None
        fields = {
            "caller": caller,
            "route": route,
            "provider": PROVIDER,
            "operation": "status",
            "status": 200 if failure is None else getattr(failure, "status", 500),
            "code": "ok" if failure is None else getattr(failure, "code", None) or type(failure).__name__,
            "correlationId": correlation_id,
            **audit.provider_outcome(answer, error=gateway_error, first_call=first_call),
        }
        audit.record(fields, request.audit_subjects(None))
