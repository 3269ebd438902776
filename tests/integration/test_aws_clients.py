"""The layer's AWS clients (kyc_gateway/aws.py): each is whole before any thread can use it."""

from __future__ import annotations

import botocore.errorfactory

from kyc_gateway import aws


def test_a_clients_exception_classes_are_built_with_it_under_the_creation_lock(monkeypatch):
    # Given botocore's factory of a client's exception classes, noting whether client creation's lock is held
    built_while_locked = []
    create = botocore.errorfactory.ClientExceptionsFactory.create_client_exceptions

    def noting(factory, service_model):
        built_while_locked.append(aws._CREATING.locked())
        return create(factory, service_model)

    monkeypatch.setattr(botocore.errorfactory.ClientExceptionsFactory, "create_client_exceptions", noting)

    # When a client is made
    client = aws._new_client("dynamodb", connect_timeout=1, read_timeout=1, attempts=1)

    # Then its exception classes were built once, under the lock: two threads meeting a first error can never each
    # build their own (an `except aws.conditional_check_failed()` would then miss the other thread's class)
    assert built_while_locked == [True]
    client.exceptions.ConditionalCheckFailedException  # noqa: B018 - used: never built again
    assert built_while_locked == [True]
    # And every client of a service raises the same classes, the short-budget one too
    assert aws.quick_client("dynamodb").exceptions is aws.client("dynamodb").exceptions
