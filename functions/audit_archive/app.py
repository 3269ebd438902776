"""DynamoDB stream of the audit table: each change of a record into the Object Lock archive (docs/audit.md)."""

from kyc_gateway import audit_archive
from kyc_gateway.sqs import stream_batch_handler

lambda_handler = stream_batch_handler(audit_archive.ROUTE, audit_archive.archive)
