"""SQS consumer of connectFi webhooks: confirm each with /akepa/status, store it, announce changes."""

from kyc_gateway.providers.connectfi import webhooks
from kyc_gateway.sqs import sqs_batch_handler

lambda_handler = sqs_batch_handler(
    webhooks.ROUTE,
    webhooks.process_record,
    plan_retry=webhooks.plan_retry,
    margin_seconds=webhooks.BATCH_MARGIN_SECONDS,
    hand_back=webhooks.hand_back,
)
