"""The AWS emulator's TransactWriteItems (the audit's write of several subjects): a cancelled transaction leaves
every item as it was, and no transaction copies a whole table (moto's own backup did, which made each audit write
of several subjects take seconds once the audit table held thousands of records, with the rest of the stack waiting
behind it)."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError
from moto.dynamodb.models.table import Table

TABLE = "emulator-transactions"


@pytest.fixture
def dynamodb(aws):
    client = aws.client("dynamodb")
    client.create_table(
        TableName=TABLE,
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        BillingMode="PAY_PER_REQUEST",
    )
    for n in range(50):
        client.put_item(TableName=TABLE, Item={"pk": {"S": f"other-{n}"}, "sk": {"S": "x"}, "n": {"N": str(n)}})
    return client


@pytest.fixture
def tables_never_copied(monkeypatch):
    def refuse(*_):
        raise AssertionError("a whole table was copied")

    monkeypatch.setattr(Table, "__deepcopy__", refuse, raising=False)


def key(pk: str) -> dict:
    return {"pk": {"S": pk}, "sk": {"S": "x"}}


def items(client) -> dict[str, dict]:
    return {item["pk"]["S"]: item for item in client.scan(TableName=TABLE)["Items"]}


def test_a_cancelled_transaction_leaves_every_item_it_named_as_it_was(dynamodb, tables_never_copied):
    # Given an item to overwrite, one to update, one to delete, and no item under a fourth key
    for pk in ("overwritten", "updated", "deleted"):
        dynamodb.put_item(TableName=TABLE, Item=key(pk) | {"state": {"S": "before"}})
    before = items(dynamodb)

    # When a transaction writes all four, then fails a condition on its last item
    with pytest.raises(ClientError) as refused:
        dynamodb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": TABLE, "Item": key("overwritten") | {"state": {"S": "after"}}}},
                {
                    "Update": {
                        "TableName": TABLE,
                        "Key": key("updated"),
                        "UpdateExpression": "SET #s = :s, extra = :s",
                        "ExpressionAttributeNames": {"#s": "state"},
                        "ExpressionAttributeValues": {":s": {"S": "after"}},
                    }
                },
                {"Delete": {"TableName": TABLE, "Key": key("deleted")}},
                {"Put": {"TableName": TABLE, "Item": key("created") | {"state": {"S": "after"}}}},
                {
                    "ConditionCheck": {
                        "TableName": TABLE,
                        "Key": key("other-1"),
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
            ]
        )

    # Then it is cancelled for that item, and the table holds exactly what it held before
    assert refused.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert items(dynamodb) == before


def test_a_transaction_that_succeeds_writes_every_item_without_copying_the_table(dynamodb, tables_never_copied):
    dynamodb.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": TABLE, "Item": key("first"), "ConditionExpression": "attribute_not_exists(pk)"}},
            {"Put": {"TableName": TABLE, "Item": key("second"), "ConditionExpression": "attribute_not_exists(pk)"}},
        ]
    )

    assert {"first", "second"} <= set(items(dynamodb))
    assert len(items(dynamodb)) == 52


@pytest.mark.parametrize(
    "refused",
    [
        {"Delete": {"TableName": TABLE, "Key": key("written")}},  # the same item twice
        {"Delete": {"TableName": TABLE, "Key": {"pk": {"S": "other-1"}}}},  # a key without its sort key
    ],
    ids=["an item named twice", "an incomplete key"],
)
def test_a_transaction_refused_after_its_first_writes_changes_nothing(dynamodb, tables_never_copied, refused):
    # Given the table as it is
    before = items(dynamodb)

    # When a transaction writes an item, then names one moto refuses outright
    with pytest.raises(ClientError) as error:
        dynamodb.transact_write_items(
            TransactItems=[{"Put": {"TableName": TABLE, "Item": key("written") | {"n": {"N": "1"}}}}, refused]
        )

    # Then it is refused as invalid, and the first write is undone
    assert error.value.response["Error"]["Code"] == "ValidationException"
    assert items(dynamodb) == before
