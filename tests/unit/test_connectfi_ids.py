"""connectFi's identifiers as audit subjects (kyc_gateway.providers.connectfi.common): customers, applications and
entities in connectFi's common-id form; a document's id in any form connectFi answers it (it publishes none)."""

from __future__ import annotations

import pytest

from kyc_gateway.providers.connectfi.common import answered_ids, document_id_of


@pytest.mark.parametrize(
    ("answered", "subject"),
    [("3f2b8c1e-9d4a", "3f2b8c1e-9d4a"), (123456, "123456"), ("doc_1", "doc_1"), ("a b", "a b")],
)
def test_a_document_id_in_any_form_connectfi_answers_is_the_documents_subject(answered, subject):
    # at the top of the gateway's answer, or in connectFi's `data`
    assert list(answered_ids({"documentId": answered}, "document", "documentId")) == [("document", subject)]
    assert list(answered_ids({"data": {"id": answered}}, "document", "documentId", "id")) == [("document", subject)]


@pytest.mark.parametrize("answered", ["bad id!", "3f2b8c1e-9d4a", "x" * 37, 7, None, ""])
def test_an_application_id_outside_connectfis_common_id_form_is_no_subject(answered):
    assert list(answered_ids({"data": {"applicationId": answered}}, "application", "applicationId")) == []


@pytest.mark.parametrize("answered", [None, "", ".", "..", True, ["doc_1"], {}, 1.5])
def test_nothing_that_cannot_be_a_document_id_is_read_as_one(answered):
    assert document_id_of(answered) is None
    assert list(answered_ids({"documentId": answered}, "document", "documentId")) == []
