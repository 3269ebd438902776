"""Every route and the webhook path, driven with personal data in every field: the logs hold none of it, nor any
secret or token, no error message echoes it back, and neither do the audit trail's records nor its search answers."""

from __future__ import annotations

import base64
import copy
import json

import pytest

from local.api_events import proxy_event
from local.functions import invoke
from project import template as cfn
from tests.conftest import SECRETS
from tests.support.audit import records as audit_records
from tests.support.audit import search
from tests.support.routes import provider_routes
from tests.support.samples import CDP_ONBOARDING_BODY as ONBOARDING_BODY
from tests.support.samples import leaves

NAME, MIDDLE, SURNAME = "ZELDAPRIVATE", "QUIXOTEPRIVATE", "VANDERPRIVATE"
PHONE, EMAIL, ID_NUMBER = "+971509998877", "zelda.private@example.org", "784198712345678"
PIN, CUSTOMER, REFERENCE = "A987654321Q", "cstap_privateCustomer7", "privateRef77"
IMAGE = "UFJJVkFURUlNQUdFREFUQQ=="  # base64 of "PRIVATEIMAGEDATA"
JPEG_IMAGE = base64.b64encode(b"\xff\xd8\xff\xe0PRIVATEJPEGDATA\xff\xd9").decode()
NOT_BASE64 = "UFJJVkFURU5PVEJBU0U2NA==!"  # base64 of "PRIVATENOTBASE64", spoilt


def onboarding_body() -> dict:
    body = copy.deepcopy(ONBOARDING_BODY)
    body.update(
        first_name=NAME,
        middle_name=MIDDLE,
        last_name=SURNAME,
        preferred_name=NAME,
        primary_mobile_number=PHONE,
        phone_number=PHONE,
        email_id=EMAIL,
        mothers_maiden_name=SURNAME,
    )
    body["id_details"][0].update(id_number=ID_NUMBER, name_as_per_id=f"{NAME} {SURNAME}")
    body["id_details"][0]["id_front"]["base64_data"] = IMAGE
    body["customer_classification"]["profile_photo"]["base64_data"] = IMAGE
    return body


def test_no_personal_datum_secret_or_token_reaches_the_logs_error_messages_or_audit_trail(
    sandboxed_gateway, logs, aws, physical_ids
):
    gateway, answers = sandboxed_gateway, []
    # Every route, successful and failing, with personal data in every field
    answers.append(gateway.call("CladfyKraPinFunction", {"pinnumber": PIN}))
    answers.append(gateway.call("CladfyKraPinFunction", {"pinnumber": PIN + "X"}))
    answers.append(gateway.call("SignzyRepushFunction", {"onboardingId": "65a1b2c3d4e5f60718293a4b"}))
    answers.append(gateway.call("CdpCustomerLookupFunction", {"idNumber": ID_NUMBER, "idType": "4"}))
    answers.append(gateway.call("CdpOnboardingFunction", onboarding_body()))
    answers.append(gateway.call("CdpOnboardingFunction", {**onboarding_body(), "email_id": EMAIL + "@"}))
    answers.append(gateway.call("CdpCustomerLookupFunction", {"idNumber": ID_NUMBER, "idType": "4"}))  # names now
    started = gateway.call("ConnectFiIdentificationFunction", {"customerId": CUSTOMER, "reference": REFERENCE})
    answers.append(started)
    application_id = started.json()["data"]["applicationId"]
    answers.append(gateway.call("ConnectFiStatusFunction", {"customerId": CUSTOMER, "applicationId": application_id}))
    document = {"workflow": "PERSONAL", "name": f"{NAME} license", "extension": "jpg", "type": "license"}
    # a JPEG; bytes that are not one (connectFi's to judge: sent on); text that is not base64 (refused, 400)
    for image in (JPEG_IMAGE, IMAGE, NOT_BASE64):
        answers.append(gateway.call("ConnectFiDocumentsFunction", {**document, "file": image}))
    assert [answer.status for answer in answers[-3:]] == [200, 200, 400]
    document_id = answers[-3].json()["documentId"]
    target = {"customerId": CUSTOMER, "applicationId": application_id, "entityId": CUSTOMER}
    for side in ("front", "left"):  # attached, then refused by connectFi's schema (422, its errors in details)
        documents = [{"documentId": document_id, "side": side}]
        answers.append(gateway.call("ConnectFiUpdateFunction", {**target, "documents": documents}))
    token = SECRETS["connectfiwebhook"]["token"]
    webhook = {
        "code": "0",
        "data": {
            "applicationId": application_id,
            "customerId": CUSTOMER,
            "reference": REFERENCE,
            "status": "pending_step_up",
            "outcome": None,
        },
    }
    for path_token in (token, "guessed-" + token[:8]):
        event = proxy_event(
            "POST",
            f"/connectfi/webhooks/{path_token}",
            resource="/connectfi/webhooks/{token}",
            body=json.dumps(webhook),
            path_parameters={"token": path_token},
        )
        invoke(cfn.functions()["ConnectFiWebhookFunction"], event)
    records = {"Records": [{"messageId": "m1", "body": json.dumps(webhook)}]}
    invoke(cfn.functions()["ConnectFiWebhookProcessorFunction"], records)
    event = proxy_event(
        "GET",
        f"/connectfi/applications/{application_id}",
        resource="/connectfi/applications/{applicationId}",
        path_parameters={"applicationId": application_id},
    )
    invoke(cfn.functions()["ConnectFiApplicationFunction"], event)

    # And the audit trail is searched for each subject
    searches = [
        search({"provider": "cladfy", "subject": PIN}),
        search({"provider": "cdp", "subject": f"4:{ID_NUMBER}"}),
        search({"provider": "connectfi", "subject": CUSTOMER}),
    ]

    written = logs()
    assert written.count("request completed") >= 10  # the logs really were captured
    private = [
        NAME,
        MIDDLE,
        SURNAME,
        PHONE,
        EMAIL,
        ID_NUMBER,
        PIN,
        IMAGE,
        JPEG_IMAGE,
        "PRIVATEJPEGDATA",
        NOT_BASE64,
        "PRIVATENOTBASE64",
        CUSTOMER,
        REFERENCE,
        token,
        *[value for secret in SECRETS.values() for name, value in secret.items() if name != "current"],
    ]
    for value in private:
        assert value not in written, f"{value!r} was logged"
    # The audit trail holds a record of every subject, and none of its values (nor any secret)
    trail = json.dumps(audit_records(aws, physical_ids))
    assert all(status == 200 and answer["records"] for status, answer in searches), searches
    for value in [*private, application_id, document_id]:  # connectFi's ids too: subjects, fingerprinted
        assert value not in trail, f"{value!r} is in the audit trail"
        assert value not in json.dumps(searches), f"{value!r} is in a search answer"
    for answer in answers:
        if answer.status >= 400:
            message = answer.error["message"] + json.dumps(answer.error["details"])
            assert not any(value in message for value in private), answer.text


@pytest.mark.parametrize("route", provider_routes(), ids=str)
def test_no_value_of_a_routes_sample_request_or_answer_reaches_the_logs(sandboxed_gateway, logs, route):
    # Given a provider route (every one the registry and the template know) and its sample request
    answer = sandboxed_gateway.call(route.function, route.body)

    # When it is answered, then no value of the request or of the provider's answer was logged
    assert answer.status == 200, answer.text
    written = logs()
    assert "request completed" in written
    for value in {leaf for leaf in leaves(route.body) + leaves(answer.json()) if len(leaf) >= 6}:
        assert value not in written, f"{value!r} was logged"
