"""Minimal hand-written equivalents of each function's first real request, for `make bench` to compare against.

Each makes the same AWS and HTTP calls as the gateway's function on the same request (the benchmark checks it,
call by call): one boto3 client per service, made on first use, `get_secret_value` or a token read from the
gateway's token table (BENCH_TOKEN_KEY_<PROVIDER> names the item), one `requests.post`, one pydantic validation of
the body, and the audit record: the audit key read, each subject's HMAC, one conditional put (a transaction of puts
for several subjects). Nothing else: no error mapping, no retries, no logs or metrics. What the gateway costs above
this is its own work.
Loaded by probe.py in a fresh process: every import here is part of what is measured.
"""

import datetime
import functools
import hashlib
import hmac
import json
import os
import time
import uuid
from typing import Any


@functools.cache
def _client(service: str, *, as_the_gateway_writes: bool = False):
    """One client per service, made on first use, as a hand-written function keeps its clients. `as_the_gateway_writes`:
    made as the gateway makes the client of its audit put (one attempt, no check of the parameters against the service
    model), for warm.py, whose subtraction must take off what the gateway's put costs, no more."""
    import boto3

    if not as_the_gateway_writes:
        return boto3.client(service)
    from botocore.config import Config

    config = Config(
        connect_timeout=1,
        read_timeout=2,
        retries={"total_max_attempts": 1, "mode": "standard"},
        parameter_validation=False,
    )
    return boto3.client(service, config=config)


def _secret(variable: str) -> dict:
    return json.loads(_client("secretsmanager").get_secret_value(SecretId=os.environ[variable])["SecretString"])


def _token(provider: str) -> str:
    key = {"pk": {"S": os.environ[f"BENCH_TOKEN_KEY_{provider.upper()}"]}}
    item = _client("dynamodb").get_item(TableName=os.environ["TOKEN_TABLE_NAME"], Key=key, ConsistentRead=True)
    return item["Item"]["token"]["S"]


def _post(url: str, body: dict, headers: dict):
    import requests

    return requests.post(url, json=body, headers={"Accept": "application/json", **headers}, timeout=(3.05, 10))


def _audit(provider: str, subjects: list[tuple[str, str]], route: str, response) -> None:
    """The audit record of the operation under each subject's fingerprint, written once (never replaced)."""
    keys = _secret("AUDIT_KEY_SECRET_ID")
    key, now = keys[keys["current"]].encode(), time.time()
    record = {
        "route": {"S": route},
        "provider": {"S": provider},
        "status": {"N": str(response.status_code)},
        "at": {"S": f"{now:.6f}#{uuid.uuid4().hex}"},
        "expiresAt": {"N": str(int(now) + 1828 * 86400)},
    }
    items = [
        record
        | {"fingerprint": {"S": hmac.new(key, f"{provider}|{kind}|{value}".encode(), hashlib.sha256).hexdigest()}}
        for kind, value in subjects
    ]
    put = {"TableName": os.environ["AUDIT_TABLE_NAME"], "ConditionExpression": "attribute_not_exists(fingerprint)"}
    if len(items) == 1:
        _client("dynamodb").put_item(Item=items[0], **put)
    else:
        _client("dynamodb").transact_write_items(TransactItems=[{"Put": put | {"Item": item}} for item in items])


def _answer(response) -> dict:
    return {"statusCode": response.status_code, "headers": {"Content-Type": "application/json"}, "body": response.text}


def _validated(body: str, **fields: tuple[type, str]) -> dict:
    """One pydantic validation of the request body against `fields` (type, pattern); other fields pass."""
    from pydantic import ConfigDict, Field, create_model

    model = create_model(
        "Body",
        __config__=ConfigDict(extra="allow"),
        **{name: (kind, Field(pattern=pattern)) for name, (kind, pattern) in fields.items()},
    )
    return model.model_validate_json(body).model_dump()


def cladfy_krapin(event: dict) -> dict:
    body = _validated(event["body"], pinnumber=(str, r"^[AP][0-9]{9}[A-Z]$"))
    secret = _secret("CLADFY_SECRET_ID")
    import base64

    basic = base64.b64encode(f"{secret['clientId']}:{secret['secretKey']}".encode()).decode()
    response = _post(os.environ["CLADFY_BASE_URL"] + "/krapin", body, {"Authorization": f"Basic {basic}"})
    _audit("cladfy", [("kra_pin", body["pinnumber"])], "cladfy.krapin", response)
    return _answer(response)


def signzy_repush(event: dict) -> dict:
    body = _validated(event["body"], onboardingId=(str, r"^[0-9a-fA-F]{24}$"))
    url = os.environ["SIGNZY_BASE_URL"] + "/kra-handler/api/onboardings/repush"
    response = _post(url, body, {"Authorization": f"Bearer {_token('signzy')}"})
    _audit("signzy", [("onboarding_id", body["onboardingId"].lower())], "signzy.repush", response)
    return _answer(response)


def _cdp(event: dict, path: str, **fields: tuple[type, str]):
    body = _validated(event["body"], **fields)
    return body, _post(os.environ["CDP_BASE_URL"] + path, body, {"Authorization": f"Bearer {_token('cdp')}"})


def cdp_customer_lookup(event: dict) -> dict:
    # The lookup table's lengths, as patterns: 30 and 3 characters.
    path = "/caas/api/v2/customer/validate"
    body, response = _cdp(event, path, idNumber=(str, r"^.{0,30}$"), idType=(str, r"^.{0,3}$"))
    found = [("ecrn", response.json()["data"]["ecrn"])]  # the customer found
    _audit("cdp", [("id", f"{body['idType']}:{body['idNumber']}"), *found], "cdp.customer_lookup", response)
    return _answer(response)


def cdp_onboarding(event: dict) -> dict:
    body, response = _cdp(event, "/caas-lcm/api/v1/CAAS/onBoarding/customer")  # any JSON object, as the gateway
    subjects = [("id", f"{detail['id_type']}:{detail['id_number']}") for detail in body.get("id_details", [])]
    _audit("cdp", [*subjects, ("ecrn", response.json()["data"]["ecrn"])], "cdp.onboard_individual", response)
    return _answer(response)


def _connectfi(path: str, body: dict):
    return _post(os.environ["CONNECTFI_BASE_URL"] + path, body, {"x-connectfi-token": _token("connectfi")})


def connectfi_identification(event: dict) -> dict:
    body = _validated(event["body"], customerId=(str, r"^[0-9a-zA-Z_]+$"), reference=(str, r"^[0-9a-zA-Z]+$"))
    webhook_token = _secret("CONNECTFI_WEBHOOK_SECRET_ID")["token"]
    body["webhookUrl"] = f"{os.environ['PUBLIC_BASE_URL']}/connectfi/webhooks/{webhook_token}"
    response = _connectfi("/akepa/identification", body)
    state = response.json()["data"]
    subjects = [("customer", body["customerId"]), ("application", state["applicationId"])]
    _audit("connectfi", subjects, "connectfi.identification", response)
    # Store it, claim its announcement, announce it, mark it announced: the applications table and EventBridge
    dynamodb, table, key = (
        _client("dynamodb"),
        os.environ["APPLICATIONS_TABLE_NAME"],
        {"applicationId": {"S": state["applicationId"]}},
    )
    status = {":status": {"S": state["status"]}}
    dynamodb.update_item(
        TableName=table,
        Key=key,
        UpdateExpression="SET #status = :status, #open = :open",
        ExpressionAttributeNames={"#status": "status", "#open": "open"},
        ExpressionAttributeValues=status | {":open": {"S": "open"}},
    )
    dynamodb.update_item(
        TableName=table, Key=key, UpdateExpression="SET announcing = :status", ExpressionAttributeValues=status
    )
    detail = {"applicationId": state["applicationId"], "status": state["status"]}
    _client("events").put_events(
        Entries=[{"Source": "bench", "DetailType": "ApplicationStatusChanged", "Detail": json.dumps(detail)}]
    )
    dynamodb.update_item(
        TableName=table, Key=key, UpdateExpression="SET publishedStatus = :status", ExpressionAttributeValues=status
    )
    return _answer(response)


def connectfi_status(event: dict) -> dict:
    body = _validated(event["body"], customerId=(str, r"^[0-9a-zA-Z_]+$"), applicationId=(str, r"^[0-9a-zA-Z_]+$"))
    response = _connectfi("/akepa/status", body)
    subjects = [("customer", body["customerId"]), ("application", body["applicationId"])]
    _audit("connectfi", subjects, "connectfi.status", response)
    return _answer(response)


def connectfi_documents(event: dict) -> dict:
    """Generate the document, then upload the decoded image as multipart/form-data."""
    import base64

    import requests

    body = _validated(event["body"], workflow=(str, r"^(BUSINESS|PERSONAL)$"), extension=(str, r"^(jpg|png)$"))
    content = base64.b64decode(body.pop("file"), validate=True)
    token, base = _token("connectfi"), os.environ["CONNECTFI_BASE_URL"]
    generated = _post(base + "/akepa/document/generate", body, {"x-connectfi-token": token}).json()["data"]["id"]
    uploaded = requests.post(
        f"{base}/akepa/document/upload/{generated}",
        files={"file": ("document.jpg", content, "image/jpeg")},
        headers={"x-connectfi-token": token, "Accept": "application/json"},
        timeout=(3.05, 10),
    )
    answer = {**uploaded.json(), "documentId": generated, "uploadStatus": True}
    _audit("connectfi", [("document", generated)], "connectfi.documents", uploaded)
    return {"statusCode": 200, "body": json.dumps(answer)}


def _store_state(dynamodb: Any, state: dict) -> None:
    """A changed state written; one found as stored (a check that changes nothing), its check time touched."""
    table, key = os.environ["APPLICATIONS_TABLE_NAME"], {"applicationId": {"S": state["applicationId"]}}
    try:
        dynamodb.update_item(
            TableName=table,
            Key=key,
            UpdateExpression="SET #status = :status",
            ConditionExpression="attribute_not_exists(applicationId) OR #status <> :status",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={":status": {"S": state["status"]}},
        )
    except dynamodb.exceptions.ConditionalCheckFailedException:
        dynamodb.update_item(
            TableName=table,
            Key=key,
            UpdateExpression="SET checkedAt = :now",
            ExpressionAttributeValues={":now": {"S": str(time.time())}},
        )


def connectfi_update(event: dict) -> dict:
    """The update as sent; its answer's state stored."""
    body = _validated(event["body"], applicationId=(str, r"^[0-9a-zA-Z_]+$"), customerId=(str, r"^[0-9a-zA-Z_]+$"))
    response = _connectfi("/akepa/update", body)
    _store_state(_client("dynamodb"), response.json()["data"])
    subjects = [("customer", body["customerId"]), ("application", body["applicationId"])]
    subjects += [("document", document["documentId"]) for document in body.get("documents", [])]
    _audit("connectfi", subjects, "connectfi.update", response)
    return _answer(response)


def connectfi_webhook(event: dict) -> dict:
    expected = _secret("CONNECTFI_WEBHOOK_SECRET_ID")["token"]
    if not hmac.compare_digest(event["pathParameters"]["token"].encode(), expected.encode()):
        return {"statusCode": 401, "body": "{}"}
    _validated(event["body"], code=(str, r"^.*$"))
    _client("sqs").send_message(QueueUrl=os.environ["WEBHOOK_QUEUE_URL"], MessageBody=event["body"])
    return {"statusCode": 202, "headers": {"Content-Type": "application/json"}, "body": '{"status": "accepted"}'}


def connectfi_application(event: dict) -> dict:
    path = _validated(json.dumps(event["pathParameters"]), applicationId=(str, r"^[0-9a-zA-Z_]+$"))
    item = _client("dynamodb").get_item(
        TableName=os.environ["APPLICATIONS_TABLE_NAME"],
        Key={"applicationId": {"S": path["applicationId"]}},
        ConsistentRead=True,
    )["Item"]
    state = {name: value.get("S") for name, value in item.items()}
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": json.dumps(state)}


def connectfi_webhook_processor(event: dict) -> dict:
    """Each record: claim it in the idempotency table, confirm it with /akepa/status, store the state, then complete
    the claim, or release it when connectFi's status is not the one the webhook claims."""
    dynamodb, idempotency = _client("dynamodb"), os.environ["IDEMPOTENCY_TABLE_NAME"]
    for record in event["Records"]:
        signal = _validated(json.dumps(json.loads(record["body"])["data"]), applicationId=(str, r"^[0-9a-zA-Z_]+$"))
        key = {"id": {"S": f"bench#{uuid.uuid4().hex}"}}
        dynamodb.put_item(
            TableName=idempotency,
            Item=key | {"expiration": {"N": str(int(time.time()) + 86400)}, "status": {"S": "INPROGRESS"}},
            ConditionExpression="attribute_not_exists(id)",
        )
        body = {"customerId": signal["customerId"], "applicationId": signal["applicationId"]}
        response = _connectfi("/akepa/status", body)
        subjects = [("customer", body["customerId"]), ("application", body["applicationId"])]
        _audit("connectfi", subjects, "connectfi.webhook_processor", response)
        state = response.json()["data"]
        _store_state(dynamodb, state)
        if signal.get("status") is not None and state["status"] != signal["status"]:
            dynamodb.delete_item(TableName=idempotency, Key=key)
            continue
        dynamodb.update_item(
            TableName=idempotency,
            Key=key,
            UpdateExpression="SET #status = :done",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={":done": {"S": "COMPLETED"}},
        )
    return {"batchItemFailures": []}


def audit_search(event: dict) -> dict:
    """The subject's fingerprint under each key version held, one query each, newest first; the search recorded."""
    body = _validated(event["body"], provider=(str, r"^[a-z]+$"), subject=(str, r"^.{1,200}$"))
    keys = _secret("AUDIT_KEY_SECRET_ID")
    form = f"{body['provider']}|kra_pin|{body['subject'].strip().upper()}".encode()
    dynamodb, table, records = _client("dynamodb"), os.environ["AUDIT_TABLE_NAME"], []
    for version, key in keys.items():
        if version == "current":
            continue
        fingerprint = hmac.new(key.encode(), form, hashlib.sha256).hexdigest()
        records += dynamodb.query(
            TableName=table,
            KeyConditionExpression="fingerprint = :fingerprint",
            ExpressionAttributeValues={":fingerprint": {"S": fingerprint}},
            ScanIndexForward=False,
            Limit=51,
        )["Items"]
        now = time.time()
        dynamodb.put_item(
            TableName=table,
            Item={"fingerprint": {"S": f"search|{fingerprint}"}, "at": {"S": f"{now:.6f}#{uuid.uuid4().hex}"}},
            ConditionExpression="attribute_not_exists(fingerprint)",
        )
    answer = {"records": [{name: next(iter(value.values())) for name, value in item.items()} for item in records]}
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": json.dumps(answer)}


# The route `make bench` measures warm (warm.py): a read without a token, the plainest provider call.
WARM_FUNCTION = "CladfyKraPinFunction"


def warm_direct_call():
    """The warm route's provider call made directly, as warm.py times it: the secret read once, a keep-alive
    session; takes the request body (text), returns the provider's JSON."""
    import base64

    import requests

    secret = _secret("CLADFY_SECRET_ID")
    basic = base64.b64encode(f"{secret['clientId']}:{secret['secretKey']}".encode()).decode()
    session, url = requests.Session(), os.environ["CLADFY_BASE_URL"] + "/krapin"
    headers = {"Authorization": f"Basic {basic}", "Accept": "application/json", "Content-Type": "application/json"}
    return lambda body: session.post(url, data=body, headers=headers, timeout=(3.05, 10)).json()


def warm_audit_write():
    """The warm route's audit record written directly, as warm.py times it beside the provider call: the key read
    once, a warm client made as the gateway's (kyc_gateway.aws.quick_client), one conditional put of the record the
    gateway writes (every field: the caller, the route, the outcome, the provider's request id and calls, the key
    version, retention, the subject); takes the request body (text) and the provider's JSON answer."""
    keys, table = _secret("AUDIT_KEY_SECRET_ID"), os.environ["AUDIT_TABLE_NAME"]
    dynamodb = _client("dynamodb", as_the_gateway_writes=True)
    version = keys["current"]
    key, retention = keys[version].encode(), int(os.environ.get("AUDIT_RETENTION_DAYS", "1828")) * 86400

    def write(body: str, answer: dict) -> None:
        request = json.loads(body)
        form = f"cladfy|kra_pin|{request['pinnumber'].strip().upper()}".encode()
        now = time.time()
        moment = datetime.datetime.fromtimestamp(now, datetime.UTC).replace(tzinfo=None).isoformat("T", "microseconds")
        text = {
            "caller": "unauthenticated",
            "route": "cladfy.krapin",
            "provider": "cladfy",
            "operation": "krapin",
            "code": "ok",
            "correlationId": "bench",
            "providerRequestId": str(answer["request_id"]),
            "time": moment + "Z",
            "keyVersion": version,
            "fingerprint": hmac.new(key, form, hashlib.sha256).hexdigest(),
            "at": f"{moment}Z#{uuid.uuid4().hex}",
            "subjectKind": "kra_pin",
        }
        dynamodb.put_item(
            TableName=table,
            Item={
                **{name: {"S": value} for name, value in text.items()},
                "status": {"N": "200"},
                "providerStatus": {"N": "200"},
                "providerCalls": {"L": [{"M": {"operation": {"S": "krapin"}, "status": {"N": "200"}}}]},
                "expiresAt": {"N": str(int(now) + retention)},
            },
            ConditionExpression="attribute_not_exists(fingerprint)",
        )

    return write


HANDLERS = {
    "CladfyKraPinFunction": cladfy_krapin,
    "SignzyRepushFunction": signzy_repush,
    "CdpCustomerLookupFunction": cdp_customer_lookup,
    "CdpOnboardingFunction": cdp_onboarding,
    "ConnectFiIdentificationFunction": connectfi_identification,
    "ConnectFiStatusFunction": connectfi_status,
    "ConnectFiDocumentsFunction": connectfi_documents,
    "ConnectFiUpdateFunction": connectfi_update,
    "ConnectFiWebhookFunction": connectfi_webhook,
    "ConnectFiApplicationFunction": connectfi_application,
    "ConnectFiWebhookProcessorFunction": connectfi_webhook_processor,
    "AuditSearchFunction": audit_search,
}
