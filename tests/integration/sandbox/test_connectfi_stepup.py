"""The connectFi sandbox's step-up: documents checked against connectFi's generate schema, files taken as
multipart/form-data only, updates that complete an entity once both sides are attached, manual reviews that end
with a webhook, and nothing attached to a completed application."""

from __future__ import annotations

import json
import time
import uuid

import pytest
import requests

from tests.integration.sandbox.conftest import TIMEOUT, assert_json, connectfi, connectfi_token

JPEG = b"\xff\xd8\xff\xe0" + b"image" + b"\xff\xd9"
GENERATE = {"workflow": "PERSONAL", "name": "license", "extension": "jpg", "type": "license"}


@pytest.fixture
def cfi_token(sandbox):
    return connectfi_token(sandbox.base_urls())


def upload(urls, token, document_id, content=JPEG, field="file"):
    return requests.post(
        f"{urls['CONNECTFI_BASE_URL']}/akepa/document/upload/{document_id}",
        files={field: ("license.jpg", content, "image/jpeg")},
        headers={"x-connectfi-token": token},
        timeout=TIMEOUT,
    )


def document(urls, token, **fields) -> str:
    answer = assert_json(connectfi(urls, "/akepa/document/generate", {**GENERATE, **fields}, token), 200)
    assert assert_json(upload(urls, token, answer["data"]["id"]), 200)["data"]["uploadStatus"] is True
    return answer["data"]["id"]


def identification(urls, token, reference="STEP1", customer="cstap_stepup", webhook=None) -> dict:
    body = {"customerId": customer, "reference": reference} | ({"webhookUrl": webhook} if webhook else {})
    return assert_json(connectfi(urls, "/akepa/identification", body, token), 200)["data"]


def update(urls, token, created, *sides, documents=None):
    body = {
        "customerId": created["customerId"],
        "applicationId": created["applicationId"],
        "entityId": created["customerId"],
        "documents": documents or [{"documentId": document(urls, token), "side": side} for side in sides],
    }
    return connectfi(urls, "/akepa/update", body, token)


@pytest.mark.parametrize(
    ("change", "keyword"),
    [
        ({"workflow": "personal"}, "enum"),
        ({"type": "drivers_license"}, "enum"),
        ({"name": "   "}, "isNotOnlyWhitespace"),
        ({"name": "a<b"}, "pattern"),
        ({"note_author_agent_email": "nobody"}, "format"),
        ({"file": "abc"}, "additionalProperties"),
    ],
)
def test_generate_checks_connectfis_schema(urls, cfi_token, change, keyword):
    answer = assert_json(connectfi(urls, "/akepa/document/generate", {**GENERATE, **change}, cfi_token), 400)
    assert answer["code"] == "requestValidateError" and answer["context"][0]["keyword"] == keyword


def test_the_upload_takes_a_multipart_file_only(urls, cfi_token):
    document_id = assert_json(connectfi(urls, "/akepa/document/generate", GENERATE, cfi_token), 200)["data"]["id"]
    as_json = connectfi(urls, f"/akepa/document/upload/{document_id}", {"file": "/9j/4AAQ"}, cfi_token)
    assert assert_json(as_json, 400)["code"] == "fileNotFound"
    assert assert_json(upload(urls, cfi_token, document_id, field="image"), 400)["code"] == "fileNotFound"
    assert assert_json(upload(urls, cfi_token, "doc_unknown"), 400)["code"] == "documentNotFound"
    assert assert_json(upload(urls, cfi_token, document_id), 200)["data"] == {
        "id": document_id,
        "uploadStatus": True,
        "extension": "jpg",
    }


def test_both_sides_complete_the_entity_and_nothing_is_attached_after(urls, cfi_token):
    created = identification(urls, cfi_token)
    assert assert_json(update(urls, cfi_token, created, "front"), 200)["data"]["status"] == "pending_step_up"
    completed = assert_json(update(urls, cfi_token, created, "back"), 200)["data"]
    assert (completed["status"], completed["outcome"]) == ("completed", "Approved")
    assert assert_json(update(urls, cfi_token, created, "front"), 400)["code"] == "statusApplicationEntity"


def test_an_update_names_documents_that_are_unknown_or_not_uploaded(urls, cfi_token):
    created = identification(urls, cfi_token)
    unknown = [{"documentId": "doc_unknown", "side": "front"}]
    assert assert_json(update(urls, cfi_token, created, documents=unknown), 400)["code"] == "documentNotFound"
    generated = assert_json(connectfi(urls, "/akepa/document/generate", GENERATE, cfi_token), 200)["data"]["id"]
    not_uploaded = [{"documentId": generated, "side": "front"}]
    assert assert_json(update(urls, cfi_token, created, documents=not_uploaded), 400)["code"] == "fileNotFound"
    wrong_side = [{"documentId": generated, "side": "left"}]
    assert assert_json(update(urls, cfi_token, created, documents=wrong_side), 400)["code"] == "requestValidateError"


def test_a_review_application_waits_then_completes_with_a_webhook(make_sandbox, receiver):
    box = make_sandbox(webhook_delay=0.1)
    urls = box.base_urls()
    token = connectfi_token(urls)
    created = identification(urls, token, reference="REVIEW1", webhook=receiver.url("/hook"))
    assert created["status"] == "pending_step_up"

    waiting = assert_json(update(urls, token, created, "front", "back"), 200)["data"]
    assert waiting["status"] == "waiting_review"

    (delivery,) = receiver.wait_for(1, timeout=15)
    webhook = json.loads(delivery[2])["data"]
    assert (webhook["applicationId"], webhook["status"], webhook["outcome"]) == (
        created["applicationId"],
        "completed",
        "Approved",
    )


@pytest.mark.parametrize(
    ("mode", "body"),
    [("message", {"message": "Document not found."}), ("empty", None)],
)
def test_an_upload_to_an_unknown_document_can_be_refused_without_connectfis_code(make_sandbox, mode, body):
    # Given a sandbox playing connectFi's step-up page, which promises only a 400 for an unknown document
    urls = make_sandbox(connectfi_unknown_upload=mode).base_urls()
    token = connectfi_token(urls)

    # When a file is uploaded to a document never generated, and to one that was
    unknown = upload(urls, token, "doc_neverGenerated")
    known = upload(urls, token, document(urls, token))

    # Then the unknown one is a 400 without a code (a message only, or nothing), the known one is taken
    assert unknown.status_code == 400
    assert (unknown.json() if body else unknown.content) == (body or b"")
    assert assert_json(known, 200)["data"]["uploadStatus"] is True


def test_the_generated_id_can_be_answered_as_document_id(make_sandbox):
    box = make_sandbox(connectfi_document_id_field="documentId")
    urls = box.base_urls()
    token = connectfi_token(urls)
    answer = assert_json(connectfi(urls, "/akepa/document/generate", GENERATE, token), 200)
    assert set(answer["data"]) == {"documentId"}


def test_generated_document_ids_can_be_uuids_which_upload_and_update_then_take(make_sandbox):
    box = make_sandbox(connectfi_document_ids="uuid")
    urls = box.base_urls()
    token = connectfi_token(urls)
    created = identification(urls, token, reference="UUIDDOCS")

    front, back = document(urls, token), document(urls, token)
    answer = update(
        urls, token, created, documents=[{"documentId": front, "side": "front"}, {"documentId": back, "side": "back"}]
    )

    assert str(uuid.UUID(front)) == front and str(uuid.UUID(back)) == back
    assert assert_json(answer, 200)["data"]["status"] == "completed"
    # and an id of the other form is refused by the update's schema, as a connectFi of UUID ids would refuse it
    other = update(urls, token, created, documents=[{"documentId": "doc_notAUuid", "side": "front"}])
    assert (other.status_code, other.json()["code"]) == (400, "requestValidateError")


def test_a_repeated_review_update_schedules_one_review(make_sandbox, receiver):
    box = make_sandbox(webhook_delay=0.2)
    urls = box.base_urls()
    token = connectfi_token(urls)
    created = identification(urls, token, reference="REVIEW2", webhook=receiver.url("/hook"))
    assert assert_json(update(urls, token, created, "front", "back"), 200)["data"]["status"] == "waiting_review"
    assert assert_json(update(urls, token, created, "front"), 200)["data"]["status"] == "waiting_review"

    receiver.wait_for(1, timeout=15)
    time.sleep(0.5)
    assert len(receiver.bodies) == 1


def test_an_update_naming_an_entity_not_of_the_application_is_an_unknown_customer(urls, cfi_token):
    created = identification(urls, cfi_token)
    body = {
        "customerId": created["customerId"],
        "applicationId": created["applicationId"],
        "entityId": "cstap_notAnEntityOfIt",
        "documents": [{"documentId": document(urls, cfi_token), "side": "front"}],
    }
    assert assert_json(connectfi(urls, "/akepa/update", body, cfi_token), 400)["code"] == "customerNotFound"
