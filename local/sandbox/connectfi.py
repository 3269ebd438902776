"""connectFi (akepa): tokens, identification and status checked against connectFi's JSON schemas, and the
asynchronous review that completes later and calls the caller's webhook."""

from __future__ import annotations

import copy
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from local.sandbox.common import (
    Effect,
    Option,
    Provider,
    Reply,
    Request,
    TokenStore,
    html_reply,
    iso_z,
    json_reply,
    random_alnum,
    random_hex,
    utcnow,
)
from local.sandbox.connectfi_stepup import StepUp
from local.sandbox.schema import ajv_errors

if TYPE_CHECKING:
    from local.sandbox.server import ProviderSandbox

COMMON_ID = {"type": "string", "pattern": "^[0-9a-zA-Z_]+$", "minLength": 1, "maxLength": 36}
COMMON_REFERENCE = {"type": "string", "pattern": "^[0-9a-zA-Z]+$", "minLength": 1, "maxLength": 32}
COMMON_STR500 = {"type": "string", "pattern": "^((?![<>]).)*$", "minLength": 0, "maxLength": 500, "nullable": True}
CONNECTFI_LOGIN_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["user"],
    "properties": {
        "user": {
            "type": "object",
            "additionalProperties": False,
            "required": ["login", "password"],
            "properties": {"login": COMMON_ID, "password": {"type": "string", "minLength": 1, "maxLength": 50}},
        },
        "requestId": {"type": "string", "maxLength": 32},
    },
}
WEBHOOK_FIELDS = ("webhookUrl", "webhookURL")  # the example body's spelling, the schema table's


def identification_schema(webhook_field: str) -> dict:
    """The identification schema with the callback field under one spelling: connectFi refuses additional
    properties, so the other spelling is refused as one."""
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["reference", "customerId"],
        "properties": {
            "reference": COMMON_REFERENCE,
            "customerId": COMMON_ID,
            "syncMode": {"type": "boolean", "nullable": True},
            webhook_field: COMMON_STR500,
        },
    }


CONNECTFI_STATUS_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["customerId", "applicationId"],
    "properties": {"customerId": COMMON_ID, "applicationId": COMMON_ID},
}
# reference prefix -> (overall outcome, webhook deliveries); longest prefixes first. ASYNCLOST completes but its
# webhook is lost on the way (never delivered), as reconciliation exists for.
CONNECTFI_ASYNC_REFERENCES = (
    ("ASYNCLOST", "Approved", 0),
    ("ASYNCDUP", "Approved", 2),
    ("ASYNCDENY", "Denied", 1),
    ("ASYNC", "Approved", 1),
)


@dataclass
class _Application:
    data: dict
    webhook_url: str | None = None


SAMPLE_APPLICATION, SAMPLE_CUSTOMER, SAMPLE_REFERENCE = (
    "iapp_1BGgJeDQJFo5MCup15zq9A",
    "cstap_5mBHiIx3QbkvEpjGfKsI9k",
    "extRefApp101",
)


# The fake secrets the local stack gives the gateway to reach this provider, by secret name (its sections of
# local/secrets.local.json, generated from this): never real values.
LOCAL_SECRETS = {
    "connectfi": {"login": "local_connectfi_user", "password": "local-connectfi-password-not-real"},
    # the gateway's own secret for connectFi's callbacks: the token in the webhook URL it gives connectFi
    "connectfiwebhook": {"token": "local-webhook-token-not-real-0123456789abcdef"},
}


class ConnectFi(StepUp, Provider):
    name, prefix = "connectfi", "/connectfi"
    options = (
        Option("connectfi_token_ttl", int, 3600, "connectFi token lifetime (in dtsExpireAt), seconds"),
        Option(
            "webhook_delay",
            float,
            1.0,
            "seconds before an ASYNC* identification or a REVIEW* application's review completes (then its webhook)",
        ),
        Option(
            "connectfi_document_id_field",
            str,
            "id",
            "where a generated document's id is answered: data.id or data.documentId (not published by connectFi)",
            choices=("id", "documentId"),
        ),
        Option(
            "connectfi_webhook_field",
            str,
            "webhookUrl",
            "the one spelling of the identification's callback field accepted (webhookUrl: the example body; "
            "webhookURL: the schema table); the other is an additional property",
            choices=WEBHOOK_FIELDS,
        ),
        Option(
            "connectfi_token_shape",
            str,
            "string",
            "get-token's data.token: a string (the API reference) or {base, confined} (the Authentication page), "
            "of which only the base token opens the KYC endpoints",
            choices=("string", "object"),
        ),
    )

    def __init__(self, sandbox: ProviderSandbox, credentials: dict, options: Mapping[str, Any]) -> None:
        super().__init__(sandbox, credentials, options)
        self._login, self._password = credentials["login"], credentials["password"]
        self._ttl = options["connectfi_token_ttl"]
        self._webhook_delay = options["webhook_delay"]
        self.document_id_field = options["connectfi_document_id_field"]
        self._webhook_field = options["connectfi_webhook_field"]
        self._identification_schema = identification_schema(self._webhook_field)
        self._token_shape = options["connectfi_token_shape"]
        self.tokens = TokenStore(self.lock)
        self._applications: dict[str, _Application] = {}
        self._seed()
        self.magic_customers: dict[str, Effect] = {
            "cstap_notfound": lambda: self._error(400, "customerNotFound", "Customer not found"),
            "cstap_html500": lambda: html_reply(500),
            "cstap_slow": sandbox.pause,
        }

    def routes(self):
        return {
            ("POST", "/auth/get-token"): ("token", self.get_token),
            ("POST", "/akepa/identification"): ("identification", self.identification),
            ("POST", "/akepa/status"): ("status", self.status),
            ("POST", "/akepa/document/generate"): ("document_generate", self.generate_document),
            ("POST", "/akepa/document/upload/{documentId}"): ("document_upload", self.upload_document),
            ("POST", "/akepa/update"): ("update", self.update),
        }

    def not_found(self, request):
        return self._error(404, "notFound", f"Cannot {request.method} {self.relative(request)}")

    def forget_tokens(self):
        self.tokens.clear()

    def reset(self):
        super().reset()
        with self.lock:
            self._applications.clear()
        self._seed()

    def _seed(self) -> None:
        """One application that always exists (the documented individual customer's), so a status request works
        without an identification first: the sample events and the fault tests use it; and two uploaded documents
        of its customer, for the sample update."""
        self.seed_documents()
        application = self._new_application(SAMPLE_CUSTOMER, SAMPLE_REFERENCE, "pending_step_up")
        application.data["applicationId"] = SAMPLE_APPLICATION
        with self.lock:
            self._applications[SAMPLE_APPLICATION] = application

    @staticmethod
    def _error(status: int, code: str, message: str, sub_code: str = "", context: Any = None) -> Reply:
        return json_reply(
            status,
            {"requestId": random_hex(32), "code": code, "subCode": sub_code, "context": context, "message": message},
        )

    @staticmethod
    def _unauthorized() -> Reply:
        return json_reply(401, {"code": "unauthorized", "message": "Authentication error"})

    def _validated(self, request: Request, schema: dict) -> tuple[dict | None, Reply | None]:
        try:
            body = request.json()
        except ValueError:
            return None, self._error(400, "requestValidateError", "Invalid JSON body", context=[])
        errors = ajv_errors(schema, body)
        if errors:
            first = errors[0]
            return None, self._error(400, "requestValidateError", first["message"], first["keyword"], errors)
        return body, None

    def get_token(self, request: Request) -> Reply:
        body, failure = self._validated(request, CONNECTFI_LOGIN_SCHEMA)
        if failure:
            return failure
        user = body["user"]
        if not (
            hmac.compare_digest(user["login"].encode(), self._login.encode())
            and hmac.compare_digest(user["password"].encode(), self._password.encode())
        ):
            return self._unauthorized()
        token: str | dict = self.tokens.issue(self._ttl)
        if self._token_shape == "object":
            # The Authentication page's two kinds. No KYC endpoint asks for the confined token, so none takes it:
            # it is never stored, and refused like an unknown token.
            token = {"base": token, "confined": random_alnum(64)}
        expires = utcnow() + timedelta(seconds=self._ttl)
        return json_reply(200, {"code": "0", "data": {"token": token, "dtsExpireAt": iso_z(expires)}})

    def _authorized(self, request: Request) -> bool:
        return self.tokens.valid(request.header("x-connectfi-token")) is not None

    def _accepted(self, request: Request, schema: dict) -> tuple[dict | None, Reply | None]:
        """An authenticated request's body, valid against `schema`; else the refusal to send (401 before 400)."""
        if not self._authorized(request):
            return None, self._unauthorized()
        return self._validated(request, schema)

    def identification(self, request: Request) -> Reply:
        body, failure = self._accepted(request, self._identification_schema)
        if failure:
            return failure
        customer_id, reference = body["customerId"], body["reference"]
        failure = self.magic(self.magic_customers, customer_id)
        if failure:
            return failure
        asynchronous = next((rule for rule in CONNECTFI_ASYNC_REFERENCES if reference.startswith(rule[0])), None)
        status = "waiting_review" if asynchronous else "pending_step_up"
        application = self._new_application(customer_id, reference, status)
        application.webhook_url = body.get(self._webhook_field) or None
        app_id = application.data["applicationId"]
        with self.lock:
            self._applications[app_id] = application
        if asynchronous:
            _, outcome, deliveries = asynchronous
            self.sandbox.schedule(self._webhook_delay, lambda: self._complete(app_id, outcome, deliveries))
        return json_reply(200, self._envelope(application))

    @staticmethod
    def _new_application(customer_id: str, reference: str, status: str) -> _Application:
        entities = [{"entityId": customer_id, "isCustomer": True, "status": status, "outcome": None}]
        if customer_id.startswith("cstab_"):  # a business: its related person is a second entity
            related = {"entityId": "cstab_" + random_alnum(22), "isCustomer": False, "status": status, "outcome": None}
            entities = [related, {**entities[0], "status": "completed", "outcome": "approved"}]
        data = {
            "applicationId": "iapp_" + random_alnum(22),
            "aggregatorId": "SANDBOX",
            "customerId": customer_id,
            "reference": reference,
            "status": status,
            "outcome": None,
            "entityApplications": entities,
        }
        return _Application(data)

    def _envelope(self, application: _Application) -> dict:
        with self.lock:
            data = copy.deepcopy(application.data)
        return {"code": "0", "data": data, "requestId": random_hex(32)}

    def _complete(self, app_id: str, outcome: str, deliveries: int) -> None:
        """The asynchronous manual review finishes: completed + outcome, then the webhook."""
        with self.lock:
            application = self._applications.get(app_id)
            if application is None:
                return
            application.data.update(status="completed", outcome=outcome)
            for entity in application.data["entityApplications"]:
                entity.update(status="completed", outcome=outcome.lower())
        if application.webhook_url:
            envelope = self._envelope(application)
            for _ in range(deliveries):  # identical body each time (duplicate delivery)
                self.sandbox.post_webhook(self.name, application.webhook_url, envelope)

    def status(self, request: Request) -> Reply:
        body, failure = self._accepted(request, CONNECTFI_STATUS_SCHEMA)
        if failure:
            return failure
        with self.lock:
            application = self._applications.get(body["applicationId"])
        if application is None or application.data["customerId"] != body["customerId"]:
            return self._error(404, "applicationNotFound", "Application not found")
        return json_reply(200, self._envelope(application))


PROVIDER = ConnectFi
