"""Runs the template's Lambda handlers in-process, imported the way the Lambda runtime imports them."""

from __future__ import annotations

import importlib.util
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from project import template as cfn

_LOADING = threading.RLock()


def cold_start() -> None:
    """Forget every per-instance cache of the layer (settings, clients, secrets, tokens in memory), and the
    deadline of the request this thread served last, as a new Lambda instance would start without them."""
    for name, module in list(sys.modules.items()):
        if name == "kyc_gateway" or name.startswith("kyc_gateway."):
            for value in vars(module).values():
                if callable(getattr(value, "cache_clear", None)):
                    value.cache_clear()
    if (clock := sys.modules.get("kyc_gateway.clock")) is not None:
        clock.start_request(None)


def load_handler(spec: cfn.FunctionSpec) -> Any:
    """Import the function's handler module from its CodeUri (a unique module name per function, since every
    function's module is called `app`), and return its handler."""
    module_name = f"lambda_function_{spec.logical_id}"
    with _LOADING:  # concurrent first requests must not see a module still being executed
        module = sys.modules.get(module_name)
        if module is None:
            location = importlib.util.spec_from_file_location(module_name, spec.code_dir / f"{spec.module}.py")
            module = importlib.util.module_from_spec(location)
            location.loader.exec_module(module)
            sys.modules[module_name] = module
    return getattr(module, spec.attribute)


@dataclass
class LambdaContext:
    """The attributes of the Lambda context object that Powertools and the handlers read."""

    function_name: str
    memory_limit_in_mb: int = 512
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    timeout_seconds: float = 25.0
    started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_seconds - (time.monotonic() - self.started)) * 1000))


def invoke(spec: cfn.FunctionSpec, event: dict[str, Any]) -> Any:
    context = LambdaContext(
        function_name=spec.logical_id,
        memory_limit_in_mb=int(spec.properties.get("MemorySize", 512)),
        timeout_seconds=float(spec.properties.get("Timeout", 25)),
    )
    return load_handler(spec)(event, context)
