"""The one adapter between scheduled invocations (EventBridge Scheduler) and a job of the gateway."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from kyc_gateway import cold_start, deploy_check, snapstart
from kyc_gateway.errors import GatewayError
from kyc_gateway.observability import count, logger, record_outcome, request_started

Job = Callable[[Any], Mapping[str, int]]


def scheduled_handler(route: str, job: Job) -> Callable[[Any, Any], dict[str, Any]]:
    """A Lambda handler that runs `job(context)` and returns its counts. A run that fails by the gateway's own fault
    (a bug, AWS refusing) raises: the invocation fails (the function's error alarm, and a deploy's rollback). A run
    that fails because its provider does is recorded as failed but does not fail the invocation: a provider outage
    must not roll a deploy back. Either way the run counts a RunFailures (its own alarm, outside the rollback), and
    the next scheduled run starts over.

    Its deploy check also runs the job once, as its schedule would: a run every 15 minutes may never reach a
    canary's new version, so its alarms cannot judge it before all traffic has moved; a run that fails by the
    gateway's fault fails the check, and the version gets no traffic."""

    @logger.inject_lambda_context(clear_state=True)
    def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
        if deploy_check.requested(event):
            ready = deploy_check.answer(lambda_handler)
            return {**ready, "run": lambda_handler({}, context)}
        cold_start.resume()  # no caller waits on a run, and one can be long: it runs with the collector on
        started = time.perf_counter()
        request_started(context)
        logger.set_correlation_id(getattr(context, "aws_request_id", None))
        code, provider, fault, counts = "ok", None, False, {}
        try:
            counts = dict(job(context))
        except GatewayError as error:
            code, provider, fault = error.code, error.failing_provider, error.gateway_fault
            if fault:
                raise
        except Exception as error:
            code, fault = type(error).__name__, True  # AWS refusing, a bug: recorded as failed, never as "ok"
            raise
        finally:
            if code != "ok":
                count("RunFailures", Route=route)  # whoever's fault: a job that does not run is alarmed at once
            elapsed_ms = (time.perf_counter() - started) * 1000
            record_outcome(route, code, 200 if code == "ok" else 500, elapsed_ms, provider, fault=fault)
        if code != "ok":
            return {"error": code}
        logger.info("scheduled run", route=route, **counts)
        return counts

    lambda_handler.route = route  # type: ignore[attr-defined]
    snapstart.register(lambda_handler)
    return lambda_handler
