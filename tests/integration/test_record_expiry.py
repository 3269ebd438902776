"""Every record the gateway keeps for a time carries the attribute its table's time to live reads, as deployed, in
seconds since the epoch: a record under another name, or in milliseconds, would never expire (personal data kept
for ever), and nothing else would show it."""

from __future__ import annotations

import time

from tests.integration.routes.test_cdp import ONBOARD, ONBOARD_FN, ONBOARD_SUCCESS, ONBOARDING_BODY, TOKEN, token_reply
from tests.integration.test_deployed_template import of_type, transformed

YEAR = 366 * 24 * 3600


# The tables whose records must expire (a token, a key's answer, an audit record): named here, not found by the
# setting under test, so that a table whose time to live is turned off fails this drill rather than leaving it.
EXPIRING = {"TokenTable", "IdempotencyTable", "AuditTable"}


def test_every_record_a_write_leaves_carries_its_tables_expiry_in_epoch_seconds(gateway, aws, physical_ids):
    # Given the tables whose records expire, and the attribute each one's time to live reads, as deployed
    tables = of_type(transformed("dev"), "AWS::DynamoDB::Table")
    expiring = {}
    for name in EXPIRING:
        ttl = tables[name]["Properties"].get("TimeToLiveSpecification") or {}
        assert ttl.get("Enabled") is True, f"{name}'s records would never expire"
        expiring[name] = ttl["AttributeName"]
    # and no other table's: the applications' states are kept (reconciliation reads them)
    assert {name for name, table in tables.items() if "TimeToLiveSpecification" in table["Properties"]} == EXPIRING

    # When a caller onboards a customer at CDP under an Idempotency-Key: a token, a claim and audit records written
    gateway.provider.reply(TOKEN, token_reply(1))
    gateway.provider.reply(ONBOARD, ONBOARD_SUCCESS)
    answer = gateway.call(ONBOARD_FN, ONBOARDING_BODY, headers=[("Idempotency-Key", "expiry-drill-0001")])
    assert answer.status == 200, answer.text

    # Then every record of those tables expires, at a time in seconds since the epoch, later than now, within years
    now, dynamodb = time.time(), aws.client("dynamodb")
    for table, attribute in expiring.items():
        records = dynamodb.scan(TableName=physical_ids[table])["Items"]
        assert records, table
        for record in records:
            assert now < float(record[attribute]["N"]) < now + 6 * YEAR, (table, sorted(record))
