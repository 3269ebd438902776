"""Scheduled: re-check connectFi applications that are not final, as a lost webhook would have told."""

from kyc_gateway.providers.connectfi import reconciliation
from kyc_gateway.scheduled import scheduled_handler

lambda_handler = scheduled_handler(reconciliation.ROUTE, reconciliation.reconcile)
