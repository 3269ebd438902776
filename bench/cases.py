"""What `make bench` runs: per function, a request it must reject, a first real request and a primed one (SnapStart),
and the probes that serve them (the function, the floor, the hand-written reference)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local.api_events import proxy_event
from project import LAYER_DIR
from project import template as cfn

HERE = Path(__file__).resolve().parent
PROBE, REFERENCE = HERE / "probe.py", HERE / "reference.py"
EVENTS = cfn.ROOT / "events"
SEEDED_APPLICATION = "iapp_1BGgJeDQJFo5MCup15zq9A"  # the sandbox's connectFi application the sample events name


def request_functions() -> tuple[str, ...]:
    """Every function that serves a request (an API route or an SQS record; the scheduled reconciler and the audit
    archive, fed by the audit table's stream, serve none), in the template's order but for the stored-application
    route, last: the processor's run stores the application it reads. Each needs its hand-written equivalent in
    reference.py (a test checks it)."""
    served = [
        logical_id
        for logical_id, spec in cfn.functions().items()
        if spec.api_events or any(e.get("Type") == "SQS" for e in (spec.properties.get("Events") or {}).values())
    ]
    return tuple(sorted(served, key=lambda logical_id: logical_id == "ConnectFiApplicationFunction"))


FIRST_REQUEST_FUNCTIONS = request_functions()

Event = Callable[[int], dict[str, Any]]  # the event of run n


@dataclass(frozen=True)
class Probe:
    name: str
    arguments: tuple[str, ...]
    event: Callable[[int], Any]  # the event of run n (a primed probe: its events)
    expect: range  # the statuses a correct answer has: a probe that fails cannot look fast


def floor() -> Probe:
    return Probe("floor", ("floor",), lambda n: {}, range(400, 401))


def gateway(logical_id: str, event: Event, expect: range) -> Probe:
    spec = cfn.functions()[logical_id]
    arguments = ("function", str(LAYER_DIR), str(spec.code_dir), spec.module, spec.attribute)
    return Probe(logical_id, arguments, event, expect)


PRIMED_REQUESTS = 16  # the first, five to warm up, ten measured warm (probe.WARM_MEASURED)


def primed(logical_id: str) -> Probe:
    """The function started as SnapStart starts it (probe.py `primed`): its first real request, then as many more
    as make a warm request, each a request of its own (numbered apart from the other measures' runs)."""
    spec = cfn.functions()[logical_id]
    arguments = ("primed", str(LAYER_DIR), str(spec.code_dir), spec.module, spec.attribute)
    event = first_request_event(logical_id)
    return Probe(
        logical_id,
        arguments,
        lambda n: [event(n * 100 + i) for i in range(PRIMED_REQUESTS)],
        first_request_expect(logical_id),
    )


def reference(logical_id: str, event: Event, expect: range) -> Probe:
    return Probe(f"{logical_id} (reference)", ("reference", str(REFERENCE), str(LAYER_DIR), logical_id), event, expect)


WRONG_WEBHOOK_TOKEN = "w" * 43  # the shape of a real one: refused only after comparing it with the secret


def rejected_event(logical_id: str) -> Event:
    """A request the function must refuse on its own, before any provider call: its sample invalid event
    (events/<LogicalId>.invalid-*.json) or an empty JSON object; for the webhook, a wrong token of a real token's
    length (the costly refusal: the secret is fetched to compare); for the processor, a record that is not JSON."""
    spec = cfn.functions()[logical_id]
    if not spec.api_events:
        records = [{"messageId": "bench", "body": "not json", "attributes": {}, "messageAttributes": {}}]
        return lambda n: {"Records": records}
    invalid = sorted(EVENTS.glob(f"{logical_id}.invalid-*.json"))
    if invalid:
        event = json.loads(invalid[0].read_text())
        return lambda n: event
    method, path = spec.api_events[0]
    parameters = {"token": WRONG_WEBHOOK_TOKEN} if refusal_reads_a_secret(logical_id) else None
    event = proxy_event(
        method,
        path.replace("{token}", WRONG_WEBHOOK_TOKEN),
        resource=path,
        headers=[("Content-Type", "application/json")],
        body="{}",
        path_parameters=parameters,
    )
    return lambda n: event


def rejected_expect(logical_id: str) -> range:
    """The gateway's own refusal: 400 (the webhook: 401 for its token); from the processor, the record reported
    failed (500). A provider's refusal (a 422) would mean the probe reached the provider: the run stops."""
    spec = cfn.functions()[logical_id]
    if not spec.api_events:
        return range(500, 501)
    return range(401, 402) if refusal_reads_a_secret(logical_id) else range(400, 401)


def refusal_reads_a_secret(logical_id: str) -> bool:
    """The webhook receiver: the token in its URL is compared with its secret, so refusing a well-formed one costs
    boto3, a client and a `GetSecretValue` the floor does not pay (its own goal, __main__.GOALS)."""
    spec = cfn.functions()[logical_id]
    return bool(spec.api_events) and "{token}" in spec.api_events[0][1]


def first_request_event(logical_id: str) -> Event:
    """A valid request from the sample events, the same on both sides; runs differ where a repeat would not make
    the same calls (a webhook record already processed is only looked up)."""
    if logical_id == "ConnectFiApplicationFunction":
        event = json.loads((EVENTS / f"{logical_id}.not-found.json").read_text())
        event["pathParameters"] = {"applicationId": SEEDED_APPLICATION}
        event["path"] = f"/connectfi/applications/{SEEDED_APPLICATION}"
        return lambda n: event
    if logical_id == "ConnectFiWebhookProcessorFunction":
        sample = json.loads((EVENTS / f"{logical_id}.json").read_text())
        record = sample["Records"][0]

        def numbered(n: int) -> dict[str, Any]:
            signal = json.loads(record["body"])
            signal["requestId"] = f"bench{n}"  # another callback each time: never a duplicate already processed
            return {"Records": [record | {"messageId": f"bench-{n}", "body": json.dumps(signal)}]}

        return numbered
    path = EVENTS / f"{logical_id}.json"
    event = json.loads((path if path.exists() else EVENTS / f"{logical_id}.accepted.json").read_text())
    return lambda n: event


def first_request_expect(logical_id: str) -> range:
    return range(202, 203) if logical_id == "ConnectFiWebhookFunction" else range(200, 201)


def rejected_pairs() -> list[tuple[Probe, Probe]]:
    """Every function serving a request (the reconciler serves none) beside the floor."""
    return [
        (gateway(logical_id, rejected_event(logical_id), rejected_expect(logical_id)), floor())
        for logical_id in cfn.functions()
        if logical_id in FIRST_REQUEST_FUNCTIONS
    ]


def primed_probes() -> list[Probe]:
    return [primed(logical_id) for logical_id in FIRST_REQUEST_FUNCTIONS]


def first_request_pairs() -> list[tuple[Probe, Probe]]:
    pairs = []
    for logical_id in FIRST_REQUEST_FUNCTIONS:
        event, expect = first_request_event(logical_id), first_request_expect(logical_id)
        pairs.append((gateway(logical_id, event, expect), reference(logical_id, event, expect)))
    return pairs
