"""What both halves of the connectFi sandbox stand on (its KYC routes in connectfi.py, its step-up routes in
connectfi_stepup.py): connectFi's id schema and error envelope, the token check and schema validation every
authenticated route makes, and the applications, with the manual review that completes one later and calls its
webhook."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from local.sandbox.common import Reply, Request, SandboxServices, TokenStore, json_reply, random_alnum, random_hex
from local.sandbox.schema import ajv_errors

# The sandbox's own copy of connectFi's published schemas (not the gateway's): a witness shares no assumption.
COMMON_ID = {"type": "string", "pattern": "^[0-9a-zA-Z_]+$", "minLength": 1, "maxLength": 36}
NO_MARKUP = "^((?![<>]).)*$"


def error(status: int, code: str, message: str, sub_code: str = "", context: Any = None) -> Reply:
    """connectFi's error envelope."""
    return json_reply(
        status,
        {"requestId": random_hex(32), "code": code, "subCode": sub_code, "context": context, "message": message},
    )


def unauthorized() -> Reply:
    return json_reply(401, {"code": "unauthorized", "message": "Authentication error"})


@dataclass
class Application:
    data: dict
    webhook_url: str | None = None

    @classmethod
    def new(cls, customer_id: str, reference: str, status: str) -> Application:
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
        return cls(data)


class ConnectFiCore:
    """connectFi's tokens and applications, and the checks of its authenticated routes."""

    def __init__(self, provider: str, sandbox: SandboxServices, webhook_delay: float) -> None:
        self.provider = provider  # whose webhooks the sandbox counts
        self.sandbox = sandbox
        self.lock = sandbox.lock
        self.webhook_delay = webhook_delay
        self.tokens = TokenStore(self.lock)
        self.applications: dict[str, Application] = {}

    # --- requests ---

    def authorized(self, request: Request) -> bool:
        return self.tokens.valid(request.header("x-connectfi-token")) is not None

    @staticmethod
    def validated(request: Request, schema: dict) -> tuple[dict | None, Reply | None]:
        """The body, valid against `schema`; else connectFi's refusal (its ajv validator's first error)."""
        try:
            body = request.json()
        except ValueError:
            return None, error(400, "requestValidateError", "Invalid JSON body", context=[])
        errors = ajv_errors(schema, body)
        if errors:
            first = errors[0]
            return None, error(400, "requestValidateError", first["message"], first["keyword"], errors)
        return body, None

    def accepted(self, request: Request, schema: dict) -> tuple[dict | None, Reply | None]:
        """An authenticated request's body, valid against `schema`; else the refusal to send (401 before 400)."""
        if not self.authorized(request):
            return None, unauthorized()
        return self.validated(request, schema)

    # --- applications ---

    def add(self, application: Application) -> str:
        app_id = application.data["applicationId"]
        with self.lock:
            self.applications[app_id] = application
        return app_id

    def find(self, app_id: str, customer_id: str) -> Application | None:
        """The application, when it exists and is that customer's."""
        with self.lock:
            application = self.applications.get(app_id)
        return application if application is not None and application.data["customerId"] == customer_id else None

    def envelope(self, application: Application) -> dict:
        with self.lock:
            data = copy.deepcopy(application.data)
        return {"code": "0", "data": data, "requestId": random_hex(32)}

    def review(self, app_id: str, outcome: str, deliveries: int) -> None:
        """The manual review completes the application after the webhook delay (then its webhooks)."""
        self.sandbox.schedule(self.webhook_delay, lambda: self._complete(app_id, outcome, deliveries))

    def _complete(self, app_id: str, outcome: str, deliveries: int) -> None:
        """The asynchronous manual review finishes: completed + outcome, then the webhook."""
        with self.lock:
            application = self.applications.get(app_id)
            if application is None:
                return
            application.data.update(status="completed", outcome=outcome)
            for entity in application.data["entityApplications"]:
                entity.update(status="completed", outcome=outcome.lower())
        if application.webhook_url:
            envelope = self.envelope(application)
            for _ in range(deliveries):  # identical body each time (duplicate delivery)
                self.sandbox.post_webhook(self.provider, application.webhook_url, envelope)
