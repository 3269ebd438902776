"""A connectFi write's answer, stored: the application state an identification started or an update made is stored
and announced through `applications` like any other change, best effort (the write is done at connectFi whatever
happens here)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from kyc_gateway.errors import GatewayError
from kyc_gateway.observability import count, logger
from kyc_gateway.providers.connectfi.applications import AnnouncementFailed, ObservedMeanwhile, record_and_announce
from kyc_gateway.providers.connectfi.common import PROVIDER, envelope_data, is_application_state

if TYPE_CHECKING:
    from kyc_gateway.provider_response import ProviderResponse

Request = TypeVar("Request")


def record_answer(response: ProviderResponse, *, creates: bool, named: tuple[str, str] | None = None) -> None:
    """Best effort: store (and announce) the application state connectFi answered a write with (identification,
    update). The write is done at connectFi whatever happens here, and the caller must get its answer (a failure
    would make it send the write again). An application not recorded is counted (reconciliation cannot see it);
    one recorded but not announced is left to the reconciliation, which announces it.

    When it was observed: an update's state holds from its answer on (a status check sent while the update was on
    its way, answered sooner, may not have seen it); the state an identification `creates` is the application's
    first (any check of the application saw it or a newer one), so it counts from the identification's sending. An
    update answered after another state was observed while it was on its way (another update, a webhook's check)
    says nothing of which connectFi made last: connectFi's status is asked for then, and stored instead. So is the
    status of the application the write `named` (customer id, application id) when its answer holds no state
    (connectFi publishes no field of an update's answer)."""
    data = envelope_data(response)
    holds_state = is_application_state(data)
    if not holds_state and named is None:
        logger.warning("answer not recorded: it holds no application state", provider=PROVIDER)
        return
    application_id = data["applicationId"] if holds_state else named[1]
    try:
        if not holds_state:
            record_status(*named)
        elif creates:
            record_and_announce(data, observed_at=response.sent_at)
        else:
            try:
                record_and_announce(data, observed_at=response.received_at, sent_at=response.sent_at)
            except ObservedMeanwhile:
                record_status(data["customerId"], application_id)
    except AnnouncementFailed:
        logger.warning("application state not announced yet", provider=PROVIDER, application_id=application_id)
    except Exception as error:  # noqa: BLE001 - see the docstring
        count("ApplicationsNotRecorded", Provider=PROVIDER)
        logger.error(
            "application state not recorded",
            provider=PROVIDER,
            application_id=application_id,
            error=type(error).__name__,
        )


def record_status(customer_id: str, application_id: str) -> None:
    """connectFi's status of the application, stored, where a write's answer cannot say which state it made (its
    call is in the request's audit record: the same caller, subject and correlation id). connectFi failing it leaves
    the state stored before, if any, and such an application in the reconciliation's queue, which checks it (one
    the gateway never stored, started elsewhere, stays unknown to it, as before)."""
    from kyc_gateway.providers.connectfi import client

    try:
        confirmed = client.status(client.StatusRequest(customerId=customer_id, applicationId=application_id))
    except GatewayError as error:
        logger.warning(
            "application state not confirmed: the reconciliation checks it if stored",
            provider=PROVIDER,
            application_id=application_id,
            code=error.code,
        )
        return
    record_and_announce(confirmed.body["data"], observed_at=confirmed.sent_at)


def recorded(operation: Callable[[Request], ProviderResponse]) -> Callable[[Request], ProviderResponse]:
    """`operation` (a connectFi write creating an application), then its answer recorded (record_answer)."""

    def run(request: Request) -> ProviderResponse:
        response = operation(request)
        record_answer(response, creates=True)
        return response

    return run
