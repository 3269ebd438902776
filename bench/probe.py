"""One measured cold start, run as a script in a fresh interpreter of the runtime-only venv by `make bench`.

    probe.py floor <output>                                  import boto3 + requests, one pydantic validation
    probe.py function <layer> <code dir> <module> <attr> <output>   import the handler as Lambda does, serve the event
    probe.py reference <reference.py> <layer> <LogicalId> <output>   the hand-written equivalent serves it
    probe.py primed <layer> <code dir> <module> <attr> <output>     SnapStart's way: import the handler, run the
        before-snapshot hooks, then (measured) the after-restore hooks and the first event; then the other events,
        the last WARM_MEASURED of them measured one by one; then warm secret and token reads (`warm_calls`)

The event (for `primed`, a list of events) comes on stdin. Only the standard library is loaded before the
measurement starts. The output file gets {"cpu_ms", "wall_ms", "rss_kb", "status"}, "import_cpu_ms" for a
function, "primed_cpu_ms", "warm_cpu_ms" (median) and "warm_call_cpu_ms" for a primed one (and "calls", every AWS
operation and HTTP request made, with BENCH_TRACE=1: then nothing is measured, the two sides are compared; a
primed probe also says which of them its snapshot, its first request and its last request made).
"""

import json
import os
import resource
import statistics
import sys
import time


def _cpu_ms() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return (usage.ru_utime + usage.ru_stime) * 1000


STARTED_CPU, STARTED_WALL = _cpu_ms(), time.perf_counter()
PHASES: dict[str, object] = {}  # the function's CPU up to its handler being importable; a primed probe's figures
# Lambda's runtime hook library, as the runtime offers it to a SnapStart function's code
RUNTIME_HOOKS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lambda_runtime")
WARM_MEASURED = 10  # the last requests of a primed probe, each measured as a warm request


class Context:
    function_name = "bench"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
    aws_request_id = "bench"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 25000


def status_of(result: object) -> int:
    """The HTTP status of an API answer; 200 for an SQS batch with no failure, 500 with one."""
    if isinstance(result, dict) and "statusCode" in result:
        return int(result["statusCode"])
    if isinstance(result, dict) and "batchItemFailures" in result:
        return 500 if result["batchItemFailures"] else 200
    return 0


def floor(_: dict) -> int:
    import boto3  # noqa: F401
    import requests  # noqa: F401
    from pydantic import BaseModel, Field, ValidationError

    class Probe(BaseModel):
        pinnumber: str = Field(pattern=r"^[AP][0-9]{9}[A-Z]$")

    try:
        Probe.model_validate_json('{"pinnumber": "not a pin"}')
    except ValidationError:
        return 400
    return 200


def function(layer: str, code_dir: str, module: str, attribute: str, event: dict) -> int:
    import importlib

    sys.path[:0] = [code_dir, layer]  # /var/task, then /opt/python
    handler = getattr(importlib.import_module(module), attribute)
    PHASES["import_cpu_ms"] = _cpu_ms() - STARTED_CPU
    return status_of(handler(event, Context()))


def primed(layer: str, code_dir: str, module: str, attribute: str, events: list, *, calls: list[str]) -> int:
    import importlib

    sys.path[:0] = [code_dir, layer, RUNTIME_HOOKS]
    handler = getattr(importlib.import_module(module), attribute)
    import snapshot_restore_py as runtime

    if not runtime.get_before_snapshot() or not runtime.get_after_restore():
        raise SystemExit(f"{module}.{attribute} registered no SnapStart hooks")
    runtime.take_snapshot()
    PHASES["snapshot_calls"] = calls[:]
    started = _cpu_ms()
    runtime.restore()
    status = status_of(handler(events[0], Context()))
    PHASES["primed_cpu_ms"] = _cpu_ms() - started
    PHASES["first_calls"] = calls[len(PHASES["snapshot_calls"]) :]
    warm = []
    for event in events[1:]:
        before, began = len(calls), _cpu_ms()
        answered = status_of(handler(event, Context()))
        warm.append(_cpu_ms() - began)
        if answered != status:
            raise SystemExit(f"{module}: a warm request answered {answered}, the first {status}")
        PHASES["warm_calls"] = calls[before:]
    PHASES["warm_cpu_ms"] = statistics.median(warm[-WARM_MEASURED:])
    PHASES["warm_call_cpu_ms"] = warm_calls()
    return status


def warm_calls() -> dict[str, float]:
    """The CPU of one warm call of each kind a restored instance's first request makes and a warm request does not
    (a secret, a token row: never in a snapshot), through the gateway's own clients, median of WARM_MEASURED: what
    even a perfect snapshot leaves to the first request."""
    from kyc_gateway import aws

    secrets, dynamodb = aws.client("secretsmanager"), aws.client("dynamodb")
    kinds = {
        "secretsmanager.GetSecretValue": lambda: secrets.get_secret_value(SecretId=os.environ["AUDIT_KEY_SECRET_ID"]),
        "dynamodb.GetItem": lambda: dynamodb.get_item(
            TableName=os.environ["TOKEN_TABLE_NAME"], Key={"pk": {"S": "bench#absent"}}, ConsistentRead=True
        ),
    }
    figures = {}
    for kind, call in kinds.items():
        samples = []
        for _ in range(WARM_MEASURED + 2):  # the first two open the client's connection
            began = _cpu_ms()
            call()
            samples.append(_cpu_ms() - began)
        figures[kind] = statistics.median(samples[2:])
    return figures


def reference(path: str, layer: str, logical_id: str, event: dict) -> int:
    import importlib.util

    sys.path[:0] = [os.path.dirname(path), layer]  # a Lambda's search path too: its code, then a layer

    spec = importlib.util.spec_from_file_location("reference", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return status_of(module.HANDLERS[logical_id](event))


def trace(calls: list[str]) -> None:
    """Record every AWS operation sent (one answered in-process, as a SnapStart rehearsal's, is not) and every HTTP
    request but those to the AWS endpoint."""
    import botocore.client
    import botocore.httpsession
    import requests.adapters

    endpoint = os.environ.get("AWS_ENDPOINT_URL", "")
    make_api_call, send = botocore.client.BaseClient._make_api_call, requests.adapters.HTTPAdapter.send
    send_to_aws = botocore.httpsession.URLLib3Session.send
    operations: list[str] = []  # the AWS operation being made

    def traced_call(client, operation, parameters):
        operations.append(f"{client.meta.service_model.service_name}.{operation}")
        try:
            return make_api_call(client, operation, parameters)
        finally:
            operations.pop()

    def traced_send_to_aws(session, request):
        calls.append(operations[-1] if operations else "credentials")  # a credential provider's own request
        return send_to_aws(session, request)

    def traced_send(adapter, request, **options):
        if not request.url.startswith(endpoint):
            calls.append(f"{request.method} {request.url.split('?')[0]}")
        return send(adapter, request, **options)

    botocore.client.BaseClient._make_api_call = traced_call
    botocore.httpsession.URLLib3Session.send = traced_send_to_aws
    requests.adapters.HTTPAdapter.send = traced_send


def main() -> None:
    mode, *arguments, output = sys.argv[1:]
    event = json.loads(sys.stdin.read() or "{}")
    calls: list[str] = []
    if os.environ.get("BENCH_TRACE"):
        trace(calls)
    if mode == "primed":
        status = primed(*arguments, event, calls=calls)
    else:
        status = {"floor": floor, "function": function, "reference": reference}[mode](*arguments, event)
    cpu_ms, wall_ms = _cpu_ms() - STARTED_CPU, (time.perf_counter() - STARTED_WALL) * 1000
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = {"cpu_ms": cpu_ms, "wall_ms": wall_ms, "rss_kb": rss_kb, "status": status, "calls": calls, **PHASES}
    with open(output, "w") as file:
        json.dump(result, file)


if __name__ == "__main__":
    main()
