"""connectFi documents, done once: a document generated is never generated again (a retry under the same key, an
upload-only request), and which of connectFi's answers to a document call are the caller's and which are connectFi
failing. (The route's wire and checks: test_connectfi_stepup.py.)"""

from __future__ import annotations

import pytest

from tests.integration.routes.test_connectfi import (
    LOGIN,
    connectfi_error,
    login_reply,
)
from tests.integration.routes.test_connectfi_stepup import (
    DOCUMENT,
    DOCUMENT_REQUEST,
    DOCUMENTS_FN,
    GENERATE,
    UPLOAD,
    UPLOAD_PENDING,
    generated,
    upload_pending,
)
from tests.support.fake_provider import Reply
from tests.support.routes import retried_at_once


def test_a_retry_under_the_same_key_after_a_failed_upload_gets_the_same_answer_not_a_second_document(gateway):
    # Given a document generated, then every upload failing
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(GENERATE, generated())
    gateway.provider.reply(UPLOAD, connectfi_error(503, "unavailable"))
    key = [("Idempotency-Key", "documents-1")]

    # When the caller (or its client's own retries) sends the request again under its key
    first = gateway.call(DOCUMENTS_FN, DOCUMENT_REQUEST, headers=key)
    again = gateway.call(DOCUMENTS_FN, DOCUMENT_REQUEST, headers=key)

    # Then it gets the same error naming the same document, and connectFi generated one document only
    assert first.status == again.status == 502
    assert first.error["details"] == again.error["details"]
    assert len(gateway.provider.requests(GENERATE)) == 1
    assert len(gateway.provider.requests(UPLOAD)) == 3  # the first request's attempts only


def test_an_upload_only_request_that_fails_names_no_document_to_retry(gateway):
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(UPLOAD, connectfi_error(400, "documentNotFound", context={"documentId": DOCUMENT}))

    answer = gateway.call(DOCUMENTS_FN, {**DOCUMENT_REQUEST, "documentId": DOCUMENT})

    assert (answer.status, answer.error["code"]) == (422, "document_not_found")
    assert not [detail for detail in answer.error["details"] if detail.get("type") == "upload_pending"]
    assert gateway.provider.requests(GENERATE) == []


@pytest.mark.parametrize("code", ["documentNotFound", "fileNotFound"])
def test_an_upload_answered_200_with_an_error_code_is_connectfi_failing_not_the_callers_document(gateway, code):
    # Given connectFi answering an upload HTTP 200 with one of its codes (its errors come as 4xx)
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(UPLOAD, connectfi_error(200, code))

    # When a caller uploads to a document it names
    answer = gateway.call(DOCUMENTS_FN, {**DOCUMENT_REQUEST, "documentId": DOCUMENT})

    # Then it is connectFi failing, not the caller's document refused
    assert (answer.status, answer.error["code"], answer.error["providerCode"]) == (502, "provider_error", code)


@pytest.mark.parametrize(
    "refusal", [Reply(400, b'{"message": "document not found"}'), Reply(400, b"")], ids=["json without a code", "empty"]
)
def test_an_upload_answered_a_bare_400_is_the_document_unknown(gateway, refusal):
    # Given connectFi answering an upload 400 without its error code (its step-up page: 400 for an unknown document)
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(UPLOAD, refusal)
    gateway.provider.reply(GENERATE, generated())

    # When a caller uploads to a document it names, and another sends a new document
    named = gateway.call(DOCUMENTS_FN, {**DOCUMENT_REQUEST, "documentId": DOCUMENT})
    generated_now = gateway.call(DOCUMENTS_FN, DOCUMENT_REQUEST)

    # Then the caller's document is unknown (422, nothing retried), and the one just generated is connectFi failing
    assert (named.status, named.error["code"], named.error["providerStatus"]) == (422, "document_not_found", 400)
    assert (generated_now.status, generated_now.error["code"]) == (502, "provider_error")
    assert upload_pending(generated_now) == UPLOAD_PENDING
    assert len(gateway.provider.requests(UPLOAD)) == 2


@pytest.mark.parametrize(
    "page",
    [Reply(400, b"Bad Request", "text/plain"), Reply(400, b"<html><h1>400 Bad Request</h1></html>", "text/html")],
)
def test_an_upload_answered_400_by_a_page_not_connectfis_is_502_never_the_callers_document(gateway, page):
    # Given a 400 page from something in front of connectFi (a proxy, a parser of the multipart the gateway built)
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(UPLOAD, page)

    # When a caller uploads to a document it names
    answer = gateway.call(DOCUMENTS_FN, {**DOCUMENT_REQUEST, "documentId": DOCUMENT})

    # Then it says nothing of the document: connectFi (or what is in front of it) failing
    assert (answer.status, answer.error["code"]) == (502, "provider_bad_response")


@pytest.mark.parametrize("code", ["documentNotFound", "fileNotFound"])
def test_connectfi_not_finding_what_the_gateway_just_made_or_sent_is_502_naming_the_document(gateway, code):
    # Given connectFi generated a document, then answers its upload that it finds no document (the id it just
    # gave), or no file (in the multipart the gateway built): connectFi failing, not the caller
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(GENERATE, generated())
    gateway.provider.reply(UPLOAD, connectfi_error(400, code))

    answer = gateway.call(DOCUMENTS_FN, DOCUMENT_REQUEST)

    assert (answer.status, answer.error["code"], answer.error["providerCode"]) == (502, "provider_error", code)
    assert upload_pending(answer) == UPLOAD_PENDING


@pytest.mark.parametrize("code", ["applicationNotFound", "customerNotFound", "statusApplicationEntity"])
@pytest.mark.parametrize("step", ["generate", "upload"])
def test_connectfi_answering_about_a_subject_a_document_call_never_names_is_502(gateway, code, step):
    # Given connectFi answers a document's generation or its upload (which name no customer and no application)
    # that it finds no such subject, or that the application's state refuses it: connectFi failing, not the
    # caller's 404 or 422
    gateway.provider.reply(LOGIN, login_reply())
    if step == "generate":
        gateway.provider.reply(GENERATE, connectfi_error(404, code))
    else:
        gateway.provider.reply(GENERATE, generated())
        gateway.provider.reply(UPLOAD, connectfi_error(404, code))

    answer = gateway.call(DOCUMENTS_FN, DOCUMENT_REQUEST)

    assert (answer.status, answer.error["code"], answer.error["providerCode"]) == (502, "provider_error", code)


@pytest.mark.parametrize(
    "answered",
    [
        {"code": "0", "data": {"id": DOCUMENT, "uploadStatus": False}},
        {"uploadStatus": False},
        {"code": "extAkepa", "message": "an error in the back office"},  # connectFi's error envelope, in a 200
    ],
)
def test_an_upload_answered_200_that_says_it_failed_is_a_failed_upload(gateway, answered):
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(GENERATE, generated())
    gateway.provider.reply(UPLOAD, answered)

    answer = gateway.call(DOCUMENTS_FN, DOCUMENT_REQUEST)

    assert (answer.status, answer.error["code"]) == (502, "provider_error")
    assert [d["documentId"] for d in answer.error["details"] if d.get("type") == "upload_pending"] == [DOCUMENT]


def test_a_generate_answer_without_an_id_leaves_the_key_with_an_unknown_outcome(gateway):
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(GENERATE, {"code": "0", "data": {}})
    key = [("Idempotency-Key", "documents-2")]

    first = gateway.call(DOCUMENTS_FN, DOCUMENT_REQUEST, headers=key)
    again = gateway.call(DOCUMENTS_FN, DOCUMENT_REQUEST, headers=key)

    assert (first.status, first.error["code"]) == (502, "provider_bad_response")
    assert (again.status, again.error["code"]) == (409, "idempotency_outcome_unknown")
    assert len(gateway.provider.requests(GENERATE)) == 1


@pytest.mark.parametrize("fault", ["reset", "status", "rate_limit"])
def test_the_upload_is_retried_past_one_fault_and_generate_is_not_repeated(sandboxed_gateway, fault):
    sandbox = sandboxed_gateway.provider
    assert sandboxed_gateway.call(DOCUMENTS_FN, DOCUMENT_REQUEST).status == 200  # token cached
    generates, uploads = (sandbox.call_count("connectfi", op) for op in ("document_generate", "document_upload"))
    sandbox.inject_fault("connectfi", "document_upload", fault, **retried_at_once(fault))

    answer = sandboxed_gateway.call(DOCUMENTS_FN, DOCUMENT_REQUEST)

    assert answer.status == 200, answer.text
    assert sandbox.call_count("connectfi", "document_generate") - generates == 1
    assert sandbox.call_count("connectfi", "document_upload") - uploads == 2
