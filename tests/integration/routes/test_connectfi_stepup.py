"""connectFi step-up (documents, and the whole journey) through the real handlers: the wire against a connectFi
double, and the journey against the provider sandbox. (A document done once, and connectFi's answers to document
calls: test_connectfi_documents.py; the update alone: test_connectfi_update.py.)"""

from __future__ import annotations

import base64
from urllib.parse import quote

import pytest

from tests.integration.routes.test_connectfi import (
    APPLICATION,
    CUSTOMER,
    LOGIN,
    connectfi_error,
    login_reply,
)
from tests.support.fake_provider import Reply

DOCUMENTS_FN, UPDATE_FN = "ConnectFiDocumentsFunction", "ConnectFiUpdateFunction"
GENERATE, UPDATE = "/connectfi/akepa/document/generate", "/connectfi/akepa/update"
DOCUMENT = "doc_4iLwO3xW6hyfrNW5ojMVy2"
UPLOAD = f"/connectfi/akepa/document/upload/{DOCUMENT}"
JPEG = bytes.fromhex("ffd8ffe000104a46494600010100000100010000") + b"PRIVATE-IMAGE-BYTES" + b"\xff\xd9"
PNG = b"\x89PNG\r\n\x1a\n" + b"PRIVATE-PNG-BYTES"
GENERATE_FIELDS = {"workflow": "PERSONAL", "name": "Driver license front", "extension": "jpg", "type": "license"}
DOCUMENT_REQUEST = {**GENERATE_FIELDS, "file": base64.b64encode(JPEG).decode()}
UPDATE_REQUEST = {
    "customerId": CUSTOMER,
    "applicationId": APPLICATION,
    "entityId": CUSTOMER,
    "documents": [{"documentId": DOCUMENT, "side": "front"}, {"documentId": "doc_back", "side": "back"}],
}


def generated(document_id: str = DOCUMENT, field: str = "id") -> dict:
    return {"code": "0", "data": {field: document_id}, "requestId": "gen-1"}


def uploaded() -> dict:
    return {"code": "0", "data": {"id": DOCUMENT, "uploadStatus": True, "extension": "jpg"}, "requestId": "up-1"}


UPLOAD_PENDING = {
    "field": "documentId",
    "issue": "the document was generated but its file was not uploaded: send the request again with this "
    "documentId (under a new Idempotency-Key) to upload only",
    "type": "upload_pending",
    "documentId": DOCUMENT,
}


def upload_pending(answer) -> dict:
    """The one detail of an error naming the generated document for an upload-only retry."""
    (pending,) = [detail for detail in answer.error["details"] if detail.get("type") == "upload_pending"]
    return pending


def multipart_file(request) -> tuple[str, str, bytes]:
    """(file name, media type, content) of the `file` field of a recorded multipart/form-data request."""
    import email.parser
    import email.policy

    content_type = request.headers["Content-Type"]
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + request.body
    )
    (part,) = [part for part in message.iter_parts() if part.get_param("name", header="content-disposition") == "file"]
    return part.get_filename(), part.get_content_type(), part.get_payload(decode=True)


# --- documents ------------------------------------------------------------------------------------------------


def test_a_document_is_generated_then_its_decoded_image_uploaded_as_multipart(gateway):
    # Given connectFi generating a document and accepting its file
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(GENERATE, generated())
    gateway.provider.reply(UPLOAD, uploaded())

    # When a caller sends the generate fields and the image
    answer = gateway.call(DOCUMENTS_FN, DOCUMENT_REQUEST)

    # Then generate got exactly connectFi's fields, and the upload the image's bytes in the `file` field
    assert answer.status == 200, answer.text
    assert answer.json() == {**uploaded(), "documentId": DOCUMENT, "uploadStatus": True}
    (generate,) = gateway.provider.requests(GENERATE)
    assert generate.json() == GENERATE_FIELDS
    (upload,) = gateway.provider.requests(UPLOAD)
    assert upload.headers["Content-Type"].startswith("multipart/form-data; boundary=")
    assert upload.headers["x-connectfi-token"] == "cfi-token-1"
    assert multipart_file(upload) == ("document.jpg", "image/jpeg", JPEG)


@pytest.mark.parametrize(
    ("body", "answered"),
    [
        (b"", {}),
        (b"true", {}),
        (b"OK", {}),
        (b"{}", {}),
        (b'{"code": "0", "requestId": "x1"}', {"code": "0", "requestId": "x1"}),
        (b'{"code": "0", "data": ["x1"]}', {"code": "0", "data": ["x1"]}),  # its data not an object
        (b'{"data": "accepted"}', {"data": "accepted"}),
    ],
)
def test_any_200_to_the_upload_is_the_file_accepted_whatever_its_body(gateway, body, answered):
    # Given connectFi accepting the file with a 200 whose body it does not publish
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(GENERATE, generated())
    gateway.provider.reply(UPLOAD, Reply(200, body, content_type="application/json" if body else "text/plain"))

    # When the document is sent
    answer = gateway.call(DOCUMENTS_FN, DOCUMENT_REQUEST)

    # Then the upload is done: its answer (a JSON object, else nothing of it) with the document named, sent once
    assert answer.status == 200, answer.text
    assert answer.json() == {**answered, "documentId": DOCUMENT, "uploadStatus": True}
    assert len(gateway.provider.requests(UPLOAD)) == 1


@pytest.mark.parametrize(
    "body",
    [b'{"code": "fileNotFound", "message": "no file", "n": NaN}', b'{"uploadStatus": false, "uploadStatus": true}'],
)
def test_a_200_to_the_upload_in_json_that_is_not_strict_is_connectfi_failing_never_the_file_accepted(gateway, body):
    # Given connectFi answering the upload 200 in JSON the gateway cannot read faithfully (an error code beside NaN;
    # which uploadStatus is meant?)
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(GENERATE, generated())
    gateway.provider.reply(UPLOAD, Reply(200, body))

    answer = gateway.call(DOCUMENTS_FN, DOCUMENT_REQUEST)

    # Then it is not answered as the file accepted
    assert (answer.status, answer.error["code"]) == (502, "provider_bad_response")


def test_the_generated_id_is_read_under_either_name(gateway):
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(GENERATE, generated(field="documentId"))
    gateway.provider.reply(UPLOAD, uploaded())

    answer = gateway.call(DOCUMENTS_FN, DOCUMENT_REQUEST)

    assert answer.json()["documentId"] == DOCUMENT


@pytest.mark.parametrize(
    ("answered", "document_id"),
    [
        ("3f2b8c1e-9d4a-4f6e-8b7a-2c1d0e9f8a7b", "3f2b8c1e-9d4a-4f6e-8b7a-2c1d0e9f8a7b"),
        (123456, "123456"),
        ("../../akepa/update", "../../akepa/update"),
        ("a b?c#d%e", "a b?c#d%e"),
    ],
    ids=["a UUID", "a number", "slashes and dots", "a URL's delimiters"],
)
def test_a_generated_id_in_any_form_is_uploaded_to_its_own_path(gateway, answered, document_id):
    # Given connectFi answering the generate with an id of a form it publishes nothing about
    own_path = "/connectfi/akepa/document/upload/" + quote(document_id, safe="")
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(GENERATE, generated(answered))
    gateway.provider.reply(own_path, uploaded())

    answer = gateway.call(DOCUMENTS_FN, DOCUMENT_REQUEST)

    # Then the file goes to that document, the id one segment of the upload's path, and the caller is told the id
    assert answer.status == 200 and answer.json()["documentId"] == document_id
    assert [r.path for r in gateway.provider.requests() if "/upload/" in r.path] == [own_path]


@pytest.mark.parametrize("named", [".", ".."])
def test_a_document_id_no_url_path_can_carry_is_refused_saying_why(gateway, named):
    answer = gateway.call(DOCUMENTS_FN, {**DOCUMENT_REQUEST, "documentId": named})

    assert (answer.status, answer.error["code"]) == (400, "validation_error")
    (detail,) = answer.error["details"]
    assert (detail["field"], detail["issue"]) == (
        "documentId",
        "Value error, must be a document id, not a URL path's dot segment",
    )
    assert gateway.provider.requests() == []


def test_a_caller_named_document_in_any_form_is_uploaded_to_its_own_path(gateway):
    own_path = "/connectfi/akepa/document/upload/doc%2F..%2Fx%3Fy"
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(own_path, uploaded())

    answer = gateway.call(DOCUMENTS_FN, {**DOCUMENT_REQUEST, "documentId": "doc/../x?y"})

    assert answer.status == 200 and answer.json()["documentId"] == "doc/../x?y"
    assert [r.path for r in gateway.provider.requests() if "/upload/" in r.path] == [own_path]
    assert gateway.provider.requests(GENERATE) == []


@pytest.mark.parametrize(
    "data", [{}, {"id": ""}, {"id": "."}, {"id": ".."}, {"id": None}, {"id": True}, {"id": ["doc_1"]}, {"id": {}}]
)
def test_a_generate_answer_without_a_usable_id_is_502_and_nothing_is_uploaded(gateway, data):
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(GENERATE, {"code": "0", "data": data})

    answer = gateway.call(DOCUMENTS_FN, DOCUMENT_REQUEST)

    assert (answer.status, answer.error["code"]) == (502, "provider_bad_response")
    assert not [r for r in gateway.provider.requests() if "/upload/" in r.path]


def test_a_failed_upload_is_retried_then_names_the_generated_document_for_an_upload_only_retry(gateway):
    # Given connectFi generating a document, then failing every upload
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(GENERATE, generated())
    gateway.provider.reply(UPLOAD, connectfi_error(503, "unavailable"))

    # When the document is sent, Then the upload was retried and the error names the generated document
    answer = gateway.call(DOCUMENTS_FN, DOCUMENT_REQUEST)
    assert answer.status == 502
    assert len(gateway.provider.requests(UPLOAD)) == 3  # the gateway's own attempts
    assert upload_pending(answer) == UPLOAD_PENDING

    # When the caller sends the same request with that documentId, Then only the upload is made
    gateway.provider.reply(UPLOAD, uploaded())
    retry = gateway.call(DOCUMENTS_FN, {**DOCUMENT_REQUEST, "documentId": DOCUMENT})
    assert retry.status == 200 and retry.json()["documentId"] == DOCUMENT
    assert len(gateway.provider.requests(GENERATE)) == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"file": "data:image/jpeg;base64," + DOCUMENT_REQUEST["file"]}, "file"),
        ({"file": ""}, "file"),  # no content: nothing to upload
        ({"workflow": "personal"}, "workflow"),
        ({"type": ""}, "type"),
        ({"type": 7}, "type"),
        ({"extension": "pdf"}, "extension"),
        ({"name": " \u00a0\u3000"}, "name"),  # only whitespace, as JavaScript trims it
        ({"name": "x" * 51}, "name"),
        ({"name": "a <b>"}, "name"),
        ({"note": "line\nbreak"}, "note"),
        ({"note_author_agent_email": 7}, "note_author_agent_email"),
        ({"documentId": ""}, "documentId"),
        ({"documentId": "."}, "documentId"),  # a dot segment: no URL path can carry it
        ({"documentId": ".."}, "documentId"),
        ({"documentId": 7}, "documentId"),
        ({"side": "front"}, "side"),  # not a generate field: connectFi refuses unknown fields
    ],
)
def test_invalid_documents_get_400_and_no_provider_call(gateway, change, field):
    answer = gateway.call(DOCUMENTS_FN, {**DOCUMENT_REQUEST, **change})

    assert (answer.status, answer.error["code"]) == (400, "validation_error"), answer.text
    assert field in {detail["field"] for detail in answer.error["details"]}
    assert gateway.provider.requests() == []


@pytest.mark.parametrize(
    ("extension", "content", "media_type"),
    [("jpg", PNG, "image/jpeg"), ("png", JPEG, "image/png"), ("jpg", b"not an image", "image/jpeg")],
    ids=["a PNG declared as jpg", "a JPEG declared as png", "no image at all"],
)
def test_the_images_content_is_connectfis_to_judge(gateway, extension, content, media_type):
    # Given content that is not what its declared extension names (connectFi documents no check of it)
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(GENERATE, generated())
    gateway.provider.reply(UPLOAD, uploaded())
    request = {**DOCUMENT_REQUEST, "extension": extension, "file": base64.b64encode(content).decode()}

    # When the document is sent
    answer = gateway.call(DOCUMENTS_FN, request)

    # Then it is uploaded as sent, under the declared extension's name and media type
    assert answer.status == 200, answer.text
    (upload,) = gateway.provider.requests(UPLOAD)
    assert multipart_file(upload) == (f"document.{extension}", media_type, content)


@pytest.mark.parametrize("newline", ["\n", "\r\n"], ids=["base64 and openssl", "MIME"])
def test_an_image_base64_wrapped_in_lines_as_the_usual_tools_write_it_is_uploaded_whole(gateway, newline):
    # Given an image whose base64 is wrapped every 76 characters, as `base64 photo.jpg` (LF) or MIME (CRLF) write it
    image = JPEG + bytes(range(256)) * 2
    encoded = base64.b64encode(image).decode()
    wrapped = newline.join(encoded[at : at + 76] for at in range(0, len(encoded), 76)) + newline
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(GENERATE, generated())
    gateway.provider.reply(UPLOAD, uploaded())

    # When it is sent
    answer = gateway.call(DOCUMENTS_FN, {**DOCUMENT_REQUEST, "file": wrapped})

    # Then the image's bytes are uploaded, every one
    assert answer.status == 200, answer.text
    (upload,) = gateway.provider.requests(UPLOAD)
    assert multipart_file(upload) == ("document.jpg", "image/jpeg", image)


def test_a_document_type_connectfi_may_add_is_connectfis_to_judge(gateway):
    # Given connectFi generating a document of a type its published list does not hold (the list is connectFi's)
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(GENERATE, generated())
    gateway.provider.reply(UPLOAD, uploaded())

    # When a caller sends it
    answer = gateway.call(DOCUMENTS_FN, {**DOCUMENT_REQUEST, "type": "drivers_license"})

    # Then it is sent as given
    assert answer.status == 200, answer.text
    assert gateway.provider.requests(GENERATE)[0].json()["type"] == "drivers_license"


@pytest.mark.parametrize("blank", ["\ufeff", "\u205f\u200a", "\t\v"], ids=["bom", "separators", "controls"])
def test_a_name_javascript_trims_to_nothing_is_refused_saying_so(gateway, blank):
    # Given a name of only what JavaScript's trim() removes (a byte-order mark among it, which Python's strip keeps)
    answer = gateway.call(DOCUMENTS_FN, {**DOCUMENT_REQUEST, "name": blank})

    # Then it is refused as connectFi's isNotOnlyWhitespace would, with the reason
    assert answer.status == 400
    (detail,) = [detail for detail in answer.error["details"] if detail["field"] == "name"]
    assert detail["issue"] == "Value error, must not be only whitespace"
    assert gateway.provider.requests() == []


@pytest.mark.parametrize("email", [None, "agent smith", "jöe@exämple.com"], ids=["null", "no-at", "non-ascii"])
def test_an_agents_address_of_any_form_is_connectfis_to_judge(gateway, email):
    # Given an agent's address connectFi publishes no format or type for
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(GENERATE, connectfi_error(400, "requestValidateError", context=[]))

    answer = gateway.call(DOCUMENTS_FN, {**DOCUMENT_REQUEST, "note_author_agent_email": email})

    # Then it is forwarded as sent, and connectFi's refusal, if it refuses, is the caller's 422
    assert (answer.status, answer.error["code"]) == (422, "provider_validation_failed")
    assert gateway.provider.requests(GENERATE)[0].json()["note_author_agent_email"] == email


def test_every_documented_type_and_an_optional_note_are_accepted(gateway):
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(GENERATE, generated())
    gateway.provider.reply(UPLOAD, uploaded())
    note = {"note": None, "note_author_agent_email": "agent.smith+kyc@example.co.uk"}

    for kind in ("1099", "t4", "canada_provincial_id", "bank_statement"):
        answer = gateway.call(DOCUMENTS_FN, {**DOCUMENT_REQUEST, "type": kind, **note})
        assert answer.status == 200, answer.text
    assert gateway.provider.requests(GENERATE)[-1].json() == {**GENERATE_FIELDS, "type": "bank_statement", **note}


def test_an_image_beyond_a_synchronous_invocation_is_413_before_any_provider_call(gateway):
    too_large = base64.b64encode(b"\xff\xd8\xff" + bytes(4 * 1024 * 1024)).decode()  # 5.3 MB of base64

    answer = gateway.call(DOCUMENTS_FN, {**DOCUMENT_REQUEST, "file": too_large})

    assert (answer.status, answer.error["code"]) == (413, "request_too_large")
    assert gateway.provider.requests() == []


def test_the_image_never_reaches_the_logs_or_an_error(gateway, logs):
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(GENERATE, generated())
    gateway.provider.reply(UPLOAD, connectfi_error(400, "fileNotFound"))

    failed = gateway.call(DOCUMENTS_FN, DOCUMENT_REQUEST)
    refused = gateway.call(DOCUMENTS_FN, {**DOCUMENT_REQUEST, "extension": "png"})

    written = logs()
    assert "request completed" in written
    for private in (DOCUMENT_REQUEST["file"], "PRIVATE-IMAGE-BYTES", GENERATE_FIELDS["name"]):
        assert private not in written
        assert private not in failed.text + refused.text
    assert (failed.status, failed.error["code"]) == (502, "provider_error")  # connectFi could not read our multipart


# --- the journey, against the sandbox ----------------------------------------------------------------------------


def attach(gateway, side: str) -> str:
    answer = gateway.call(DOCUMENTS_FN, {**DOCUMENT_REQUEST, "name": f"Driver license {side}"})
    assert answer.status == 200, answer.text
    return answer.json()["documentId"]


@pytest.mark.parametrize(
    "connectfi", ["sandboxed_gateway", "uuid_documents_gateway"], ids=["common-id documents", "UUID documents"]
)
def test_a_journey_from_pending_step_up_to_completed_through_the_gateway_alone(request, connectfi):
    gateway = request.getfixturevalue(connectfi)
    started = gateway.call("ConnectFiIdentificationFunction", {"customerId": CUSTOMER, "reference": "journey1"})
    state = started.json()["data"]
    assert state["status"] == "pending_step_up"
    target = {"customerId": CUSTOMER, "applicationId": state["applicationId"], "entityId": CUSTOMER}

    front = gateway.call(
        UPDATE_FN, {**target, "documents": [{"documentId": attach(gateway, "front"), "side": "front"}]}
    )
    assert front.json()["data"]["status"] == "pending_step_up"  # the back is still expected
    back = gateway.call(UPDATE_FN, {**target, "documents": [{"documentId": attach(gateway, "back"), "side": "back"}]})
    assert (back.json()["data"]["status"], back.json()["data"]["outcome"]) == ("completed", "Approved")

    again = gateway.call(UPDATE_FN, {**target, "documents": [{"documentId": attach(gateway, "late"), "side": "back"}]})
    assert (again.status, again.error["code"]) == (422, "invalid_application_state")
