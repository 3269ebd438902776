"""connectFi (akepa): tokens, identification and status checked against connectFi's JSON schemas, and the
asynchronous review that completes later and calls the caller's webhook."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from local.sandbox.common import (
    Effect,
    Option,
    Provider,
    Reply,
    Request,
    SandboxServices,
    html_reply,
    iso_z,
    json_reply,
    random_alnum,
    utcnow,
)
from local.sandbox.connectfi_core import COMMON_ID, NO_MARKUP, Application, ConnectFiCore, error, unauthorized
from local.sandbox.connectfi_stepup import UNKNOWN_UPLOAD_REFUSALS, StepUp

COMMON_REFERENCE = {"type": "string", "pattern": "^[0-9a-zA-Z]+$", "minLength": 1, "maxLength": 32}
COMMON_STR500 = {"type": "string", "pattern": NO_MARKUP, "minLength": 0, "maxLength": 500, "nullable": True}
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


class ConnectFi(Provider):
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
            "connectfi_document_ids",
            str,
            "common-id",
            "the form of a generated document's id: connectFi's common-id (doc_...) or a UUID (not published by "
            "connectFi); the update then takes ids of that form",
            choices=("common-id", "uuid"),
        ),
        Option(
            "connectfi_unknown_upload",
            str,
            "documentNotFound",
            "how an upload to an unknown document is refused: HTTP 400 with connectFi's documentNotFound, with a "
            "message and no code, or empty (connectFi's step-up page says only 400)",
            choices=tuple(UNKNOWN_UPLOAD_REFUSALS),
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

    def __init__(self, sandbox: SandboxServices, credentials: dict, options: Mapping[str, Any]) -> None:
        super().__init__(sandbox, credentials, options)
        self._login, self._password = credentials["login"], credentials["password"]
        self._ttl = options["connectfi_token_ttl"]
        self._webhook_field = options["connectfi_webhook_field"]
        self._identification_schema = identification_schema(self._webhook_field)
        self._token_shape = options["connectfi_token_shape"]
        self.core = ConnectFiCore(self.name, sandbox, options["webhook_delay"])
        self.step_up = StepUp(self.core, options)
        self._seed()
        self.magic_customers: dict[str, Effect] = {
            "cstap_notfound": lambda: error(400, "customerNotFound", "Customer not found"),
            "cstap_html500": lambda: html_reply(500),
            "cstap_slow": sandbox.pause,
        }

    def routes(self):
        return {
            ("POST", "/auth/get-token"): ("token", self.get_token),
            ("POST", "/akepa/identification"): ("identification", self.identification),
            ("POST", "/akepa/status"): ("status", self.status),
        } | self.step_up.routes()

    def not_found(self, request):
        return error(404, "notFound", f"Cannot {request.method} {self.relative(request)}")

    def forget_tokens(self):
        self.core.tokens.clear()

    def reset(self):
        super().reset()
        with self.lock:
            self.core.applications.clear()
        self.step_up.seed()
        self._seed()

    def _seed(self) -> None:
        """One application that always exists (the documented individual customer's), so a status request works
        without an identification first: the sample events and the fault tests use it (the step-up seeds two
        uploaded documents of its customer, for the sample update)."""
        application = Application.new(SAMPLE_CUSTOMER, SAMPLE_REFERENCE, "pending_step_up")
        application.data["applicationId"] = SAMPLE_APPLICATION
        self.core.add(application)

    def get_token(self, request: Request) -> Reply:
        body, failure = self.core.validated(request, CONNECTFI_LOGIN_SCHEMA)
        if failure:
            return failure
        user = body["user"]
        if not (
            hmac.compare_digest(user["login"].encode(), self._login.encode())
            and hmac.compare_digest(user["password"].encode(), self._password.encode())
        ):
            return unauthorized()
        token: str | dict = self.core.tokens.issue(self._ttl)
        if self._token_shape == "object":
            # The Authentication page's two kinds. No KYC endpoint asks for the confined token, so none takes it:
            # it is never stored, and refused like an unknown token.
            token = {"base": token, "confined": random_alnum(64)}
        expires = utcnow() + timedelta(seconds=self._ttl)
        return json_reply(200, {"code": "0", "data": {"token": token, "dtsExpireAt": iso_z(expires)}})

    def identification(self, request: Request) -> Reply:
        body, failure = self.core.accepted(request, self._identification_schema)
        if failure:
            return failure
        customer_id, reference = body["customerId"], body["reference"]
        failure = self.magic(self.magic_customers, customer_id)
        if failure:
            return failure
        asynchronous = next((rule for rule in CONNECTFI_ASYNC_REFERENCES if reference.startswith(rule[0])), None)
        application = Application.new(customer_id, reference, "waiting_review" if asynchronous else "pending_step_up")
        application.webhook_url = body.get(self._webhook_field) or None
        app_id = self.core.add(application)
        if asynchronous:
            _, outcome, deliveries = asynchronous
            self.core.review(app_id, outcome, deliveries)
        return json_reply(200, self.core.envelope(application))

    def status(self, request: Request) -> Reply:
        body, failure = self.core.accepted(request, CONNECTFI_STATUS_SCHEMA)
        if failure:
            return failure
        application = self.core.find(body["applicationId"], body["customerId"])
        if application is None:
            return error(404, "applicationNotFound", "Application not found")
        return json_reply(200, self.core.envelope(application))


PROVIDER = ConnectFi
