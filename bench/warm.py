"""The gateway's own warm work per request, run as a script in the runtime-only venv by `make bench`.

    warm.py <layer> <code dir> <iterations> <output>      (the route's event on stdin)

The warm route (reference.WARM_FUNCTION), warm (keep-alive session, cached secret), through its handler,
alternating with the same provider call made directly with a keep-alive `requests` session
(reference.warm_direct_call) and the same audit record written directly, every field of it
(reference.warm_audit_write). Each call's CPU is the calling thread's (time.thread_time); the gateway's own work is
the handler's CPU minus the direct calls', pair by pair: everything it does around the provider call and the audit
write (parsing and validating the event, the provider client, building the record, error mapping, the answer, logs
and metrics). The audit write's own CPU is recorded too: what a warm request pays for its record. So is the
method's own noise: after every other pair, the direct calls twice, one minus the other (sign alternating). A
gateway doing nothing would measure that distribution; its p99 says how much of the p99 goal the machine's jitter
takes before the gateway does anything (both sides of a pair jitter, so a difference counts it twice). The functions'
logs go to stdout, which `make bench` sends to /dev/null, as CloudWatch takes them off the process. Environment:
the local stack's, from `make bench`.
"""

import importlib
import json
import sys
import time

import reference  # beside this script

WARM_UP = 50


class Context:
    function_name = reference.WARM_FUNCTION
    memory_limit_in_mb = 512
    invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{reference.WARM_FUNCTION}"
    aws_request_id = "bench"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 25000


def main() -> None:
    layer, code_dir, iterations, output = sys.argv[1:]
    request = json.loads(sys.stdin.read())
    sys.path[:0] = [code_dir, layer]
    handler = importlib.import_module("app").lambda_handler
    call_provider, write_audit = reference.warm_direct_call(), reference.warm_audit_write()
    context = Context()
    audit_ms: list[float] = []

    def through_gateway() -> float:
        started = time.thread_time()
        answer = handler(request, context)
        spent = time.thread_time() - started
        if answer["statusCode"] != 200:
            raise SystemExit(f"the benchmark route answered {answer['statusCode']}: {answer['body']}")
        return spent * 1000

    def direct(*, record_audit: bool = True) -> float:
        started = time.thread_time()
        answer = call_provider(request["body"])
        provided = time.thread_time()
        write_audit(request["body"], answer)
        ended = time.thread_time()
        if record_audit:
            audit_ms.append((ended - provided) * 1000)
        return (ended - started) * 1000

    def direct_against_itself(number: int) -> float:
        first, second = direct(record_audit=False), direct(record_audit=False)
        return first - second if number % 4 else second - first

    for _ in range(WARM_UP):
        through_gateway(), direct()
    gateway_ms, direct_ms, noise_ms = [], [], []
    audit_ms.clear()
    for number in range(int(iterations)):
        if number % 2:  # alternate the order, so neither side always runs just after the other
            direct_ms.append(direct())
            gateway_ms.append(through_gateway())
        else:
            gateway_ms.append(through_gateway())
            direct_ms.append(direct())
            noise_ms.append(direct_against_itself(number))
    samples = {
        "gateway_cpu_ms": gateway_ms,
        "direct_cpu_ms": direct_ms,
        "audit_write_cpu_ms": audit_ms,
        "noise_cpu_ms": noise_ms,
    }
    with open(output, "w") as file:
        json.dump(samples, file)


if __name__ == "__main__":
    main()
