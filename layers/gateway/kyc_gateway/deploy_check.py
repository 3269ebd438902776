"""What a new version of a function answers to the deploy check, before CodeDeploy shifts any traffic to it.

CodeDeploy's pre-traffic hook (`kyc_gateway.deploy_hook`) invokes the new version, not its alias, with
`{"kycGatewayDeployCheck": {...}}`. Every handler wrapper (`http_route`, `sqs_batch_handler`, `scheduled_handler`)
answers it before anything else: the version loads what its first request would (`snapstart.load`: its settings
validated, an AWS client for every resource its configuration names and each AWS operation it makes rehearsed
through botocore against an answer given in-process, its provider's client, its request and answer models) and
answers `{"ready": true, ...}`; anything that fails raises, and the invocation fails. Nothing is sent to AWS or a
provider, no secret or token is read, nothing is counted as a request; but a scheduled function then runs its job
once, as its schedule would (kyc_gateway.scheduled: no canary reliably sees a run every 15 minutes). API Gateway,
SQS and the scheduler never send such an event: only a principal allowed to invoke the function itself can (the
hook's role).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kyc_gateway.registry import FunctionEntry

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

    loaded = snapstart.load(handler, [])  # an instance that is never snapshotted renews nothing
    if loaded["unrehearsed"]:
        raise NotReady(f"AWS operations that failed before sending: {', '.join(loaded['unrehearsed'])}")
    if missing := unset(BY_ROUTE[handler.route], os.environ):
        raise NotReady(f"not configured: {', '.join(missing)}")
    logger.info("deploy check passed", **loaded)
    return {"ready": True, **loaded}


def unset(entry: FunctionEntry, environment: Mapping[str, str]) -> list[str]:
    """The variables the template gives `entry` (the registry's `variables`) that `environment` lacks or leaves
    empty."""
    return [name for name in entry.variables() if not environment.get(name)]
