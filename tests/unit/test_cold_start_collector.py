"""A Lambda instance's cold start runs without cyclic garbage collection: paused from the layer's first import until
its first invocation (an API request: once answered; a queue batch: once its first record is done; a scheduled run:
as it starts), then what the
collector tracks is frozen and collection resumes (kyc_gateway/cold_start.py). Outside Lambda nothing is paused.
Each case runs in a fresh interpreter: the pause is a process's state."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from project import LAYER_DIR
from project import template as cfn

LAMBDA = {
    "PATH": "",
    "ENVIRONMENT": "local",
    "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001",  # what tells the layer it runs in Lambda
    "AWS_EC2_METADATA_DISABLED": "true",  # a scheduled job without its AWS resources fails at once
    "AWS_DEFAULT_REGION": "us-east-1",
}
CONTEXT = f"""
sys.path.insert(0, {str(cfn.ROOT)!r})
from local.functions import LambdaContext as Context
"""
HANDLER_PROBE = (
    """
import gc, importlib, json, sys, weakref
sys.path[:0] = [sys.argv[1], sys.argv[2]]
handler = getattr(importlib.import_module(sys.argv[3]), sys.argv[4])
seen = {"paused_after_import": not gc.isenabled()}
"""
    + CONTEXT
    + """
class Cycle:
    pass

for request in ("first", "second"):
    if request == "second":  # cyclic garbage of a warm instance: collected, never frozen
        cycle = Cycle()
        cycle.itself, garbage = cycle, weakref.ref(cycle)
        del cycle
    try:
        handler({}, Context("probe"))
    except Exception as error:  # a scheduled job without its AWS resources fails: the pause must end all the same
        seen[f"{request}_raised"] = type(error).__name__
    seen[f"collecting_after_{request}"] = gc.isenabled()
    seen[f"frozen_after_{request}"] = gc.get_freeze_count()
gc.collect()
seen["warm_garbage_collected"] = garbage() is None
print(json.dumps(seen))
"""
)


def run(code: str, *arguments: str, environment: dict[str, str] = LAMBDA) -> dict:
    completed = subprocess.run(  # noqa: S603 - this interpreter, fixed arguments
        [sys.executable, "-c", code, *arguments],
        capture_output=True,
        text=True,
        check=False,
        env=environment,
        timeout=60,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(completed.stdout.splitlines()[-1])  # after any log line the handler wrote


@pytest.mark.parametrize("logical_id", sorted(cfn.functions()))
def test_every_function_pauses_collection_until_its_first_invocation_then_freezes_once(logical_id):
    # Given a fresh Lambda instance of the function as the template deploys it
    spec = cfn.functions()[logical_id]

    # When its handler is imported and serves two requests
    seen = run(HANDLER_PROBE, str(spec.code_dir), str(LAYER_DIR), spec.module, spec.attribute)

    # Then the import ran without collection, the first invocation froze what was tracked and resumed collection,
    # and the second froze nothing more (frozen objects may be freed since, none added): its garbage is collected
    assert seen["paused_after_import"] is True
    assert seen["collecting_after_first"] is True
    assert seen["frozen_after_first"] > 10_000  # modules, clients, models: the cold start's objects
    assert seen["frozen_after_second"] <= seen["frozen_after_first"]
    assert seen["warm_garbage_collected"] is True


def test_an_api_request_and_a_batchs_first_record_run_paused_but_the_rest_of_the_batch_and_a_scheduled_run_do_not():
    # Given a route, a queue handler and a scheduled job, each noting whether the collector runs each time it works
    code = (
        f"""
import gc, json, sys
sys.path.insert(0, {str(LAYER_DIR)!r})
from pydantic import BaseModel
from kyc_gateway import api, scheduled, sqs
"""
        + CONTEXT
        + """
class Empty(BaseModel):
    pass

seen = {}


def noting(name):
    def work(*arguments):
        seen.setdefault(name, []).append(gc.isenabled())
        if arguments and isinstance(arguments[0], dict) and arguments[0].get("body") == "fails":
            raise ValueError("a record that fails")
        return {}

    return work


route = api.http_route("test.route", Empty, noting("route"))
batch = sqs.sqs_batch_handler("test.batch", noting("batch"))
job = scheduled.scheduled_handler("test.job", noting("job"))
which = sys.argv[1]
if which == "route":
    route({"httpMethod": "POST", "body": "{}", "headers": {"content-type": "application/json"}}, Context("probe"))
elif which == "batch":
    batch({"Records": [{"messageId": "m", "body": "{}"} for _ in range(3)]}, Context("probe"))
elif which == "failing batch":
    batch({"Records": [{"messageId": "m1", "body": "fails"}, {"messageId": "m2", "body": "{}"}]}, Context("probe"))
elif which == "empty batch":
    batch({"Records": []}, Context("probe"))
    seen["after"] = [gc.isenabled()]
else:
    job({}, Context("probe"))
print(json.dumps(seen))
"""
    )
    # When each is a fresh instance's first invocation
    # Then the route's operation ran paused (its caller waits), and so did a batch's first record, failed or not (the
    # cold start's last part: its imports and clients); the batch's other records and the job (which can be long) ran
    # with the collector on, and a batch without records ends the pause too
    assert run(code, "route") == {"route": [False]}
    assert run(code, "batch") == {"batch": [False, True, True]}
    assert run(code, "failing batch") == {"batch": [False, True]}
    assert run(code, "empty batch") == {"after": [True]}
    assert run(code, "job") == {"job": [True]}


FIRST_REQUEST_RAISES = f"""
import gc, json, sys
sys.path.insert(0, {str(LAYER_DIR)!r})
from kyc_gateway import cold_start

@cold_start.resumes_after_first_request
def handler(event, context):
    raise RuntimeError("boom")

paused = not gc.isenabled()
try:
    handler({{}}, None)
except RuntimeError:
    pass
print(json.dumps({{"paused": paused, "collecting": gc.isenabled(), "frozen": gc.get_freeze_count() > 0}}))
"""


def test_a_first_request_that_raises_still_ends_the_pause():
    # Given a Lambda handler whose first invocation raises
    # When it is invoked, Then collection resumed after its failure, with the cold start's objects frozen
    assert run(FIRST_REQUEST_RAISES) == {"paused": True, "collecting": True, "frozen": True}


def test_outside_lambda_nothing_is_paused_nor_frozen():
    # Given a process that is not a Lambda instance (tests, tools, the local stack)
    outside = {name: value for name, value in LAMBDA.items() if name != "AWS_LAMBDA_RUNTIME_API"}

    # When it imports the layer and a handler fails its first request, Then the collector was never paused
    assert run(FIRST_REQUEST_RAISES, environment=outside) == {"paused": False, "collecting": True, "frozen": False}


def test_a_process_that_switched_collection_off_itself_keeps_it_off():
    # Given a Lambda process that disabled the collector before importing the layer
    code = f"""
import gc, json, sys
gc.disable()
sys.path.insert(0, {str(LAYER_DIR)!r})
from kyc_gateway import cold_start

@cold_start.resumes_after_first_request
def handler(event, context):
    return "ok"

handler({{}}, None)
print(json.dumps({{"collecting": gc.isenabled(), "frozen": gc.get_freeze_count()}}))
"""
    # When a first request has been answered, Then its choice stands: nothing resumed, nothing frozen
    assert run(code) == {"collecting": False, "frozen": 0}
