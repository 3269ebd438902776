"""What a new version of a function answers to the deploy check, before CodeDeploy shifts any traffic to it.

CodeDeploy's pre-traffic hook (`kyc_gateway.deploy_hook`) invokes the new version, not its alias, with
`{"kycGatewayDeployCheck": {...}}`. Every handler wrapper (`http_route`, `sqs_batch_handler`, `scheduled_handler`)
answers it before anything else: the version loads what its first request would (`snapstart.load`: its settings
validated, an AWS client for every resource its configuration names and each AWS operation it makes rehearsed
through botocore against an answer given in-process, its provider's client, its request and answer models) and
answers `{"ready": true, ...}`; anything that fails raises, and the invocation fails. Nothing is sent to AWS or a
provider, no secret or token is read, nothing is counted as a request. API Gateway, SQS and the scheduler never send
such an event: only a principal allowed to invoke the function itself can (the hook's role).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kyc_gateway.registry import FunctionEntry
    from kyc_gateway.settings import Settings

EVENT_KEY = "kycGatewayDeployCheck"


class NotReady(Exception):
    """The version loaded, but lacks part of its configuration or cannot make an AWS call it needs."""


def requested(event: Any) -> bool:
    return type(event) is dict and EVENT_KEY in event


def answer(handler: Any) -> dict[str, Any]:
    """Load what `handler`'s first request would; raise when any of it fails."""
    from kyc_gateway import snapstart
    from kyc_gateway.observability import logger
    from kyc_gateway.registry import BY_ROUTE
    from kyc_gateway.settings import get_settings

    loaded = snapstart.load(handler, [])  # an instance that is never snapshotted renews nothing
    if loaded["unrehearsed"]:
        raise NotReady(f"AWS operations that failed before sending: {', '.join(loaded['unrehearsed'])}")
    if missing := unset(BY_ROUTE[handler.route], get_settings()):
        raise NotReady(f"not configured: {', '.join(missing)}")
    logger.info("deploy check passed", **loaded)
    return {"ready": True, **loaded}


def unset(entry: FunctionEntry, settings: Settings) -> list[str]:
    """The environment variables every function of `entry`'s kind is given (the template generates them from the
    registry, as here) that this version's environment lacks."""
    from kyc_gateway.registry import BY_NAME

    needed: list[tuple[str, object]] = []
    if entry.provider:
        provider = BY_NAME[entry.provider]
        needed += [
            (provider.base_url_variable, settings.base_urls.get(provider.name)),
            (provider.secret_id_variable, settings.secret_ids.get(provider.name)),
        ]
        if provider.uses_tokens:
            needed.append(("TOKEN_TABLE_NAME", settings.token_table_name))
    if entry.write:
        needed.append(("IDEMPOTENCY_TABLE_NAME", settings.idempotency_table_name))
    if entry.audited:
        needed += [
            ("AUDIT_TABLE_NAME", settings.audit_table_name),
            ("AUDIT_KEY_SECRET_ID", settings.audit_key_secret_id),
        ]
    return [name for name, value in needed if not value]
