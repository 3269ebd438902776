"""The one list of providers and of the gateway's functions. The settings, the template's generator, the local stack,
the provider sandbox, the tests, the benchmark and mutation testing read it; adding a provider or a route starts here
(docs/adding-a-provider.md), and a test fails when a registered provider lacks any of its own parts.

Plain data with no imports of its own: reading it costs a cold start nothing.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SmokeRead:
    """The read-only route `make smoke` calls with an environment's test identifiers (smoke.toml), and the success
    body it expects back (the gateway passes a provider's success through unchanged, with a `data` object)."""

    path: str
    fields: tuple[str, ...]
    """The body fields, filled from the environment's identifiers."""
    expect: tuple[tuple[str, str | bool], ...]
    """Top-level fields of the provider's success body and their values (a string matches a number's text)."""
    echo: str | None = None
    """A body field the answer's `data` repeats (the record asked for, not another)."""


@dataclass(frozen=True)
class SubjectKind:
    """A kind of subject the audit trail records a provider's operations under (docs/audit.md), as a fingerprint of
    `<provider>|<kind>|<value in its canonical form>`. Which values of a request or answer are of the kind is said by
    the provider's own request models (`audit_subjects`)."""

    name: str
    form: str
    """How a value is made canonical (kyc_gateway.audit.CANONICAL_FORMS): `upper` (trimmed, upper-cased), `lower`,
    `exact` (trimmed), `typed` (`<id type>:<id number>`: both trimmed, the number upper-cased without spaces or
    hyphens)."""
    what: str
    """What it is, in a few words (docs, search errors)."""
    pattern: str = ""
    """The format of a value of the kind once canonical, as the provider's request check has it (empty: any), so
    that a search for a value no request could have carried is refused rather than answered with nothing."""


_CONNECTFI_ID = r"[0-9a-zA-Z_]{1,36}"  # connectFi's "common-id"
_CONNECTFI_DOCUMENT_ID = r"(?s)(?!\.\.?\Z).+"  # any text but a URL path's dot segment: connectFi publishes no format
_APPLICATIONS = ("APPLICATIONS_TABLE_NAME", "ApplicationsTable")  # connectFi applications' confirmed states
_WEBHOOK_SECRET = ("CONNECTFI_WEBHOOK_SECRET_ID", "ConnectFiWebhookSecret")  # the webhook URL's token
_WEBHOOK_QUEUE = ("WEBHOOK_QUEUE_URL", "WebhookQueue")


@dataclass(frozen=True)
class ProviderEntry:
    name: str
    """The provider's name everywhere: the error envelope's `provider`, its token rows' key prefix (`cdp#...`), its
    section of local/secrets.local.json, its page docs/providers/<name>.md, its sandbox module."""
    title: str
    """How the template's logical ids spell it: `<title>BaseUrl`, `<title>Secret`, `<title>ProviderFailuresAlarm`."""
    label: str
    """How people spell it (alarm descriptions, docs)."""
    settings_prefix: str
    """Environment variables `<prefix>_BASE_URL` and `<prefix>_SECRET_ID`."""
    base_url: str
    """An `https://` default for the template's base URL parameter (a published host), or an SSM parameter's name
    with `{env}` for the environment (a host each partner gets from the provider)."""
    base_url_paths: str
    """What the gateway appends to the base URL, for the parameter's description."""
    secret_fields: str
    """The shape of its Secrets Manager secret, for the secret's description."""
    client: str
    """The module of its client (a `ProviderClient` subclass, and the operations its handlers call)."""
    uses_tokens: bool = False
    """Whether it logs in for tokens (cached in the token table, under its own rows)."""
    smoke_read: SmokeRead | None = None
    """The read `make smoke` proves a deployment with, if the provider has one."""
    subject_kinds: tuple[SubjectKind, ...] = ()
    """The subjects its operations are audited under; a search without a kind tries each."""

    @property
    def base_url_parameter(self) -> str:
        return f"{self.title}BaseUrl"

    @property
    def secret(self) -> str:
        """The template's Secrets Manager secret (logical id) holding its credentials."""
        return f"{self.title}Secret"

    @property
    def token_rows_policy(self) -> str:
        """The template's managed policy reaching its token rows only (providers that log in)."""
        return f"{self.title}TokenRowsPolicy"

    @property
    def base_url_variable(self) -> str:
        return f"{self.settings_prefix}_BASE_URL"

    @property
    def secret_id_variable(self) -> str:
        return f"{self.settings_prefix}_SECRET_ID"

    @property
    def sandbox(self) -> str:
        """The module of the local provider sandbox that plays it."""
        return f"local.sandbox.{self.name}"


PROVIDERS: tuple[ProviderEntry, ...] = (
    ProviderEntry(
        "cladfy",
        "Cladfy",
        "Cladfy",
        "CLADFY",
        "https://identity.cladfy.app/api/v1",
        "/krapin",
        'Cladfy API client: {"clientId": "...", "secretKey": "..."}',
        "kyc_gateway.providers.cladfy",
        smoke_read=SmokeRead("/cladfy/krapin", ("pinnumber",), (("success", True),)),
        subject_kinds=(SubjectKind("kra_pin", "upper", "the KRA PIN", r"[AP][0-9]{9}[A-Z]"),),
    ),
    ProviderEntry(
        "signzy",
        "Signzy",
        "Signzy EzKRA",
        "SIGNZY",
        "https://backops-investor-onboarding-preproduction.signzy.tech",
        "/kra-handler/api/...",
        'Signzy EzKRA login: {"username": "...", "password": "..."}',
        "kyc_gateway.providers.signzy",
        uses_tokens=True,
        subject_kinds=(SubjectKind("onboarding_id", "lower", "the EzKRA onboarding id", r"[0-9a-f]{24}"),),
    ),
    ProviderEntry(
        "cdp",
        "Cdp",
        "CDP",
        "CDP",
        "/kyc-gateway/{env}/cdp-base-url",
        "/auth/realms/..., /caas/..., /caas-lcm/...",
        'CDP partner: {"clientId", "clientSecret", "username", "password", "scope"}',
        "kyc_gateway.providers.cdp",
        uses_tokens=True,
        smoke_read=SmokeRead("/cdp/customers/lookup", ("idNumber", "idType"), (("status", "success"),)),
        subject_kinds=(
            SubjectKind("id", "typed", "an ID as <id type>:<id number>, e.g. 4:784199554586091"),
            SubjectKind("ecrn", "exact", "the customer's ECRN"),
        ),
    ),
    ProviderEntry(
        "connectfi",
        "ConnectFi",
        "connectFi",
        "CONNECTFI",
        "/kyc-gateway/{env}/connectfi-base-url",
        "/auth/get-token, /akepa/...",
        'connectFi API user: {"login": "...", "password": "..."}',
        "kyc_gateway.providers.connectfi.client",
        uses_tokens=True,
        smoke_read=SmokeRead(
            "/connectfi/status", ("customerId", "applicationId"), (("code", "0"),), echo="applicationId"
        ),
        subject_kinds=(
            SubjectKind("customer", "exact", "the connectFi customer id", _CONNECTFI_ID),
            SubjectKind("application", "exact", "the connectFi application id", _CONNECTFI_ID),
            SubjectKind("document", "exact", "the connectFi document id", _CONNECTFI_DOCUMENT_ID),
        ),
    ),
)
BY_NAME = {entry.name: entry for entry in PROVIDERS}


AUDIT_PATHS = "/audit/"
"""Routes for compliance roles, never granted by the callers' policy."""


@dataclass(frozen=True)
class FunctionEntry:
    logical_id: str
    """The template's logical id of the function."""
    route: str
    """Its name in metrics and logs (`Route`): what its handler gives `http_route`, `sqs_batch_handler`..."""
    code: str
    """Its folder under functions/ (its CodeUri); its log group is /aws/lambda/kyc-gateway-<env>-<code, dashed>."""
    description: str
    """What it does, in a line: the function's description in the template."""
    provider: str | None = None
    """The provider it calls, if any (its base URL and secret are then in its environment)."""
    method: str | None = None
    """The HTTP method of its API route (None: no API route)."""
    path: str | None = None
    public: bool = False
    """An API route without IAM (the webhook: its URL's token authenticates it)."""
    write: bool = False
    """A write honouring `Idempotency-Key`: never retried blindly."""
    searches_audit: bool = False
    """The audit trail's search: the one function that may query the audit table."""
    resources: tuple[tuple[str, str], ...] = ()
    """Variables naming a resource of the template (its logical id) that its own code needs besides its kind's
    (its block in infrastructure/gateway.yaml grants the access)."""

    @property
    def audited(self) -> bool:
        """Whether it writes audit records: every provider operation, and each audit search."""
        return self.provider is not None or self.searches_audit

    def variables(self, provider: ProviderEntry | None = None) -> dict[str, str]:
        """The environment variables the template gives it, each with the template's parameter or resource (logical
        id) it holds: its provider's base URL and secret, the token table for a provider that logs in, the idempotency
        table for a write, the audit table, key and retention for an audited function, and its own `resources`. The
        template's generator writes them from here; the deploy check stops a version whose environment lacks any.
        `provider`: its provider's entry, if not the registered one (a provider being added)."""
        variables: dict[str, str] = {}
        if self.provider:
            provider = provider or BY_NAME[self.provider]
            variables[provider.base_url_variable] = provider.base_url_parameter
            variables[provider.secret_id_variable] = provider.secret
            if provider.uses_tokens:
                variables["TOKEN_TABLE_NAME"] = "TokenTable"  # noqa: S105 - a table, not a secret
        if self.write:
            variables["IDEMPOTENCY_TABLE_NAME"] = "IdempotencyTable"
        if self.audited:
            variables |= {
                "AUDIT_TABLE_NAME": "AuditTable",
                "AUDIT_KEY_SECRET_ID": "AuditKeySecret",
                "AUDIT_RETENTION_DAYS": "AuditRetentionDays",
            }
        if self.provider and self.method:  # a route that calls a provider takes X-Request-Purpose
            variables["REQUIRE_REQUEST_PURPOSE"] = "RequireRequestPurpose"
        return variables | dict(self.resources)

    @property
    def caller_route(self) -> bool:
        """Whether the callers' managed policy grants it: every signed route but an audit route (/audit/...),
        which compliance roles reach through a policy of their own."""
        return self.path is not None and not self.public and not self.path.startswith(AUDIT_PATHS)

    @property
    def invoke_path(self) -> str | None:
        """Its route as execute-api ARNs end (`POST/connectfi/webhooks/*`): a path parameter matches anything."""
        if self.method is None or self.path is None:
            return None
        return self.method + "/".join("*" if part.startswith("{") else part for part in self.path.split("/"))

    @property
    def log_group(self) -> str:
        """The logical id of its log group."""
        return f"{self.logical_id.removesuffix('Function')}LogGroup"

    @property
    def log_group_name(self) -> str:
        return self.code.replace("_", "-")


FUNCTIONS: tuple[FunctionEntry, ...] = (
    FunctionEntry(
        "CladfyKraPinFunction",
        "cladfy.krapin",
        "cladfy_krapin",
        "POST /cladfy/krapin -> Cladfy POST /krapin",
        provider="cladfy",
        method="POST",
        path="/cladfy/krapin",
    ),
    FunctionEntry(
        "SignzyRepushFunction",
        "signzy.repush",
        "signzy_repush",
        "POST /signzy/onboardings/repush -> Signzy EzKRA POST /kra-handler/api/onboardings/repush",
        provider="signzy",
        method="POST",
        path="/signzy/onboardings/repush",
        write=True,
    ),
    FunctionEntry(
        "CdpCustomerLookupFunction",
        "cdp.customer_lookup",
        "cdp_customer_lookup",
        "POST /cdp/customers/lookup -> CDP POST /caas/api/v2/customer/validate",
        provider="cdp",
        method="POST",
        path="/cdp/customers/lookup",
    ),
    FunctionEntry(
        "CdpOnboardingFunction",
        "cdp.onboard_individual",
        "cdp_onboarding",
        "POST /cdp/customers -> CDP POST /caas-lcm/api/v1/CAAS/onBoarding/customer",
        provider="cdp",
        method="POST",
        path="/cdp/customers",
        write=True,
    ),
    FunctionEntry(
        "ConnectFiIdentificationFunction",
        "connectfi.identification",
        "connectfi_identification",
        "POST /connectfi/identification -> connectFi POST /akepa/identification",
        provider="connectfi",
        method="POST",
        path="/connectfi/identification",
        write=True,
        resources=(_WEBHOOK_SECRET, _APPLICATIONS),
    ),
    FunctionEntry(
        "ConnectFiStatusFunction",
        "connectfi.status",
        "connectfi_status",
        "POST /connectfi/status -> connectFi POST /akepa/status",
        provider="connectfi",
        method="POST",
        path="/connectfi/status",
    ),
    FunctionEntry(
        "ConnectFiDocumentsFunction",
        "connectfi.documents",
        "connectfi_documents",
        "POST /connectfi/documents -> connectFi POST /akepa/document/generate, then "
        "/akepa/document/upload/{documentId}",
        provider="connectfi",
        method="POST",
        path="/connectfi/documents",
        write=True,
    ),
    FunctionEntry(
        "ConnectFiUpdateFunction",
        "connectfi.update",
        "connectfi_update",
        "POST /connectfi/update -> connectFi POST /akepa/update",
        provider="connectfi",
        method="POST",
        path="/connectfi/update",
        write=True,
        resources=(_APPLICATIONS,),
    ),
    FunctionEntry(
        "ConnectFiWebhookFunction",
        "connectfi.webhook",
        "connectfi_webhook",
        "POST /connectfi/webhooks/{token} -> the connectFi webhook queue (202)",
        provider=None,
        method="POST",
        path="/connectfi/webhooks/{token}",
        public=True,
        resources=(_WEBHOOK_SECRET, _WEBHOOK_QUEUE),
    ),
    FunctionEntry(
        "ConnectFiWebhookProcessorFunction",
        "connectfi.webhook_processor",
        "connectfi_webhook_processor",
        "SQS connectFi webhooks -> /akepa/status -> applications table + EventBridge",
        provider="connectfi",
        resources=(_APPLICATIONS, ("IDEMPOTENCY_TABLE_NAME", "IdempotencyTable"), _WEBHOOK_QUEUE),
    ),
    FunctionEntry(
        "ConnectFiApplicationFunction",
        "connectfi.application",
        "connectfi_application",
        "GET /connectfi/applications/{applicationId} -> the stored, confirmed status",
        provider=None,
        method="GET",
        path="/connectfi/applications/{applicationId}",
        resources=(_APPLICATIONS,),
    ),
    FunctionEntry(
        "ConnectFiReconcilerFunction",
        "connectfi.reconciler",
        "connectfi_reconciler",
        "Scheduled re-check of connectFi applications that are not final (webhooks get lost)",
        provider="connectfi",
        resources=(_APPLICATIONS,),
    ),
    FunctionEntry(
        "AuditSearchFunction",
        "audit.search",
        "audit_search",
        "POST /audit/search -> the audit records of one subject, newest first (compliance roles only)",
        method="POST",
        path="/audit/search",
        searches_audit=True,
    ),
    FunctionEntry(
        "AuditArchiveFunction",
        "audit.archive",
        "audit_archive",
        "DynamoDB stream of the audit table -> its tamper-evident copy in the Object Lock archive bucket",
        resources=(("AUDIT_ARCHIVE_BUCKET", "AuditArchiveBucket"),),
    ),
)
BY_LOGICAL_ID = {entry.logical_id: entry for entry in FUNCTIONS}
BY_ROUTE = {entry.route: entry for entry in FUNCTIONS}
