"""The quick client (the audit record's put, a webhook's send) as built, and as the tests check its calls."""

from __future__ import annotations

import pytest
from botocore.exceptions import ParamValidationError
from botocore.validate import ParamValidationDecorator

from local.functions import cold_start


def test_the_quick_client_leaves_parameter_checks_to_the_service_and_the_tests_still_make_them(aws):
    from kyc_gateway import aws as clients

    # Given the quick DynamoDB client of a new instance
    cold_start()
    quick = clients.quick_client("dynamodb")

    # Then it is built without botocore's parameter checks (the service checks them), unlike the instance's client
    assert not isinstance(quick._serializer, ParamValidationDecorator)
    assert isinstance(clients.client("dynamodb")._serializer, ParamValidationDecorator)
    # and a malformed call is still refused in tests, before it is sent
    with pytest.raises(ParamValidationError):
        quick.put_item(TableName="audit", Item={"fingerprint": {"S": 1}})
