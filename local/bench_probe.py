"""Cold-start probe, run in a fresh interpreter of the runtime-only venv by local/bench.py.

`floor`: what every request path pays anyway (import boto3 and requests, validate one JSON with pydantic).
`function <layer> <code dir> <module> <attribute>`: import the handler as Lambda does and answer one request
that fails validation (the event comes on stdin). Writes the elapsed milliseconds to the file named last.
Only the standard library is imported before the clock starts.
"""

import contextlib
import importlib
import json
import sys
import time

started = time.perf_counter()


class _Context:
    function_name = "bench"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
    aws_request_id = "bench"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 25000


def floor() -> None:
    import boto3  # noqa: F401
    import requests  # noqa: F401
    from pydantic import BaseModel, Field, ValidationError

    class Probe(BaseModel):
        pinnumber: str = Field(pattern=r"^[AP][0-9]{9}[A-Z]$")

    with contextlib.suppress(ValidationError):
        Probe.model_validate_json('{"pinnumber": "not a pin"}')


def function(layer: str, code_dir: str, module: str, attribute: str, event: dict) -> None:
    sys.path[:0] = [code_dir, layer]  # /var/task, then /opt/python
    handler = getattr(importlib.import_module(module), attribute)
    handler(event, _Context())


if __name__ == "__main__":
    *arguments, output = sys.argv[1:]
    if arguments[0] == "floor":
        floor()
    else:
        function(*arguments[1:], json.load(sys.stdin))
    elapsed_ms = (time.perf_counter() - started) * 1000
    with open(output, "w") as result:
        result.write(str(elapsed_ms))
