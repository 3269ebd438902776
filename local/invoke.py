"""`make invoke FUNCTION=<LogicalId> EVENT=events/<file>.json`: the in-process `sam local invoke`.

Runs against the emulated AWS and provider sandbox of a running `make run` stack when there is one, else
against a throwaway stack of its own. Function logs go to stderr and the handler's response to stdout, as
`sam local invoke` does.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from pathlib import Path

from local.functions import cold_start, invoke
from local.stack import LocalStack, StackConfig
from local.state import no_running_stack, running_stack
from project import template as cfn


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="make invoke",
        usage="make invoke FUNCTION=<LogicalId> EVENT=events/<file>.json",
        description=__doc__.splitlines()[0],
    )
    parser.add_argument("function", metavar="FUNCTION", help="logical id of the function in template.yaml")
    parser.add_argument("event", metavar="EVENT", type=Path, help="event JSON file, e.g. events/<LogicalId>.json")
    args = parser.parse_args(argv)
    functions = cfn.functions()
    if args.function not in functions:
        parser.error(f"unknown function {args.function}; one of: {', '.join(sorted(functions))}")
    try:
        event = json.loads(args.event.read_text())
    except OSError as error:
        parser.error(f"cannot read the event file {args.event}: {error.strerror}")
    except ValueError:
        parser.error(f"the event file {args.event} is not JSON")
    if not isinstance(event, dict):
        parser.error(f"the event file {args.event} must hold one JSON object (an event), not a {type(event).__name__}")

    state = running_stack()
    stack = None
    with contextlib.redirect_stdout(sys.stderr):
        if state:
            os.environ.update(
                state["environment"],
                AWS_ENDPOINT_URL=state["aws"],
                AWS_ACCESS_KEY_ID="local",
                AWS_SECRET_ACCESS_KEY="local",
                AWS_DEFAULT_REGION="us-east-1",
            )
            cold_start()
            print(f"using the running local stack ({state['api']})")
        else:
            print(
                f"no running local stack ({no_running_stack()}): starting a throwaway one on free "
                "ports for this invocation, gone when it ends (start `make run` to keep one)"
            )
            config = StackConfig.from_environment(dict(os.environ))
            config.api_port = config.aws_port = config.sandbox_port = 0
            stack = LocalStack(config).start()
        try:
            result = invoke(functions[args.function], event)
        finally:
            if stack:
                stack.stop()
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
